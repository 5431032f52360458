"""Platform administration: the job queue and inbound events, for operators (/admin/...)."""

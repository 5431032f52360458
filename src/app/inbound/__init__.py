"""Inbound webhooks: verify, store once, acknowledge; a worker job runs the event's handler."""

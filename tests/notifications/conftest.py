"""The local SMTP server fixture for every notifications test."""

from tests.notifications.smtp import smtp_server

__all__ = ["smtp_server"]

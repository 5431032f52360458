"""Inbound and outbound webhooks."""

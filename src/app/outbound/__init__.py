"""Outbound webhooks: org endpoints, domain events from the outbox, signed deliveries."""

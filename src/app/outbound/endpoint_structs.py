"""Request and response bodies of the webhook endpoint routes, and the rows their queries return.

No response struct but `WebhookEndpointSecretOut` has a `secret` field: the secret is shown
when an endpoint is created and when its secret is rotated, and never again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from app.outbound.event_types import ALL_EVENTS, EventType

__all__ = [
    "MAX_EVENT_TYPES",
    "DeliveryAttemptOut",
    "DeliveryState",
    "EndpointUpdateRow",
    "WebhookEndpointIn",
    "WebhookEndpointOut",
    "WebhookEndpointPatchIn",
    "WebhookEndpointSecretOut",
]

MAX_EVENT_TYPES = 50
DeliveryState = Literal["pending", "succeeded", "failed"]

# Syntax only here; `app.webhooks.ssrf.check_url_syntax` decides whether the URL is allowed.
EndpointUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2048,
        description="Where deliveries are POSTed: an http(s) URL on a public address.",
        examples=["https://example.com/hooks/app"],
    ),
]
# Checked against app.outbound.event_types by the service (it reports the offending index).
EventTypeName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="An event type such as `item.created`, or `*` for every event type.",
        examples=["item.created"],
        # Documentation only (the service reports an unknown name with its index).
        extra_json_schema={"enum": [ALL_EVENTS, *EventType]},
    ),
]
EventTypes = Annotated[
    list[EventTypeName],
    msgspec.Meta(
        min_length=1,
        max_length=MAX_EVENT_TYPES,
        description="1-50 distinct event types; `*` subscribes to all of them.",
        examples=[["item.created", "item.updated"]],
        extra_json_schema={"uniqueItems": True},  # documentation: the service refuses repeats
    ),
]
EndpointDescription = Annotated[
    str, msgspec.Meta(max_length=500, pattern=r"^[^\x00]*$(?!\n)", description="Up to 500 characters.")
]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


class WebhookEndpointIn(Input):
    url: EndpointUrl
    event_types: EventTypes
    description: EndpointDescription = ""
    enabled: bool = True


class WebhookEndpointPatchIn(Input):
    """Fields left out stay as they are. `enabled: true` also clears the failure state
    (`disabled_reason`, `failing_since`, `consecutive_failures`)."""

    url: EndpointUrl | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: EndpointDescription | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class WebhookEndpointOut(msgspec.Struct, kw_only=True):
    id: UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    # Why the endpoint is disabled: "disabled by a user", or the reason the deliveries gave up.
    disabled_reason: str | None
    # Since when deliveries have been failing without a success in between (None: healthy).
    failing_since: datetime | None
    consecutive_failures: int
    # The user who created it (None if an API key did, or the user is gone).
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    # After a rotation: until when deliveries are also signed with the replaced secret (None:
    # with the current secret only).
    previous_secret_expires_at: datetime | None


class WebhookEndpointSecretOut(WebhookEndpointOut, kw_only=True):
    """The endpoint with its signing secret: store it now, it cannot be shown again."""

    secret: str


class DeliveryAttemptOut(msgspec.Struct, kw_only=True):
    """One attempt to deliver one event to the endpoint, with its delivery's event and state."""

    id: UUID
    delivery_id: UUID
    event_type: str
    # The delivery's state now (an early failed attempt of a delivery that later succeeded
    # shows "succeeded").
    state: DeliveryState
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None


# ---- rows -----------------------------------------------------------------------------------------


class EndpointUpdateRow(WebhookEndpointOut, kw_only=True):
    """The endpoint after a change, and the values the change replaced (for the audit log)."""

    old_url: str
    old_event_types: list[str]
    old_description: str
    old_enabled: bool

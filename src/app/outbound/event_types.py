"""The domain events an org's webhook endpoints can subscribe to ('*' subscribes to all)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ALL_EVENTS", "EventType", "is_subscribable"]

ALL_EVENTS = "*"


class EventType(StrEnum):
    ITEM_CREATED = "item.created"
    ITEM_UPDATED = "item.updated"
    ITEM_DELETED = "item.deleted"
    MEMBER_ADDED = "member.added"
    MEMBER_REMOVED = "member.removed"
    POST_PUBLISHED = "post.published"


def is_subscribable(name: str) -> bool:
    return name == ALL_EVENTS or name in EventType._value2member_map_

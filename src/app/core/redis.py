"""The Redis client. Redis only makes the service faster: callers must cope with it being down."""

from __future__ import annotations

from redis.asyncio import Redis

from app.core.config import Settings

__all__ = ["create_redis"]


def create_redis(settings: Settings) -> Redis | None:
    """A client with short timeouts (a slow Redis must not slow requests), or None if unset."""
    if settings.redis_url is None:
        return None
    return Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )

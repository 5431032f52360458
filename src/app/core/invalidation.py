"""Cross-worker cache invalidation over Redis pub/sub, shared by the per-worker caches.

Each worker has one `InvalidationBus`. A cache registers a channel with two callbacks before
the bus starts: `on_message` applies one message (drop the entries it names), `on_resubscribe`
runs whenever the subscription is (re)established, because anything published while not
subscribed was missed (drop everything). The process that made a change calls `publish` after
its transaction commits; the bus's listener, on a Redis client of its own, hands every
message to the channel's callback (the publisher's own included, which is harmless).

Publishing is best effort: without Redis, or while it is down, each cache's entry lifetime bounds
how long other workers keep a stale answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis

from app.core.logging import get_logger

__all__ = ["InvalidationBus", "stop_tasks"]

logger = get_logger(__name__)

_STOP_TIMEOUT_SECONDS = 3.0


async def stop_tasks(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel background tasks and wait for them, for a few seconds at most."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    # Bounded: a Redis read may swallow one cancellation; the loops then see their stop flag.
    _, pending = await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_SECONDS)
    for task in pending:
        logger.warning("background task did not stop in time", extra={"task": task.get_name()})


class _Channel:
    __slots__ = ("on_message", "on_resubscribe")

    def __init__(self, on_message: Callable[[bytes], None], on_resubscribe: Callable[[], None]) -> None:
        self.on_message = on_message
        self.on_resubscribe = on_resubscribe


class InvalidationBus:
    """One per worker: publishes invalidations and runs the one subscription that applies them."""

    def __init__(self, *, redis: Redis | None, redis_url: str | None) -> None:
        self._redis = redis
        self._redis_url = redis_url
        self._channels: dict[str, _Channel] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Set while subscribed (tests wait on it); cleared when the connection is lost.
        self.listening = asyncio.Event()

    def register(
        self, channel: str, *, on_message: Callable[[bytes], None], on_resubscribe: Callable[[], None]
    ) -> None:
        """Route `channel`'s messages to `on_message`; call before `start`."""
        if self._task is not None:
            raise RuntimeError("register channels before the invalidation bus starts")
        self._channels[channel] = _Channel(on_message, on_resubscribe)

    async def publish(self, channel: str, payload: bytes) -> None:
        """Tell every worker; failures are logged, never raised (the cache lifetime bounds them)."""
        if self._redis is None:
            return
        try:
            await self._redis.publish(channel, payload)  # pyright: ignore[reportUnknownMemberType]
        except Exception as exc:  # noqa: BLE001 - the cache lifetime still bounds the delay
            logger.warning(
                "invalidation not broadcast; other workers drop the entry when it expires",
                extra={"channel": channel, "error": type(exc).__name__},
            )

    async def _listen(self) -> None:
        """Apply what other workers announce; reconnect with backoff when Redis fails."""
        assert self._redis_url is not None
        delay = 0.5
        while not self._stopping:
            # A client of its own without a read timeout: a subscription idles between messages.
            client: Any = Redis.from_url(self._redis_url, socket_connect_timeout=2, health_check_interval=15)  # pyright: ignore[reportUnknownMemberType]
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(*self._channels)
                    # Anything published while not subscribed was missed: start from clean caches.
                    for channel in self._channels.values():
                        channel.on_resubscribe()
                    self.listening.set()
                    delay = 0.5
                    while not self._stopping:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None and message.get("type") == "message":
                            self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening; the TTL bounds staleness meanwhile
                self.listening.clear()
                logger.warning("invalidation listener lost Redis", extra={"error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                await client.aclose()

    def _dispatch(self, channel: bytes | str, data: bytes) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        target = self._channels.get(name)
        if target is None:
            return
        try:
            target.on_message(data)
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the listener
            logger.warning(
                "ignoring a malformed invalidation message",
                extra={"channel": name, "error": type(exc).__name__},
            )

    def start(self) -> None:
        if self._redis_url is not None and self._channels and self._task is None:
            self._task = asyncio.create_task(self._listen(), name="cache-invalidation")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None

"""Who belongs to which org with which role, answered without a database round trip per request.

Each worker keeps what it read about (org, user) for `MEMBERSHIP_CACHE_SECONDS` (default 5):
the role, or "not a member" (which also covers a deleted org). Every change of a membership
(role change, removal, leaving, ownership transfer, accepted invitation, account deletion, org
deletion) drops the entries in the worker that made it right after its transaction commits, and
publishes them on the Redis channel `app:memberships:invalidate`; every worker's listener (the
shared `InvalidationBus`) drops them on receipt, and clears the whole cache whenever it
(re)subscribes. A removed member or demoted admin therefore loses access at once on the worker
that made the change, on the others as soon as the message arrives, and, if Redis is down or a
message is lost, within `MEMBERSHIP_CACHE_SECONDS`.

Decisions taken under the org's row lock (`OrgsService._lock_as`) re-read the role from the
database and never trust this cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import msgspec

from app.core.db import Database
from app.core.invalidation import InvalidationBus
from app.core.ttl_cache import TtlCache
from app.orgs import queries
from app.orgs.permissions import Role

__all__ = ["INVALIDATION_CHANNEL", "MembershipCache"]

INVALIDATION_CHANNEL = "app:memberships:invalidate"
_MAX_CACHE_ENTRIES = 100_000

Member = tuple[UUID, UUID]  # (org_id, user_id)


class _Invalidation(msgspec.Struct, frozen=True, omit_defaults=True):
    members: list[Member] = msgspec.field(default_factory=lambda: [])
    orgs: list[UUID] = msgspec.field(default_factory=lambda: [])


class MembershipCache:
    """One per worker process: (org_id, user_id) -> role, or None for "not a member"."""

    def __init__(self, *, db: Database, bus: InvalidationBus, cache_seconds: float) -> None:
        self._db = db
        self._bus = bus
        self._cache: TtlCache[Member, Role | None] = TtlCache(cache_seconds, _MAX_CACHE_ENTRIES)
        bus.register(INVALIDATION_CHANNEL, on_message=self._on_message, on_resubscribe=self._cache.clear)

    @property
    def cache_hits(self) -> int:
        return self._cache.hits

    @property
    def cache_misses(self) -> int:
        """How often a request needed the database (observability, tests)."""
        return self._cache.misses

    async def role(self, org_id: UUID, user_id: UUID) -> Role | None:
        """The user's role in the live org, or None if they are not a member (or it is gone)."""

        async def load() -> Role | None:
            async with self._db.connection() as conn:
                membership = await queries.get_membership(conn, org_id=org_id, user_id=user_id)
            return None if membership is None else membership.role

        return await self._cache.get_or_load((org_id, user_id), load)

    # ---- invalidation ---------------------------------------------------------------------

    def forget(self, members: Iterable[Member] = (), orgs: Iterable[UUID] = ()) -> None:
        self._cache.discard(members)
        org_ids = frozenset(orgs)
        if org_ids:
            self._cache.discard_where(lambda key: key[0] in org_ids)

    async def changed(self, members: Iterable[Member]) -> None:
        """Call after the transaction that changed these memberships commits: drop them here and
        tell the other workers."""
        members = list(members)
        if not members:
            return
        self.forget(members)
        await self._bus.publish(INVALIDATION_CHANNEL, msgspec.json.encode(_Invalidation(members=members)))

    async def org_deleted(self, org_id: UUID) -> None:
        """Call after an org's deletion commits: every membership of it ends, on every worker."""
        self.forget(orgs=[org_id])
        await self._bus.publish(INVALIDATION_CHANNEL, msgspec.json.encode(_Invalidation(orgs=[org_id])))

    def _on_message(self, data: bytes) -> None:
        message = msgspec.json.decode(data, type=_Invalidation)
        self.forget(message.members, message.orgs)

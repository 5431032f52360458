"""An in-process cache of "this login session is still active", per worker process.

Access tokens are verified in-process (no database round trip); the session behind a token is
re-checked against the database at most once per `SESSION_CACHE_SECONDS` per worker. Logout,
password change or account deletion therefore takes effect at once on the worker that handled
it and within that bound on every other worker.
"""

from __future__ import annotations

import time
from uuid import UUID

__all__ = ["SessionCache"]

# Expired entries are swept out every this many inserts: a session that is never asked about
# again (its client signed in anew) would otherwise stay until the cache is full. The soak saw
# the cache grow with every sign-in.
_SWEEP_EVERY = 1024


class SessionCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: dict[UUID, tuple[float, UUID]] = {}
        self._inserts_since_sweep = 0

    def __len__(self) -> int:
        return len(self._entries)

    def is_known_active(self, session_id: UUID, user_id: UUID) -> bool:
        """Whether `session_id` was found active, for `user_id`, within the cache period."""
        entry = self._entries.get(session_id)
        if entry is None or entry[1] != user_id:
            return False
        if entry[0] <= time.monotonic():
            del self._entries[session_id]
            return False
        return True

    def remember_active(self, session_id: UUID, user_id: UUID) -> None:
        if self._ttl <= 0:
            return
        now = time.monotonic()
        self._inserts_since_sweep += 1
        if self._inserts_since_sweep >= _SWEEP_EVERY or len(self._entries) >= self._max_entries:
            self._inserts_since_sweep = 0
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
        self._entries[session_id] = (now + self._ttl, user_id)

    def forget_session(self, session_id: UUID) -> None:
        self._entries.pop(session_id, None)

    def forget_user(self, user_id: UUID) -> None:
        self._entries = {k: v for k, v in self._entries.items() if v[1] != user_id}

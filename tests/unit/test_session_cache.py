"""The per-worker cache of "this login session is still active" (app.accounts.sessions)."""

from __future__ import annotations

import uuid

import pytest

from app.accounts import sessions
from app.accounts.sessions import SessionCache

TTL = 5.0


class Clock:
    """Stands in for the `time` module the cache reads `monotonic()` from."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(sessions, "time", fake)
    return fake


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def test_unknown_session_is_not_known_active(clock: Clock) -> None:
    assert SessionCache(TTL).is_known_active(uuid.uuid4(), uuid.uuid4()) is False


def test_remembered_session_is_known_until_the_ttl_ends(clock: Clock) -> None:
    cache = SessionCache(TTL)
    session, user = ids(2)
    cache.remember_active(session, user)
    assert cache.is_known_active(session, user)
    clock.advance(TTL - 0.01)
    assert cache.is_known_active(session, user)
    clock.advance(0.01)
    assert not cache.is_known_active(session, user)
    clock.advance(-1)  # an expired entry is gone, not merely hidden
    assert not cache.is_known_active(session, user)


def test_a_session_is_known_only_for_its_own_user(clock: Clock) -> None:
    """A token naming one user's session with another user's id is not vouched for."""
    cache = SessionCache(TTL)
    session, user, other = ids(3)
    cache.remember_active(session, user)
    assert cache.is_known_active(session, user)
    assert not cache.is_known_active(session, other)


def test_remembering_again_extends_the_ttl(clock: Clock) -> None:
    cache = SessionCache(TTL)
    session, user = ids(2)
    cache.remember_active(session, user)
    clock.advance(TTL - 1)
    cache.remember_active(session, user)
    clock.advance(TTL - 1)
    assert cache.is_known_active(session, user)


def test_zero_ttl_caches_nothing(clock: Clock) -> None:
    cache = SessionCache(0)
    session, user = ids(2)
    cache.remember_active(session, user)
    assert not cache.is_known_active(session, user)


def test_forget_session(clock: Clock) -> None:
    cache = SessionCache(TTL)
    kept, forgotten, user = ids(3)
    cache.remember_active(kept, user)
    cache.remember_active(forgotten, user)
    cache.forget_session(forgotten)
    cache.forget_session(uuid.uuid4())  # unknown: no error
    assert not cache.is_known_active(forgotten, user)
    assert cache.is_known_active(kept, user)


def test_forget_user_drops_all_of_that_users_sessions_only(clock: Clock) -> None:
    cache = SessionCache(TTL)
    user, other = ids(2)
    mine = ids(3)
    theirs = ids(2)
    for session in mine:
        cache.remember_active(session, user)
    for session in theirs:
        cache.remember_active(session, other)
    cache.forget_user(user)
    assert not any(cache.is_known_active(s, user) for s in mine)
    assert all(cache.is_known_active(s, other) for s in theirs)


def test_size_is_bounded(clock: Clock) -> None:
    cache = SessionCache(TTL, max_entries=10)
    user = uuid.uuid4()
    added = ids(95)
    for session in added:
        cache.remember_active(session, user)
    known = [s for s in added if cache.is_known_active(s, user)]
    assert 1 <= len(known) <= 10
    assert added[-1] in known  # the newest entry always goes in


def test_a_full_cache_evicts_expired_entries_before_live_ones(clock: Clock) -> None:
    cache = SessionCache(TTL, max_entries=3)
    old, live1, live2, new, user = ids(5)
    cache.remember_active(old, user)
    clock.advance(TTL / 2)
    cache.remember_active(live1, user)
    cache.remember_active(live2, user)
    clock.advance(TTL / 2 + 0.1)  # `old` has expired, the other two have not
    cache.remember_active(new, user)
    assert [cache.is_known_active(s, user) for s in (old, live1, live2, new)] == [False, True, True, True]


def test_expired_sessions_never_asked_about_again_are_swept_out(clock: Clock) -> None:
    cache = SessionCache(TTL)
    user = uuid.uuid4()
    for session in ids(1_500):  # clients that signed in once and never came back
        cache.remember_active(session, user)
    clock.advance(TTL * 2)
    live = ids(600)
    for session in live:
        cache.remember_active(session, user)
    # The sweep (every 1,024 inserts) dropped the expired ones; the live ones are all there.
    assert len(cache) < 1_024
    assert all(cache.is_known_active(session, user) for session in live)

"""Entity tags for versioned resources: ``ETag`` on reads, ``If-None-Match`` and ``If-Match``.

A resource with an integer `version` (bumped by every change) has the strong ETag ``"v<n>"``.
``If-None-Match`` uses the weak comparison (``W/"v3"`` matches ``"v3"``) and ``If-Match`` the
strong one (a weak tag never matches), as RFC 9110 section 13.1 says. A tag this service did not
issue simply matches nothing.
"""

from __future__ import annotations

import re

__all__ = ["IfMatch", "etag", "if_none_match_hits", "parse_if_match"]

_TAG = re.compile(r'\s*(W/)?"v([1-9][0-9]{0,9})"\s*')


def etag(version: int) -> str:
    return f'"v{version}"'


def _tags(header: str) -> list[tuple[bool, int]]:
    """(weak, version) for each of our tags in a comma-separated list; others are skipped."""
    found: list[tuple[bool, int]] = []
    for part in header.split(","):
        match = _TAG.fullmatch(part)
        if match is not None:
            found.append((match.group(1) is not None, int(match.group(2))))
    return found


def if_none_match_hits(header: str | None, version: int) -> bool:
    """True if a conditional GET may answer 304 Not Modified."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(tag_version == version for _, tag_version in _tags(header))


class IfMatch:
    """A parsed ``If-Match``: `*`, or the set of versions the client will accept."""

    __slots__ = ("any", "versions")

    def __init__(self, *, any_version: bool, versions: frozenset[int]) -> None:
        self.any = any_version
        self.versions = versions

    def allows(self, version: int) -> bool:
        return self.any or version in self.versions


def parse_if_match(header: str | None) -> IfMatch | None:
    """None when the header is absent (an unconditional write)."""
    if header is None:
        return None
    if header.strip() == "*":
        return IfMatch(any_version=True, versions=frozenset())
    strong = frozenset(version for weak, version in _tags(header) if not weak)
    return IfMatch(any_version=False, versions=strong)

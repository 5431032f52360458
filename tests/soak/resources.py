"""What the soak watches besides answers: each server process's memory and the database's connections.

Sampled once a second while the load runs. Memory is the resident set (RSS) read from /proc; the
connection count is pg_stat_activity's rows for the soak's database, the sampler's own excluded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int | None:
    """The resident set of `pid`, or None once it has exited."""
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return resident_pages * PAGE_BYTES


def children_of(pid: int) -> list[int]:
    """Direct child processes of `pid` (granian's workers are children of its main process)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


async def connection_count(conn: asyncpg.Connection[Any], database: str) -> int:
    """Connections to `database` now, the asking one excluded."""
    return await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database
    )


@dataclass
class Trace:
    """(seconds since the start, value) pairs."""

    points: list[tuple[float, float]] = field(default_factory=lambda: [])

    def after(self, seconds: float) -> list[float]:
        return [value for at, value in self.points if at >= seconds]

    def outline(self, points: int = 12) -> list[float]:
        """About `points` values spread evenly over the trace, rounded: a report's view of it."""
        step = max(1, len(self.points) // points)
        return [round(value, 1) for _, value in self.points[::step]]

    def drift(self, from_seconds: float) -> float:
        """Median of the last third minus median of the first third of the points after `from_seconds`:
        how much the value moved over the measured part, insensitive to single spikes."""
        values = self.after(from_seconds)
        if len(values) < 3:
            raise AssertionError(f"too few samples after {from_seconds} s to judge a trend: {values}")
        third = len(values) // 3
        return statistics.median(values[-third:]) - statistics.median(values[:third])


@dataclass
class Watch:
    """Samples `processes` (name -> pid) and the connections to `database` once a second."""

    processes: dict[str, int]
    admin_url: str
    database: str
    memory: dict[str, Trace] = field(default_factory=lambda: {})
    connections: Trace = field(default_factory=Trace)

    async def run(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(self.admin_url)
        began = time.monotonic()
        try:
            while not stop.is_set():
                at = time.monotonic() - began
                for name, pid in self.processes.items():
                    if (rss := rss_bytes(pid)) is not None:
                        self.memory.setdefault(name, Trace()).points.append((at, rss / MIB))
                count = await connection_count(conn, self.database)
                self.connections.points.append((at, float(count)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
        finally:
            await conn.close()

"""An open-loop load driver: requests start on a fixed schedule whatever the server's pace.

A closed loop (each client waits for its answer before sending the next) slows down with the
server and hides stalls (coordinated omission). Here request n is due at `start + n / rate`, and
its latency runs from that due time, so time spent queued behind a stall counts.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tests.soak.http import TRANSPORT_ERRORS, Answer

Operation = Callable[[], Awaitable[Answer]]


@dataclass(frozen=True)
class Sample:
    operation: str
    due: float  # seconds since the run began
    latency: float  # seconds from the due time to the full answer
    status: int | None  # None: no HTTP answer (a transport error or a client timeout)
    error: str = ""


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (not interpolated: a reported p99 was really seen)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


async def _timed(name: str, operation: Operation, due: float, began: float) -> Sample:
    try:
        response = await operation()
    except TRANSPORT_ERRORS as exc:
        return Sample(name, due - began, time.monotonic() - due, None, f"{type(exc).__name__}: {exc}")
    return Sample(name, due - began, time.monotonic() - due, response.status_code)


async def drive(rate: float, seconds: float, choose: Callable[[int], tuple[str, Operation]]) -> list[Sample]:
    """Starts `rate * seconds` requests, request n at `n / rate` s; `choose(n)` names and makes it."""
    began = time.monotonic()
    running: list[asyncio.Task[Sample]] = []
    for n in range(round(rate * seconds)):
        due = began + n / rate
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        name, operation = choose(n)
        running.append(asyncio.create_task(_timed(name, operation, due, began)))
    return list(await asyncio.gather(*running))


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def summarize(samples: Sequence[Sample]) -> LatencySummary:
    latencies = [s.latency * 1000 for s in samples]
    return LatencySummary(
        len(latencies),
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        max(latencies, default=math.nan),
    )


def status_counts(samples: Sequence[Sample]) -> Counter[tuple[str, int | None]]:
    return Counter((s.operation, s.status) for s in samples)

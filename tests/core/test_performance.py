"""@monitor_performance: a duration per call in app_operation_duration_seconds, a span with tracing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import sentry_sdk
from prometheus_client import REGISTRY

from app.core.config import Settings
from app.core.monitoring import ErrorMonitoring, measure, monitor_performance
from tests.core.test_monitoring import DSN, MemoryTransport, transport

__all__ = ["transport"]  # the fixture, shared with test_monitoring


def calls(operation: str) -> float:
    return REGISTRY.get_sample_value("app_operation_duration_seconds_count", {"operation": operation}) or 0.0


def total_seconds(operation: str) -> float:
    return REGISTRY.get_sample_value("app_operation_duration_seconds_sum", {"operation": operation}) or 0.0


@monitor_performance("test.async_op")
async def async_op(delay: float, *, fail: bool = False) -> str:
    await asyncio.sleep(delay)
    if fail:
        raise ValueError("failed on purpose")
    return "done"


@monitor_performance("test.sync_op")
def sync_op(value: int) -> int:
    return value * 2


async def test_async_calls_are_timed_failures_included() -> None:
    before, seconds = calls("test.async_op"), total_seconds("test.async_op")

    assert await async_op(0.02) == "done"
    with pytest.raises(ValueError, match="on purpose"):
        await async_op(0, fail=True)

    assert calls("test.async_op") == before + 2
    assert total_seconds("test.async_op") - seconds >= 0.02
    assert async_op.__name__ == "async_op"  # wraps keeps the identity


def test_sync_calls_are_timed() -> None:
    before = calls("test.sync_op")

    assert sync_op(21) == 42

    assert calls("test.sync_op") == before + 1


def test_measure_times_a_block() -> None:
    before = calls("test.block")

    with measure("test.block"):
        pass

    assert calls("test.block") == before + 1


async def test_with_tracing_each_call_is_a_span(
    make_settings: Callable[..., Settings], transport: MemoryTransport
) -> None:
    ErrorMonitoring.init_sentry(
        make_settings(sentry_dsn=DSN, sentry_traces_sample_rate=1.0), transport=transport
    )
    assert ErrorMonitoring.tracing

    with sentry_sdk.start_transaction(op="test", name="outer"):
        await async_op(0)
        sync_op(1)
    sentry_sdk.flush()

    transactions = [
        item.payload.json
        for envelope in transport.envelopes
        for item in envelope.items
        if item.type == "transaction" and item.payload.json is not None
    ]
    assert len(transactions) == 1
    spans = {(span["op"], span.get("description")) for span in transactions[0]["spans"]}
    assert {("function", "test.async_op"), ("function", "test.sync_op")} <= spans

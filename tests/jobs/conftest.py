"""Fixtures for the job queue: the service's Database on the test database, unique job kinds."""

from __future__ import annotations

import secrets

from app.jobs.kinds import JobSpec


def unique_kind(**policy: float) -> JobSpec:
    """A job kind of its own for one test: workers of other tests never claim its jobs."""
    return JobSpec(f"test.k{secrets.token_hex(6)}", **policy)  # pyright: ignore[reportArgumentType]

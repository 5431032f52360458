"""Fixtures of the admin tests."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import User, signed_in_user


@pytest.fixture
async def operator(client: AsyncTestClient[Litestar], db: asyncpg.Pool[Any]) -> User:
    """A signed-in platform admin."""
    user = await signed_in_user(client)
    await db.execute(
        "INSERT INTO platform_admins (user_id, granted_by) VALUES ($1, 'test')", uuid.UUID(user.id)
    )
    return user

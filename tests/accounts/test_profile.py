"""GET/PATCH /users/me and GET /users/{id}: the owner's profile, partial updates (absent keeps,
null clears), validation, and a public view of others that never shows their email."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from tests.factories import (
    OWNER_FIELDS,
    PUBLIC_FIELDS,
    Client,
    User,
    expect_data,
    expect_problem,
    set_active,
    signed_in_user,
)

FULL_PROFILE = {
    "display_name": "Ada Lovelace",
    "bio": "Wrote the first program.",
    "avatar_url": "https://example.com/ada.png",
    "locale": "en-GB",
}


async def _patch(client: Client, user: User, body: Any) -> httpx.Response:
    return await client.patch("/users/me", json=body, headers=user.headers)


async def _me(client: Client, user: User) -> dict[str, Any]:
    return expect_data(await client.get("/users/me", headers=user.headers))


async def test_get_me_returns_the_owner_profile(client: Client) -> None:
    user = await signed_in_user(client, display_name="Ada")

    me = await _me(client, user)

    assert set(me) == OWNER_FIELDS
    assert me["id"] == user.id
    assert me["email"] == user.email
    assert me["username"] == user.username
    assert me["display_name"] == "Ada"
    assert me["email_verified"] is False


async def test_patch_sets_every_profile_field(client: Client) -> None:
    user = await signed_in_user(client)

    data = expect_data(await _patch(client, user, FULL_PROFILE))

    assert {key: data[key] for key in FULL_PROFILE} == FULL_PROFILE
    assert {key: (await _me(client, user))[key] for key in FULL_PROFILE} == FULL_PROFILE


async def test_patch_leaves_absent_fields_unchanged(client: Client) -> None:
    user = await signed_in_user(client)
    expect_data(await _patch(client, user, FULL_PROFILE))

    data = expect_data(await _patch(client, user, {"bio": "Changed."}))

    assert data["bio"] == "Changed."
    assert data["display_name"] == FULL_PROFILE["display_name"]
    assert data["avatar_url"] == FULL_PROFILE["avatar_url"]
    assert data["locale"] == FULL_PROFILE["locale"]


async def test_patch_with_null_clears_optional_fields(client: Client) -> None:
    user = await signed_in_user(client)
    expect_data(await _patch(client, user, FULL_PROFILE))

    data = expect_data(await _patch(client, user, {"display_name": None, "bio": None, "avatar_url": None}))

    assert (data["display_name"], data["bio"], data["avatar_url"]) == (None, None, None)
    assert data["locale"] == FULL_PROFILE["locale"]


async def test_patch_with_an_empty_body_changes_nothing(client: Client) -> None:
    user = await signed_in_user(client)
    before = await _me(client, user)

    data = expect_data(await _patch(client, user, {}))

    assert data == before


async def test_patch_moves_updated_at_forward(client: Client) -> None:
    user = await signed_in_user(client)
    before = await _me(client, user)

    data = expect_data(await _patch(client, user, {"bio": "New."}))

    assert datetime.fromisoformat(data["updated_at"]) > datetime.fromisoformat(before["updated_at"])
    assert data["created_at"] == before["created_at"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_name", ""),
        ("display_name", "x" * 101),
        ("display_name", "a\x00b"),
        ("display_name", 42),
        ("bio", "x" * 1001),
        ("bio", "nul\x00bio"),
        ("avatar_url", "http://example.com/a.png"),
        ("avatar_url", "https://example.com/a b.png"),
        ("avatar_url", "https://" + "x" * 2041),  # 2049 characters
        ("avatar_url", "javascript:alert(1)"),
        ("locale", None),
        ("locale", "not a locale"),
        ("locale", "x" * 36),
    ],
    ids=lambda v: repr(v)[:24],
)
async def test_patch_rejects_an_invalid_value_with_its_path(
    client: Client, field: str, value: object
) -> None:
    user = await signed_in_user(client)

    response = await _patch(client, user, {field: value})

    expect_problem(response, 422, "VALIDATION_ERROR", path=f"$.{field}")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "new@example.com"},
        {"username": "new_name"},
        {"password": "a new passphrase"},
        {"email_verified": True},
        {"is_active": True},
        {"id": "01900000-0000-7000-8000-000000000000"},
    ],
    ids=lambda b: next(iter(b)),
)
async def test_patch_cannot_touch_fields_outside_the_profile(
    client: Client, user_for_patch: User, body: dict[str, Any]
) -> None:
    before = await _me(client, user_for_patch)

    response = await _patch(client, user_for_patch, body)

    problem = expect_problem(response, 422, "VALIDATION_ERROR", path="$")
    assert f"`{next(iter(body))}`" in problem["errors"][0]["message"]
    assert await _me(client, user_for_patch) == before


@pytest.fixture(scope="module")
async def user_for_patch(client: Client) -> User:
    return await signed_in_user(client)


async def test_patch_rejects_locale_with_trailing_newline(client: Client) -> None:
    user = await signed_in_user(client)

    response = await _patch(client, user, {"locale": "en\n"})

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.locale")


# ---- public profiles ------------------------------------------------------------------------


async def test_get_user_shows_only_public_fields(client: Client) -> None:
    viewer = await signed_in_user(client)
    target = await signed_in_user(client)
    expect_data(await _patch(client, target, FULL_PROFILE))

    response = await client.get(f"/users/{target.id}", headers=viewer.headers)

    data = expect_data(response)
    assert set(data) == PUBLIC_FIELDS
    assert data["id"] == target.id
    assert data["username"] == target.username
    assert data["display_name"] == FULL_PROFILE["display_name"]
    assert data["bio"] == FULL_PROFILE["bio"]
    assert data["avatar_url"] == FULL_PROFILE["avatar_url"]
    assert target.email not in response.text


async def test_get_user_of_oneself_is_the_public_view_too(client: Client) -> None:
    user = await signed_in_user(client)

    response = await client.get(f"/users/{user.id}", headers=user.headers)

    assert set(expect_data(response)) == PUBLIC_FIELDS
    assert user.email not in response.text


async def test_get_user_of_an_unknown_id_is_404(client: Client, user_for_patch: User) -> None:
    response = await client.get("/users/01900000-0000-7000-8000-000000000000", headers=user_for_patch.headers)

    expect_problem(response, 404, "NOT_FOUND")


async def test_get_user_with_a_malformed_id_is_404(client: Client, user_for_patch: User) -> None:
    expect_problem(await client.get("/users/not-a-uuid", headers=user_for_patch.headers), 404, "NOT_FOUND")


async def test_get_user_of_a_disabled_account_is_404(
    client: Client, db: asyncpg.Pool[Any], user_for_patch: User
) -> None:
    target = await signed_in_user(client)
    await set_active(db, target.id, False)

    response = await client.get(f"/users/{target.id}", headers=user_for_patch.headers)

    expect_problem(response, 404, "NOT_FOUND")

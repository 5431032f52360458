"""Which `Content-Type` values count as JSON for request bodies."""

from __future__ import annotations

import pytest

from app.core.content_type import is_json_media_type


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "application/json; charset=utf-8",
        " APPLICATION/JSON ",
        "application/merge-patch+json",
        "application/problem+json",
    ],
)
def test_json_media_types(value: str) -> None:
    assert is_json_media_type(value)


@pytest.mark.parametrize(
    "value",
    ["", "text/plain", "text/json", "application/jsonx", "application/x-www-form-urlencoded", "+json"],
)
def test_other_media_types(value: str) -> None:
    assert not is_json_media_type(value)

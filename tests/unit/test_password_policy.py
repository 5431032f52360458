"""The password rules the request Struct cannot express (app.accounts.service)."""

from __future__ import annotations

import pytest

from app.accounts.service import check_password_policy
from app.core.exceptions import ValidationError
from app.core.responses import ErrorCode

EMAIL = "Ada.Lovelace@Example.com"
USERNAME = "ada_L"


def check(password: str, path: str = "$.password") -> None:
    check_password_policy(password, email=EMAIL, username=USERNAME, path=path)


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "ada_L-but-longer", "Ada.Lovelace@Example.com!", "Straße-lang-genug"],
)
def test_acceptable_passwords_pass(password: str) -> None:
    check(password)


@pytest.mark.parametrize("password", ["", " ", "\t\n  ", "\u3000\u2003"])
def test_blank_password_is_rejected_on_its_field(password: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check(password, path="$.new_password")
    assert caught.value.status_code == 422
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert [d.path for d in caught.value.details] == ["$.new_password"]


@pytest.mark.parametrize(
    "password",
    [
        pytest.param(EMAIL, id="email"),
        pytest.param(EMAIL.upper(), id="email-upper-case"),
        pytest.param(f"  {EMAIL.lower()}  ", id="email-padded"),
        pytest.param(USERNAME, id="username"),
        pytest.param("ADA_l", id="username-other-case"),
        pytest.param("ada.lovelace", id="email-local-part"),
    ],
)
def test_password_equal_to_email_or_username_is_weak(password: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check(password)
    error = caught.value
    assert error.status_code == 422
    assert error.code is ErrorCode.WEAK_PASSWORD
    assert [d.path for d in error.details] == ["$.password"]
    assert password.strip() not in error.message  # the error never echoes the password


def test_case_folding_is_unicode_aware() -> None:
    with pytest.raises(ValidationError):
        check_password_policy("STRASSE", email="strasse@example.com", username="x_user", path="$.password")
    with pytest.raises(ValidationError):
        check_password_policy("straße", email="someone@example.com", username="STRASSE", path="$.password")

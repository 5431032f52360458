"""Constrained string types shared by request Structs.

PostgreSQL text cannot hold NUL characters, so free text refuses them at the edge (422)
instead of failing in the database.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = [
    "AnyPassword",
    "Bio",
    "DisplayName",
    "Email",
    "HttpsUrl",
    "Locale",
    "LoginName",
    "OpaqueToken",
    "Password",
    "Username",
]

# Python's `$` also matches before a final newline; `(?!\n)` closes that gap and still reads
# as a plain ECMAScript pattern in the OpenAPI schema.
_END = r"$(?!\n)"
_NO_NUL = r"^[^\x00]*" + _END

Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=254,
        # \x1c-\x1f and \x85 are whitespace to Python's `\s` but not to ECMAScript's: listed, so
        # the documented pattern means the same to clients as it does here.
        pattern=r"^[^@\s\x00\x1c-\x1f\x85]+@[^@\s\x00\x1c-\x1f\x85]+\.[^@\s\x00\x1c-\x1f\x85]+" + _END,
        description="An email address.",
        examples=["ada@example.com"],
    ),
]
Username = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_]{3,32}" + _END,
        description="3-32 letters, digits or underscores; unique regardless of case.",
        examples=["ada_l"],
    ),
]
Password = Annotated[
    str,
    msgspec.Meta(min_length=10, max_length=128, pattern=_NO_NUL, description="10-128 characters."),
]
Locale = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}" + _END,
        max_length=35,
        description="A BCP 47 language tag.",
        examples=["en", "pt-BR"],
    ),
]
HttpsUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^https://[^\s\x00]+" + _END,
        max_length=2048,
        description="An https:// URL.",
        examples=["https://example.com/me.png"],
    ),
]

DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=_NO_NUL)]
Bio = Annotated[str, msgspec.Meta(max_length=1000, pattern=_NO_NUL)]
OpaqueToken = Annotated[
    str, msgspec.Meta(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9._~+/=-]+" + _END)
]
LoginName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=254,
        pattern=_NO_NUL,
        description="Email or username.",
        examples=["ada@example.com"],
    ),
]
# Login accepts any stored password, even one set before today's policy.
AnyPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=_NO_NUL)]

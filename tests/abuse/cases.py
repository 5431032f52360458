"""The write routes of the API, with a valid body each and the string fields ("slots") in it.

A slot is a path into the body (``("items", 0, "name")``); `with_value` puts a hostile value
there. `kind` says what a slot accepts: free ``text`` (any characters but NUL: stored and
returned verbatim), or a ``strict`` format (an email, a slug, an enum, an id, a token, a URL)
that refuses most hostile values with 422, or a ``secret`` compared but never stored (a
password, a code, a token) whose wrong value is refused as wrong.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.abuse.conftest import ACME_SECRET, Tenant
from tests.factories import DEFAULT_PASSWORD, unique

Auth = Literal["user", "key", "none"]
Kind = Literal["text", "strict", "secret"]
Slot = tuple[str | int, ...]


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    template: str
    body: Callable[[], dict[str, Any]]
    auth: Auth = "user"
    slots: dict[Slot, Kind] = field(default_factory=lambda: {})

    def url(self, tenant: Tenant) -> str:
        return tenant.url(self.template)

    def headers(self, tenant: Tenant) -> dict[str, str]:
        if self.auth == "user":
            return dict(tenant.headers)
        if self.auth == "key":
            return dict(tenant.key_headers)
        return {}


def with_value(body: dict[str, Any], slot: Slot, value: Any) -> dict[str, Any]:
    """A copy of `body` with `value` at `slot` (a dict key as the last step adds the key)."""
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in slot[:-1]:
        target = target[step]
    target[slot[-1]] = value
    return changed


def _account() -> dict[str, Any]:
    name = unique("ab")
    return {
        "email": f"{name}@example.com",
        "username": name,
        "password": DEFAULT_PASSWORD,
        "display_name": "Abuse",
        "locale": "en",
    }


def _item() -> dict[str, Any]:
    return {
        "name": "Hostile item",
        "description": "d",
        "price": 5,
        "currency": "EUR",
        "tags": ["t"],
        "status": "draft",
        "metadata": {"k": "v"},
    }


TEXT: Kind = "text"
STRICT: Kind = "strict"
SECRET: Kind = "secret"
TOKEN = "t" * 43

ROUTES: tuple[Route, ...] = (
    Route(
        "register",
        "POST",
        "/auth/register",
        _account,
        "none",
        {
            ("email",): STRICT,
            ("username",): STRICT,
            ("password",): SECRET,
            ("display_name",): TEXT,
            ("locale",): STRICT,
        },
    ),
    Route(
        "login",
        "POST",
        "/auth/login",
        lambda: {"login": "nobody@example.com", "password": "not-the-password"},
        "none",
        {("login",): SECRET, ("password",): SECRET},
    ),
    Route(
        "refresh",
        "POST",
        "/auth/refresh",
        lambda: {"refresh_token": TOKEN},
        "none",
        {("refresh_token",): STRICT},
    ),
    Route(
        "verify-email", "POST", "/auth/verify-email", lambda: {"token": TOKEN}, "none", {("token",): STRICT}
    ),
    Route(
        "reset-request",
        "POST",
        "/auth/password-reset/request",
        lambda: {"email": "nobody@example.com"},
        "none",
        {("email",): STRICT},
    ),
    Route(
        "reset-confirm",
        "POST",
        "/auth/password-reset/confirm",
        lambda: {"token": TOKEN, "new_password": "another long password"},
        "none",
        {("token",): STRICT, ("new_password",): SECRET},
    ),
    Route(
        "password-change",
        "POST",
        "/auth/password/change",
        lambda: {"current_password": "not-the-password", "new_password": "another long password"},
        "user",
        {("current_password",): SECRET, ("new_password",): SECRET},
    ),
    Route(
        "mfa-enable",
        "POST",
        "/auth/mfa/enable",
        lambda: {"password": "not-the-password"},
        "user",
        {("password",): SECRET},
    ),
    Route(
        "mfa-confirm", "POST", "/auth/mfa/confirm", lambda: {"code": "123456"}, "user", {("code",): SECRET}
    ),
    Route(
        "mfa-challenge",
        "POST",
        "/auth/mfa/challenge",
        lambda: {"challenge_token": TOKEN, "code": "123456"},
        "none",
        {("challenge_token",): STRICT, ("code",): SECRET},
    ),
    Route(
        "mfa-disable",
        "POST",
        "/auth/mfa/disable",
        lambda: {"password": "not-the-password", "code": "123456"},
        "user",
        {("password",): SECRET, ("code",): SECRET},
    ),
    Route(
        "profile",
        "PATCH",
        "/users/me",
        lambda: {
            "display_name": "Abuse",
            "bio": "b",
            "avatar_url": "https://example.com/a.png",
            "locale": "en",
        },
        "user",
        {("display_name",): TEXT, ("bio",): TEXT, ("avatar_url",): STRICT, ("locale",): STRICT},
    ),
    Route(
        "org-create",
        "POST",
        "/orgs",
        lambda: {"name": "Org", "slug": unique("ab-")},
        "user",
        {("name",): TEXT, ("slug",): STRICT},
    ),
    Route(
        "org-patch",
        "PATCH",
        "/orgs/{org}",
        lambda: {"name": "Abuse Org"},
        "user",
        {("name",): TEXT, ("slug",): STRICT},
    ),
    Route(
        "transfer",
        "POST",
        "/orgs/{org}/transfer-ownership",
        lambda: {"user_id": "not-a-uuid"},
        "user",
        {("user_id",): STRICT},
    ),
    Route(
        "member-role",
        "PATCH",
        "/orgs/{org}/members/{member}",
        lambda: {"role": "member"},
        "user",
        {("role",): STRICT},
    ),
    Route(
        "invite",
        "POST",
        "/orgs/{org}/invitations",
        lambda: {"email": f"{unique('inv')}@example.com", "role": "viewer"},
        "user",
        {("email",): STRICT, ("role",): STRICT},
    ),
    Route("accept", "POST", "/invitations/accept", lambda: {"token": TOKEN}, "user", {("token",): STRICT}),
    Route(
        "key-create",
        "POST",
        "/orgs/{org}/api-keys",
        lambda: {"name": "k", "role": "viewer", "expires_at": "2999-01-01T00:00:00Z"},
        "user",
        {("name",): TEXT, ("role",): STRICT, ("expires_at",): STRICT},
    ),
    Route(
        "item-create",
        "POST",
        "/orgs/{org}/items",
        _item,
        "key",
        {
            ("name",): TEXT,
            ("description",): TEXT,
            ("currency",): STRICT,
            ("tags", 0): STRICT,
            ("status",): STRICT,
            ("metadata", "k"): TEXT,
            ("metadata", "k2"): TEXT,
        },
    ),
    Route(
        "item-batch",
        "POST",
        "/orgs/{org}/items:batch",
        lambda: {"items": [_item(), _item()]},
        "key",
        {
            ("items", 1, "name"): TEXT,
            ("items", 1, "description"): TEXT,
            ("items", 1, "currency"): STRICT,
            ("items", 1, "tags", 0): STRICT,
            ("items", 1, "status"): STRICT,
            ("items", 1, "metadata", "k"): TEXT,
        },
    ),
    Route(
        "item-patch",
        "PATCH",
        "/orgs/{org}/items/{item}",
        lambda: {"description": "patched"},
        "user",
        {
            ("name",): TEXT,
            ("description",): TEXT,
            ("tags",): STRICT,
            ("status",): STRICT,
            ("metadata",): TEXT,
        },
    ),
    Route(
        "post-create",
        "POST",
        "/orgs/{org}/posts",
        lambda: {"title": "Hostile post", "body": "b"},
        "user",
        {("title",): TEXT, ("body",): TEXT},
    ),
    Route(
        "post-patch",
        "PATCH",
        "/orgs/{org}/posts/{post}",
        lambda: {"body": "patched"},
        "user",
        {("title",): TEXT, ("body",): TEXT},
    ),
    Route(
        "comment-create",
        "POST",
        "/orgs/{org}/posts/{post}/comments",
        lambda: {"body": "c"},
        "user",
        {("body",): TEXT},
    ),
    Route(
        "comment-patch",
        "PATCH",
        "/orgs/{org}/posts/{post}/comments/{comment}",
        lambda: {"body": "c2"},
        "user",
        {("body",): TEXT},
    ),
    Route(
        "endpoint-create",
        "POST",
        "/orgs/{org}/webhook-endpoints",
        lambda: {"url": "https://example.com/hooks/new", "event_types": ["item.created"], "description": "d"},
        "user",
        {("url",): STRICT, ("event_types", 0): STRICT, ("description",): TEXT},
    ),
    Route(
        "endpoint-patch",
        "PATCH",
        "/orgs/{org}/webhook-endpoints/{endpoint}",
        lambda: {"description": "patched"},
        "user",
        {("url",): STRICT, ("event_types",): STRICT, ("description",): TEXT},
    ),
)
BY_NAME = {route.name: route for route in ROUTES}

# Free-text slots with a patch-shaped value: item-patch's metadata and tags take a whole value.
WHOLE_VALUE_SLOTS: dict[tuple[str, Slot], Callable[[str], Any]] = {
    ("item-patch", ("metadata",)): lambda text: {"k": text},
    ("item-patch", ("tags",)): lambda text: [text],
    ("endpoint-patch", ("event_types",)): lambda text: [text],
}


def slot_value(route: Route, slot: Slot, text: str) -> Any:
    """What to put at `slot` to send `text` there (wrapped for slots that take a list or object)."""
    wrap = WHOLE_VALUE_SLOTS.get((route.name, slot))
    return text if wrap is None else wrap(text)


def slot_cases(kinds: tuple[Kind, ...] = (TEXT, STRICT, SECRET)) -> list[tuple[Route, Slot]]:
    return [(route, slot) for route in ROUTES for slot, kind in route.slots.items() if kind in kinds]


def slot_id(case: tuple[Route, Slot]) -> str:
    route, slot = case
    return f"{route.name}:{'.'.join(str(step) for step in slot)}"


def acme_signature(body: bytes) -> str:
    t = int(time.time())
    digest = hmac.new(ACME_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def acme_event(**fields: Any) -> bytes:
    return json.dumps({"id": f"evt_{unique()}", "type": "invoice.paid", **fields}).encode()


# Every cursor-paginated list, as templates ({org}, {post}, {endpoint} filled in by the tests).
PAGINATED_LISTS = [
    "/orgs",
    "/auth/sessions",
    "/orgs/{org}/members",
    "/orgs/{org}/invitations",
    "/orgs/{org}/api-keys",
    "/orgs/{org}/audit",
    "/orgs/{org}/items",
    "/orgs/{org}/posts",
    "/orgs/{org}/posts/{post}/comments",
    "/orgs/{org}/webhook-endpoints",
    "/orgs/{org}/webhook-endpoints/{endpoint}/deliveries",
]

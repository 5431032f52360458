"""The soak's traffic: a few tenants built through the API, and a weighted mix of reads and writes.

Every write is written down (the `Ledger`), so that afterwards the database can be held to exactly
what the answers promised. The mix avoids races that would make a correct answer look wrong: the
items read with `If-None-Match` are never changed, the items patched are never deleted, and an
item is deleted at most once, only after its create was answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.factories import DEFAULT_PASSWORD, unique
from tests.soak.http import Answer, Http

INBOUND_SOURCE = "soak"
INBOUND_SECRET = "soak-inbound-secret-0123456789"
SEEDED_ITEMS = 120  # per tenant: enough for several pages at the default limit
MUTABLE_ITEMS = 20  # of those, the ones PATCH may change; the rest are only read
POSTS = 4


def expect(response: Answer, status: int) -> Any:
    assert response.status_code == status, f"{response.method} {response.url}: {response.text}"
    return response.json()["data"] if response.content else None


@dataclass
class Ledger:
    """What the answers said happened: the database must agree afterwards."""

    created: dict[str, str] = field(default_factory=lambda: {})  # item name -> id, from 201s
    deleted: set[str] = field(default_factory=lambda: set[str]())  # item ids, from 204s
    replays: list[tuple[str, str]] = field(default_factory=lambda: [])  # (first id, replayed id)
    inbound_ids: set[str] = field(default_factory=lambda: set[str]())  # events answered 202


@dataclass
class Tenant:
    org_id: str
    login: str
    user_headers: dict[str, str]
    key_headers: dict[str, str]
    stable: list[tuple[str, str]]  # (item id, ETag): never changed, so If-None-Match answers 304
    mutable: list[str]
    posts: list[str]
    refresh_tokens: deque[str]
    deletable: deque[str] = field(default_factory=lambda: deque[str]())
    cursor: str | None = None  # where the deep-pagination walk goes on

    def signed_in(self, tokens: dict[str, Any]) -> None:
        """New tokens from a sign-in or refresh: later requests use the fresh access token, as a
        real client does (the first one expires after ACCESS_TOKEN_TTL_SECONDS, mid-soak)."""
        self.user_headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        self.refresh_tokens.append(tokens["refresh_token"])


async def build_tenant(client: Http) -> Tenant:
    """A user who owns an org with an API key, seeded items and posts; all through the API."""
    name = unique("soak")
    account = {"email": f"{name}@example.com", "username": name, "password": DEFAULT_PASSWORD}
    expect(await client.post("/auth/register", json=account), 201)
    tokens = expect(await client.post("/auth/login", json={"login": name, "password": DEFAULT_PASSWORD}), 200)
    user = {"Authorization": f"Bearer {tokens['access_token']}"}
    org_id = expect(
        await client.post("/orgs", json={"name": name, "slug": name.replace("_", "-")}, headers=user), 201
    )["id"]
    key = expect(
        await client.post(f"/orgs/{org_id}/api-keys", json={"name": "soak", "role": "admin"}, headers=user),
        201,
    )["key"]
    items: list[dict[str, Any]] = []
    for start in range(0, SEEDED_ITEMS, 40):
        rows = [
            {"name": f"seed {n:04d}", "price": 100 + n, "currency": "EUR", "tags": ["soak", f"t{n % 5}"]}
            for n in range(start, min(start + 40, SEEDED_ITEMS))
        ]
        items += expect(
            await client.post(f"/orgs/{org_id}/items:batch", json={"items": rows}, headers=user), 201
        )
    stable = [(item["id"], f'"v{item["version"]}"') for item in items[MUTABLE_ITEMS:]]
    posts = [
        expect(
            await client.post(
                f"/orgs/{org_id}/posts", json={"title": f"soak {n}", "published": True}, headers=user
            ),
            201,
        )["id"]
        for n in range(POSTS)
    ]
    return Tenant(
        org_id=org_id,
        login=name,
        user_headers=user,
        key_headers={"X-API-Key": key},
        stable=stable,
        mutable=[item["id"] for item in items[:MUTABLE_ITEMS]],
        posts=posts,
        refresh_tokens=deque([tokens["refresh_token"]]),
    )


def sign(body: bytes) -> str:
    t = int(time.time())
    return (
        f"t={t},v1={hmac.new(INBOUND_SECRET.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"
    )


Request = Callable[[], Awaitable[Answer]]


@dataclass
class Mix:
    """Chooses request n of the run (seeded, so a run can be repeated) and keeps the ledger."""

    client: Http
    tenants: list[Tenant]
    prefix: str  # in every name this run creates
    seed: int = 8
    ledger: Ledger = field(default_factory=Ledger)
    _sent_inbound: list[bytes] = field(default_factory=lambda: [])

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        # (weight, name, the request maker); the weights add up to 100.
        self._table: list[tuple[int, str, Callable[[Tenant, int], Request]]] = [
            (16, "item_by_api_key", self._item_by_api_key),
            (6, "item_not_modified", self._item_not_modified),
            (8, "items_first_page", self._items_first_page),
            (6, "items_next_page", self._items_next_page),
            (5, "posts_page", self._posts_page),
            (4, "comments_page", self._comments_page),
            (4, "me", self._me),
            (3, "org", self._org),
            (14, "create_item", self._create_item),
            (2, "create_item_retried", self._create_item_retried),
            (2, "create_items_batch", self._create_items_batch),
            (8, "patch_item", self._patch_item),
            (4, "delete_item", self._delete_item),
            (3, "create_post", self._create_post),
            (5, "create_comment", self._create_comment),
            (5, "inbound_webhook", self._inbound_webhook),
            (2, "login", self._login),
            (3, "refresh", self._refresh),
        ]
        assert sum(weight for weight, _, _ in self._table) == 100
        self._names = [name for _, name, _ in self._table]
        self._weights = [weight for weight, _, _ in self._table]
        self._makers = {name: maker for _, name, maker in self._table}

    def choose(self, n: int) -> tuple[str, Request]:
        name = self._random.choices(self._names, self._weights)[0]
        tenant = self.tenants[n % len(self.tenants)]
        return name, self._makers[name](tenant, n)

    # ---- reads ------------------------------------------------------------------------------

    def _item_by_api_key(self, tenant: Tenant, n: int) -> Request:
        item_id, _ = self._random.choice(tenant.stable)
        return lambda: self.client.get(f"/orgs/{tenant.org_id}/items/{item_id}", headers=tenant.key_headers)

    def _item_not_modified(self, tenant: Tenant, n: int) -> Request:
        item_id, tag = self._random.choice(tenant.stable)
        headers = {**tenant.key_headers, "If-None-Match": tag}
        return lambda: self.client.get(f"/orgs/{tenant.org_id}/items/{item_id}", headers=headers)

    def _items_first_page(self, tenant: Tenant, n: int) -> Request:
        params = self._random.choice(
            [
                {},
                {"status": "active"},
                {"sort": "price"},
                {"tag": "t3"},
                {"price_min": "150", "sort": "-price"},
            ]
        )
        return lambda: self.client.get(
            f"/orgs/{tenant.org_id}/items", params=params, headers=tenant.key_headers
        )

    def _items_next_page(self, tenant: Tenant, n: int) -> Request:
        async def walk() -> Answer:
            params = {"limit": "25", **({"cursor": tenant.cursor} if tenant.cursor else {})}
            response = await self.client.get(
                f"/orgs/{tenant.org_id}/items", params=params, headers=tenant.user_headers
            )
            if response.status_code == 200:
                tenant.cursor = response.json()["meta"]["next_cursor"]  # None at the end: start again
            return response

        return walk

    def _posts_page(self, tenant: Tenant, n: int) -> Request:
        return lambda: self.client.get(f"/orgs/{tenant.org_id}/posts", headers=tenant.user_headers)

    def _comments_page(self, tenant: Tenant, n: int) -> Request:
        post_id = self._random.choice(tenant.posts)
        return lambda: self.client.get(
            f"/orgs/{tenant.org_id}/posts/{post_id}/comments", headers=tenant.user_headers
        )

    def _me(self, tenant: Tenant, n: int) -> Request:
        return lambda: self.client.get("/users/me", headers=tenant.user_headers)

    def _org(self, tenant: Tenant, n: int) -> Request:
        return lambda: self.client.get(f"/orgs/{tenant.org_id}", headers=tenant.user_headers)

    # ---- writes -----------------------------------------------------------------------------

    def _item_body(self, n: int) -> dict[str, Any]:
        return {
            "name": f"{self.prefix} {n}",
            "price": self._random.randrange(1, 100_000),
            "currency": self._random.choice(["EUR", "USD", "JPY"]),
            "tags": ["soak", f"t{n % 5}"],
            "metadata": {"n": n},
        }

    async def _post_item(self, tenant: Tenant, body: dict[str, Any], key: str) -> Answer:
        headers = {**tenant.key_headers, "Idempotency-Key": key}
        return await self.client.post(f"/orgs/{tenant.org_id}/items", json=body, headers=headers)

    def _record_created(self, tenant: Tenant, response: Answer) -> None:
        if response.status_code == 201:
            item = response.json()["data"]
            self.ledger.created[item["name"]] = item["id"]
            tenant.deletable.append(item["id"])

    def _create_item(self, tenant: Tenant, n: int) -> Request:
        body = self._item_body(n)

        async def create() -> Answer:
            response = await self._post_item(tenant, body, str(uuid.uuid4()))
            self._record_created(tenant, response)
            return response

        return create

    def _create_item_retried(self, tenant: Tenant, n: int) -> Request:
        """A client that lost the first answer and retried with the same key: one item, same answer."""
        body, key = self._item_body(n), str(uuid.uuid4())

        async def create_twice() -> Answer:
            first = await self._post_item(tenant, body, key)
            self._record_created(tenant, first)
            if first.status_code != 201:
                return first
            again = await self._post_item(tenant, body, key)
            if again.status_code == 201:
                assert again.headers.get("idempotent-replayed") == "true", again.headers
                self.ledger.replays.append((first.json()["data"]["id"], again.json()["data"]["id"]))
            return again

        return create_twice

    def _create_items_batch(self, tenant: Tenant, n: int) -> Request:
        rows = [{**self._item_body(n), "name": f"{self.prefix} {n}.{i}"} for i in range(5)]

        async def create() -> Answer:
            headers = {**tenant.user_headers, "Idempotency-Key": str(uuid.uuid4())}
            response = await self.client.post(
                f"/orgs/{tenant.org_id}/items:batch", json={"items": rows}, headers=headers
            )
            if response.status_code == 201:
                for item in response.json()["data"]:
                    self.ledger.created[item["name"]] = item["id"]
            return response

        return create

    def _patch_item(self, tenant: Tenant, n: int) -> Request:
        item_id = self._random.choice(tenant.mutable)
        body = {
            "price": self._random.randrange(1, 100_000),
            "currency": "EUR",
            "description": f"patched by request {n}",
        }
        return lambda: self.client.patch(
            f"/orgs/{tenant.org_id}/items/{item_id}", json=body, headers=tenant.key_headers
        )

    def _delete_item(self, tenant: Tenant, n: int) -> Request:
        if not tenant.deletable:
            return self._create_item(tenant, n)  # nothing created yet to delete: the schedule keeps its pace
        item_id = tenant.deletable.popleft()

        async def delete() -> Answer:
            response = await self.client.delete(
                f"/orgs/{tenant.org_id}/items/{item_id}", headers=tenant.key_headers
            )
            if response.status_code == 204:
                self.ledger.deleted.add(item_id)
            return response

        return delete

    def _create_post(self, tenant: Tenant, n: int) -> Request:
        body = {"title": f"{self.prefix} post {n}", "body": "soak " * 20}
        headers = {**tenant.user_headers, "Idempotency-Key": str(uuid.uuid4())}
        return lambda: self.client.post(f"/orgs/{tenant.org_id}/posts", json=body, headers=headers)

    def _create_comment(self, tenant: Tenant, n: int) -> Request:
        post_id = self._random.choice(tenant.posts)
        headers = {**tenant.user_headers, "Idempotency-Key": str(uuid.uuid4())}
        body = {"body": f"comment {n}"}
        return lambda: self.client.post(
            f"/orgs/{tenant.org_id}/posts/{post_id}/comments", json=body, headers=headers
        )

    def _inbound_webhook(self, tenant: Tenant, n: int) -> Request:
        """A provider's event; one in five is a delivery repeated (an at-least-once sender)."""
        if self._sent_inbound and self._random.random() < 0.2:
            body = self._random.choice(self._sent_inbound)
        else:
            body = json.dumps(
                {"id": f"evt_{self.prefix}_{n}", "type": "soak.ping", "data": {"n": n}}
            ).encode()
            self._sent_inbound.append(body)

        async def deliver() -> Answer:
            headers = {"Content-Type": "application/json", "Webhook-Signature": sign(body)}
            response = await self.client.post(f"/webhooks/{INBOUND_SOURCE}", content=body, headers=headers)
            if response.status_code == 202:
                self.ledger.inbound_ids.add(json.loads(body)["id"])
            return response

        return deliver

    # ---- auth -------------------------------------------------------------------------------

    def _login(self, tenant: Tenant, n: int) -> Request:
        async def login() -> Answer:
            body = {"login": tenant.login, "password": DEFAULT_PASSWORD}
            response = await self.client.post("/auth/login", json=body)
            if response.status_code == 200:
                tenant.signed_in(response.json()["data"])
            return response

        return login

    def _refresh(self, tenant: Tenant, n: int) -> Request:
        """Each refresh token is used once (a reused one would end its session, by design)."""
        if not tenant.refresh_tokens:
            return self._login(tenant, n)
        token = tenant.refresh_tokens.popleft()

        async def refresh() -> Answer:
            response = await self.client.post("/auth/refresh", json={"refresh_token": token})
            if response.status_code == 200:
                tenant.signed_in(response.json()["data"])
            return response

        return refresh


# What each request of the mix must answer; anything else fails the soak.
EXPECTED: dict[str, frozenset[int]] = {
    "item_not_modified": frozenset({304}),
    "create_item": frozenset({201}),
    "create_item_retried": frozenset({201}),
    "create_items_batch": frozenset({201}),
    "create_post": frozenset({201}),
    "create_comment": frozenset({201}),
    "delete_item": frozenset({204, 201}),  # 201: nothing to delete yet, so it created one
    "inbound_webhook": frozenset({200, 202}),  # 200: a repeated delivery, stored once
}
DEFAULT_EXPECTED = frozenset({200})

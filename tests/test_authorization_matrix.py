"""Every route is classified as public or signed-in; a new, unclassified route fails here.

For signed-in routes the test proves that no token, a garbage token and a token signed with
another key are all refused with 401 before any work is done.
"""

from __future__ import annotations

import re
import time
import uuid

import jwt
import pytest
from litestar import Litestar

from tests.factories import Client

PUBLIC = {
    ("GET", "/health/live"),
    # Authenticated by the HMAC signature of the body, not by a user or key (docs/EVENTS.md).
    ("POST", "/webhooks/{source:str}"),
    ("GET", "/health/ready"),
    # Open in tests; `Authorization: Bearer <METRICS_TOKEN>` once that is set, and production
    # requires the token or a separate METRICS_PORT (tests/core/test_metrics.py).
    ("GET", "/metrics"),
    ("POST", "/auth/register"),
    ("POST", "/auth/verify-email"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/password-reset/request"),
    ("POST", "/auth/password-reset/confirm"),
    # The second step of a two-factor sign-in: authenticated by the challenge token in the body.
    ("POST", "/auth/mfa/challenge"),
}
SIGNED_IN = {
    ("POST", "/auth/verify-email/resend"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/password/change"),
    ("GET", "/auth/sessions"),
    ("DELETE", "/auth/sessions/{session_id:uuid}"),
    ("POST", "/auth/mfa/enable"),
    ("POST", "/auth/mfa/confirm"),
    ("POST", "/auth/mfa/backup-codes"),
    ("POST", "/auth/mfa/disable"),
    ("GET", "/users/me"),
    ("PATCH", "/users/me"),
    ("DELETE", "/users/me"),
    ("GET", "/users/{user_id:uuid}"),
    ("POST", "/orgs"),
    ("GET", "/orgs"),
    ("POST", "/invitations/accept"),
    ("GET", "/users/me/activity"),
    # Signed in and a platform admin as well (tests/admin/test_admin.py checks the 403).
    ("GET", "/admin/jobs"),
    ("GET", "/admin/jobs/counts"),
    ("GET", "/admin/jobs/{job_id:uuid}"),
    ("POST", "/admin/jobs/{job_id:uuid}/retry"),
    ("GET", "/admin/inbound-events"),
    ("GET", "/admin/inbound-events/counts"),
    ("POST", "/admin/inbound-events/{source:str}/{event_id:str}/retry"),
}
# Routes under /orgs/{org_id}: a user token or an API key, then the caller's role in that org
# (tests/orgs/test_role_matrix.py checks every role against every one of them).
ORG_SCOPED = {
    ("GET", "/orgs/{org_id:uuid}"),
    ("PATCH", "/orgs/{org_id:uuid}"),
    ("DELETE", "/orgs/{org_id:uuid}"),
    ("POST", "/orgs/{org_id:uuid}/transfer-ownership"),
    ("POST", "/orgs/{org_id:uuid}/leave"),
    ("GET", "/orgs/{org_id:uuid}/members"),
    ("PATCH", "/orgs/{org_id:uuid}/members/{user_id:uuid}"),
    ("DELETE", "/orgs/{org_id:uuid}/members/{user_id:uuid}"),
    ("POST", "/orgs/{org_id:uuid}/invitations"),
    ("GET", "/orgs/{org_id:uuid}/invitations"),
    ("DELETE", "/orgs/{org_id:uuid}/invitations/{invitation_id:uuid}"),
    ("POST", "/orgs/{org_id:uuid}/api-keys"),
    ("GET", "/orgs/{org_id:uuid}/api-keys"),
    ("DELETE", "/orgs/{org_id:uuid}/api-keys/{key_id:uuid}"),
    ("GET", "/orgs/{org_id:uuid}/audit"),
    ("POST", "/orgs/{org_id:uuid}/webhook-endpoints"),
    ("GET", "/orgs/{org_id:uuid}/webhook-endpoints"),
    ("GET", "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}"),
    ("PATCH", "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}"),
    ("DELETE", "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}"),
    ("POST", "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}/rotate-secret"),
    ("GET", "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}/deliveries"),
    ("POST", "/orgs/{org_id:uuid}/items"),
    ("POST", "/orgs/{org_id:uuid}/items:batch"),
    ("GET", "/orgs/{org_id:uuid}/items"),
    ("GET", "/orgs/{org_id:uuid}/items/{item_id:uuid}"),
    ("PATCH", "/orgs/{org_id:uuid}/items/{item_id:uuid}"),
    ("DELETE", "/orgs/{org_id:uuid}/items/{item_id:uuid}"),
    ("POST", "/orgs/{org_id:uuid}/posts"),
    ("GET", "/orgs/{org_id:uuid}/posts"),
    ("GET", "/orgs/{org_id:uuid}/posts/{post_id:uuid}"),
    ("PATCH", "/orgs/{org_id:uuid}/posts/{post_id:uuid}"),
    ("DELETE", "/orgs/{org_id:uuid}/posts/{post_id:uuid}"),
    ("POST", "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments"),
    ("GET", "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments"),
    ("PATCH", "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments/{comment_id:uuid}"),
    ("DELETE", "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments/{comment_id:uuid}"),
}


def app_routes(app: Litestar) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if route.path.startswith("/docs"):
            continue
        for method in getattr(route, "methods", set()):
            if method not in {"HEAD", "OPTIONS"}:
                found.add((method, route.path))
    return found


def concrete(path: str) -> str:
    names = (
        "session_id",
        "user_id",
        "org_id",
        "invitation_id",
        "key_id",
        "item_id",
        "post_id",
        "comment_id",
        "job_id",
        "endpoint_id",
    )
    for name in names:
        path = path.replace(f"{{{name}:uuid}}", str(uuid.uuid4()))
    return re.sub(r"\{(\w+):str\}", r"\1", path)


def test_every_route_is_classified(app: Litestar) -> None:
    routes = app_routes(app)
    assert routes - PUBLIC - SIGNED_IN - ORG_SCOPED == set(), "classify new routes in this file"
    assert (PUBLIC | SIGNED_IN | ORG_SCOPED) - routes == set(), "a classified route no longer exists"


def _forged_token() -> str:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "sid": str(uuid.uuid4()), "iat": now, "exp": now + 60}
    return jwt.encode(
        {**claims, "iss": "app", "aud": "app-api"}, "another-key-" + "x" * 32, algorithm="HS256"
    )


@pytest.mark.parametrize(("method", "path"), sorted(SIGNED_IN | ORG_SCOPED))
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic abc", "forged"])
async def test_signed_in_routes_refuse_missing_or_bad_tokens(
    client: Client, method: str, path: str, authorization: str | None
) -> None:
    headers: dict[str, str] = {}
    if authorization == "forged":
        headers["Authorization"] = f"Bearer {_forged_token()}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    response = await client.request(method, concrete(path), headers=headers, json={})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    expected = "AUTHENTICATION_REQUIRED" if authorization in (None, "Basic abc") else "INVALID_TOKEN"
    assert response.json()["code"] == expected

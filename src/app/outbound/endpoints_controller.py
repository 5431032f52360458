"""HTTP routes of an organization's outbound webhook endpoints, under
``/orgs/{org_id}/webhook-endpoints`` (owners, admins and admin API keys: `webhooks:manage`)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, page_meta
from app.core.responses import Envelope, create_success_response, problem_responses
from app.idempotency.middleware import IDEMPOTENT
from app.orgs.actor import OrgActor
from app.orgs.auth import ORG_ACTOR, ORG_SECURITY, org_service, requires
from app.orgs.permissions import Permission
from app.outbound.endpoint_structs import (
    DeliveryAttemptOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPatchIn,
    WebhookEndpointSecretOut,
)
from app.outbound.endpoints import WebhookEndpointsService

__all__ = ["WebhookEndpointsController"]

_GUARDED = (401, 403, 404)
_BODY = (400, 413, 415, 422)
# A response carrying a secret must not be kept by any cache on the way.
_NO_STORE = {"Cache-Control": "no-store"}


class WebhookEndpointsController(Controller):
    path = "/orgs/{org_id:uuid}/webhook-endpoints"
    tags = ["webhooks"]
    dependencies = {"webhook_endpoints": org_service("webhook_endpoints"), "actor": ORG_ACTOR}
    security = ORG_SECURITY

    @post(
        "",
        status_code=201,
        summary="Create a webhook endpoint (owner, admin)",
        description=(
            "The response carries the endpoint's signing secret (`whsec_...`) once; it cannot be "
            "shown again (rotate it to get a new one). 409 when the organization already has "
            "MAX_WEBHOOK_ENDPOINTS_PER_ORG endpoints."
        ),
        opt=requires(Permission.WEBHOOKS_MANAGE),
        **IDEMPOTENT,
        responses=problem_responses(*_GUARDED, 409, *_BODY),
    )
    async def create_endpoint(
        self,
        data: JSONBody[WebhookEndpointIn],
        webhook_endpoints: NamedDependency[WebhookEndpointsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[WebhookEndpointSecretOut]]:
        endpoint = await webhook_endpoints.create(actor, data)
        headers = {**_NO_STORE, "Location": f"/orgs/{actor.org_id}/webhook-endpoints/{endpoint.id}"}
        return create_success_response(endpoint, status_code=201, headers=headers)

    @get(
        "",
        summary="The organization's webhook endpoints, newest first (never their secrets)",
        opt=requires(Permission.WEBHOOKS_MANAGE),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_endpoints(
        self,
        webhook_endpoints: NamedDependency[WebhookEndpointsService],
        actor: NamedDependency[OrgActor],
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[WebhookEndpointOut]]]:
        found, next_cursor = await webhook_endpoints.list_endpoints(actor, cursor=cursor, limit=limit)
        return create_success_response(found, meta=page_meta(next_cursor))

    @get(
        "/{endpoint_id:uuid}",
        summary="One webhook endpoint (never its secret)",
        opt=requires(Permission.WEBHOOKS_MANAGE),
        responses=problem_responses(400, *_GUARDED),
    )
    async def get_endpoint(
        self,
        endpoint_id: FromPath[UUID],
        webhook_endpoints: NamedDependency[WebhookEndpointsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[WebhookEndpointOut]]:
        return create_success_response(await webhook_endpoints.get(actor, endpoint_id))

    @patch(
        "/{endpoint_id:uuid}",
        summary="Change a webhook endpoint's URL, event types, description or state",
        description=(
            '`"enabled": true` re-enables the endpoint and clears its failure state '
            '(`disabled_reason`, `failing_since`, `consecutive_failures`); `"enabled": false` '
            'disables it with the reason "disabled by a user".'
        ),
        opt=requires(Permission.WEBHOOKS_MANAGE),
        responses=problem_responses(*_GUARDED, *_BODY),
    )
    async def update_endpoint(
        self,
        endpoint_id: FromPath[UUID],
        data: JSONBody[WebhookEndpointPatchIn],
        webhook_endpoints: NamedDependency[WebhookEndpointsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[WebhookEndpointOut]]:
        return create_success_response(await webhook_endpoints.update(actor, endpoint_id, data))

    @delete(
        "/{endpoint_id:uuid}",
        status_code=204,
        summary="Delete a webhook endpoint with its deliveries and their log",
        opt=requires(Permission.WEBHOOKS_MANAGE),
        responses=problem_responses(400, *_GUARDED),
    )
    async def delete_endpoint(
        self,
        endpoint_id: FromPath[UUID],
        webhook_endpoints: NamedDependency[WebhookEndpointsService],
        actor: NamedDependency[OrgActor],
    ) -> None:
        await webhook_endpoints.delete(actor, endpoint_id)

    @post(
        "/{endpoint_id:uuid}/rotate-secret",
        status_code=200,
        summary="Give a webhook endpoint a new signing secret (shown once)",
        description=(
            "Deliveries are signed with the new secret from now on. For WEBHOOK_ROTATION_GRACE_HOURS "
            "(24 by default) they carry a second signature with the replaced secret too, so a "
            "receiver can switch without rejecting any; `previous_secret_expires_at` says until when."
        ),
        opt=requires(Permission.WEBHOOKS_MANAGE),
        responses=problem_responses(400, *_GUARDED),
    )
    async def rotate_secret(
        self,
        endpoint_id: FromPath[UUID],
        webhook_endpoints: NamedDependency[WebhookEndpointsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[WebhookEndpointSecretOut]]:
        endpoint = await webhook_endpoints.rotate_secret(actor, endpoint_id)
        return create_success_response(endpoint, headers=_NO_STORE)

    @get(
        "/{endpoint_id:uuid}/deliveries",
        summary="The endpoint's delivery log: every attempt, newest first",
        description="Each attempt with its delivery's event type and current state.",
        opt=requires(Permission.WEBHOOKS_MANAGE),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_deliveries(
        self,
        endpoint_id: FromPath[UUID],
        webhook_endpoints: NamedDependency[WebhookEndpointsService],
        actor: NamedDependency[OrgActor],
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[DeliveryAttemptOut]]]:
        found, next_cursor = await webhook_endpoints.list_attempts(
            actor, endpoint_id, cursor=cursor, limit=limit
        )
        return create_success_response(found, meta=page_meta(next_cursor))

"""HTTP routes of the items feature under ``/orgs/{org_id}/items``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from app.core.etag import etag, if_none_match_hits, parse_if_match
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, page_meta
from app.core.responses import Envelope, create_success_response, problem_responses
from app.idempotency.middleware import IDEMPOTENT
from app.items.service import ItemFilters, ItemsService
from app.items.structs import ItemBatchIn, ItemIn, ItemOut, ItemPatchIn, ItemSort, ItemStatus
from app.orgs.actor import OrgActor
from app.orgs.auth import ORG_ACTOR, ORG_SECURITY, org_service, requires
from app.orgs.permissions import Permission

__all__ = ["ItemsController"]

_GUARDED = (401, 403, 404)
_BODY = (400, 413, 415, 422)
_ETAG_HEADER = [
    ResponseHeader(name="ETag", description='The item\'s version, as "v<n>".', documentation_only=True)
]

IfMatchHeader = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        max_length=1024,
        description='Change only if the item is still at this ETag ("v<n>"); 412 otherwise.',
    ),
]
IfNoneMatchHeader = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match", max_length=1024, description="304 if the item still has this ETag."
    ),
]
SortQuery = Annotated[
    ItemSort,
    QueryParameter(
        name="sort",
        description="created_at, name or price; a leading `-` for descending. Each has its own index.",
    ),
]
StatusQuery = Annotated[ItemStatus | None, QueryParameter(name="status")]
TagQuery = Annotated[
    str | None,
    QueryParameter(name="tag", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$(?!\n)", description="Has this tag."),
]
CurrencyQuery = Annotated[
    str | None,
    QueryParameter(name="currency", pattern=r"^[A-Z]{3}$(?!\n)", description="Priced in this currency."),
]
PriceMinQuery = Annotated[
    int | None,
    QueryParameter(
        name="price_min",
        ge=0,
        le=10**15,
        description="Price at least (minor units).",
        schema_extra={"minimum": 0},  # Litestar drops a falsy `ge` from the document
    ),
]
PriceMaxQuery = Annotated[
    int | None,
    QueryParameter(
        name="price_max",
        ge=0,
        le=10**15,
        description="Price at most (minor units).",
        schema_extra={"minimum": 0},  # Litestar drops a falsy `ge` from the document
    ),
]
CreatedFromQuery = Annotated[
    datetime | None,
    QueryParameter(name="created_from", description="Created at or after (ISO 8601; UTC if no offset)."),
]
CreatedToQuery = Annotated[
    datetime | None,
    QueryParameter(name="created_to", description="Created before (ISO 8601; UTC if no offset)."),
]
NamePrefixQuery = Annotated[
    str | None,
    QueryParameter(
        name="name_prefix",
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f\U0010ffff]+$(?!\n)",
        description="Name starts with this (case-sensitive).",
    ),
]
SearchQuery = Annotated[
    str | None,
    QueryParameter(
        name="search",
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]+$(?!\n)",
        description="Words in the name or description (web-search syntax: quotes, `or`, `-word`).",
    ),
]


def _location(item: ItemOut, org_id: UUID) -> str:
    return f"/orgs/{org_id}/items/{item.id}"


class ItemsController(Controller):
    path = "/orgs/{org_id:uuid}"
    tags = ["items"]
    dependencies = {
        # Not "items": a dependency may not share a name with a body field (ItemBatchIn.items),
        # or Litestar reports that field's validation errors as a server fault.
        "item_service": org_service("items"),
        "actor": ORG_ACTOR,
    }
    security = ORG_SECURITY

    @post(
        "/items",
        status_code=201,
        summary="Create an item",
        opt=requires(Permission.RESOURCES_CREATE),
        **IDEMPOTENT,
        response_headers=_ETAG_HEADER,
        responses=problem_responses(*_GUARDED, *_BODY, 409),
    )
    async def create_item(
        self,
        data: JSONBody[ItemIn],
        item_service: NamedDependency[ItemsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[ItemOut]]:
        item = await item_service.create_item(actor, data)
        headers = {"ETag": etag(item.version), "Location": _location(item, actor.org_id)}
        return create_success_response(item, status_code=201, headers=headers)

    @post(
        "/items:batch",
        status_code=201,
        summary="Create up to 500 items at once (all or nothing)",
        description=(
            "One statement, one round trip. If any row is invalid nothing is created and the 422 "
            "lists every problem with its row (`$.items[3].name`)."
        ),
        opt=requires(Permission.RESOURCES_CREATE),
        **IDEMPOTENT,
        responses=problem_responses(*_GUARDED, *_BODY, 409),
    )
    async def create_items(
        self,
        data: JSONBody[ItemBatchIn],
        item_service: NamedDependency[ItemsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[list[ItemOut]]]:
        created = await item_service.create_items(actor, data)
        return create_success_response(created, status_code=201, meta={"count": len(created)})

    @get(
        "/items",
        summary="List items (keyset pagination, filters, sorts)",
        description=(
            "Newest first by default. Every sort has its own index, and a filter on the sort key "
            "bounds the index scan, so page 1,000 costs what page 1 costs. `search` lists newest first."
        ),
        opt=requires(Permission.RESOURCES_READ),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_items(
        self,
        item_service: NamedDependency[ItemsService],
        actor: NamedDependency[OrgActor],
        sort: SortQuery = "-created_at",
        status: StatusQuery = None,
        tag: TagQuery = None,
        currency: CurrencyQuery = None,
        price_min: PriceMinQuery = None,
        price_max: PriceMaxQuery = None,
        created_from: CreatedFromQuery = None,
        created_to: CreatedToQuery = None,
        name_prefix: NamePrefixQuery = None,
        search: SearchQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[ItemOut]]]:
        filters = ItemFilters(
            sort=sort,
            status=status,
            tag=tag,
            currency=currency,
            price_min=price_min,
            price_max=price_max,
            created_from=created_from,
            created_to=created_to,
            name_prefix=name_prefix,
            search=search,
        )
        found, next_cursor = await item_service.list_items(actor, filters, cursor=cursor, limit=limit)
        return create_success_response(found, meta=page_meta(next_cursor))

    @get(
        "/items/{item_id:uuid}",
        summary="One item (ETag; If-None-Match gives 304)",
        opt=requires(Permission.RESOURCES_READ),
        response_headers=_ETAG_HEADER,
        # 422: an If-None-Match longer than its bound (found by tests/fuzz).
        responses={
            **problem_responses(400, *_GUARDED, 422),
            304: ResponseSpec(data_container=None, description="Not Modified: If-None-Match matched"),
        },
    )
    async def get_item(
        self,
        item_id: FromPath[UUID],
        item_service: NamedDependency[ItemsService],
        actor: NamedDependency[OrgActor],
        if_none_match: IfNoneMatchHeader = None,
    ) -> Response[Envelope[ItemOut]]:
        item = await item_service.get_item(actor, item_id)
        tag = etag(item.version)
        if if_none_match_hits(if_none_match, item.version):
            return Response(content=None, status_code=304, headers={"ETag": tag})  # pyright: ignore[reportReturnType]
        return create_success_response(item, headers={"ETag": tag})

    @patch(
        "/items/{item_id:uuid}",
        summary="Change an item (If-Match for optimistic concurrency: 412 if stale)",
        description="Members change the items they created; admins and owners any item.",
        opt=requires(Permission.RESOURCES_EDIT_OWN),
        response_headers=_ETAG_HEADER,
        responses=problem_responses(*_GUARDED, 412, *_BODY),
    )
    async def update_item(
        self,
        item_id: FromPath[UUID],
        data: JSONBody[ItemPatchIn],
        item_service: NamedDependency[ItemsService],
        actor: NamedDependency[OrgActor],
        if_match: IfMatchHeader = None,
    ) -> Response[Envelope[ItemOut]]:
        item = await item_service.update_item(actor, item_id, data, parse_if_match(if_match))
        return create_success_response(item, headers={"ETag": etag(item.version)})

    @delete(
        "/items/{item_id:uuid}",
        status_code=204,
        summary="Delete an item (soft; If-Match honoured)",
        opt=requires(Permission.RESOURCES_EDIT_OWN),
        # 422: an If-Match longer than its bound (found by tests/fuzz).
        responses=problem_responses(400, *_GUARDED, 412, 422),
    )
    async def delete_item(
        self,
        item_id: FromPath[UUID],
        item_service: NamedDependency[ItemsService],
        actor: NamedDependency[OrgActor],
        if_match: IfMatchHeader = None,
    ) -> None:
        await item_service.delete_item(actor, item_id, parse_if_match(if_match))

"""Items: create (one or a batch), read (cached), change with optimistic concurrency, soft
delete, and keyset-paginated lists with filters.

Lists: every sort order has its own named query and index. A filter on the sort key becomes
the scan's bounds (start and stop), so a narrow range or a deep page costs what the first page
costs; other filters are checked on the rows the ordered scan reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.core.cache import Cache, cache
from app.core.db import Connection, Database
from app.core.etag import IfMatch
from app.core.exceptions import NotFoundError, PermissionDeniedError, PreconditionFailedError, ValidationError
from app.core.ids import new_id
from app.core.pagination import TIME_MAX, TIME_MIN, cursor_time, decode_cursor, encode_cursor, invalid_cursor
from app.core.responses import FieldError
from app.items import queries
from app.items.queries import ItemBounds
from app.items.structs import ItemBatchIn, ItemCursor, ItemIn, ItemOut, ItemPatchIn, ItemSort, ItemStatus
from app.items.validation import check_item, check_patch, normalise_item, patch_changes
from app.orgs.actor import OrgActor
from app.orgs.permissions import Permission
from app.outbound.event_types import EventType
from app.outbound.events import emit

__all__ = ["ITEM_CACHE_SECONDS", "ItemFilters", "ItemsService"]

# Single-item reads are cached this long; every write retires the entry at once.
ITEM_CACHE_SECONDS = 60.0

_NIL = UUID(int=0)
_TIME_LO = TIME_MIN
_TIME_HI = TIME_MAX
_NAME_HI = "\U0010ffff"  # above every item name (names may not contain it)
_NO_PRICE = -1  # the sort key of an item without a price
_PRICE_HI = 10**15 + 1  # above every price


class ItemFilters(msgspec.Struct, frozen=True, kw_only=True):
    """The query parameters of ``GET /orgs/{org_id}/items``, as the route validated them."""

    sort: ItemSort = "-created_at"
    status: ItemStatus | None = None
    tag: str | None = None
    currency: str | None = None
    price_min: int | None = None
    price_max: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    name_prefix: str | None = None
    search: str | None = None


def _query_time(moment: datetime | None, parameter: str) -> datetime | None:
    utc = cursor_time(moment)
    if moment is not None and utc is None:
        raise _query_error(parameter, f"{parameter} must be between years 1 and 9999 (UTC)")
    return utc


def _after_prefix(prefix: str) -> str:
    """The smallest string above every string that starts with `prefix` (code point order)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot appear in text; skip past them
        last = 0xE000
    return prefix[:-1] + chr(last)


def _query_error(parameter: str, message: str) -> ValidationError:
    return ValidationError(message, details=[FieldError(path=parameter, message=message, location="query")])


def _bounds(filters: ItemFilters) -> ItemBounds:
    if (
        filters.price_min is not None
        and filters.price_max is not None
        and filters.price_min > filters.price_max
    ):
        raise _query_error("price_min", "price_min is above price_max")
    created_lo = _query_time(filters.created_from, "created_from") or _TIME_LO
    created_hi = _query_time(filters.created_to, "created_to") or _TIME_HI
    if created_lo >= created_hi:
        raise _query_error("created_from", "created_from must be before created_to")
    priced = filters.price_min is not None or filters.price_max is not None
    prefix = filters.name_prefix
    return ItemBounds(
        status=filters.status,
        tag=filters.tag,
        currency=filters.currency,
        price_lo=filters.price_min if filters.price_min is not None else (0 if priced else _NO_PRICE),
        price_hi=filters.price_max + 1 if filters.price_max is not None else _PRICE_HI,
        created_lo=created_lo,
        created_hi=created_hi,
        name_lo=prefix or "",
        name_hi=_after_prefix(prefix) if prefix else _NAME_HI,
    )


def _key_range(sort: ItemSort, bounds: ItemBounds) -> tuple[Any, Any]:
    """The [lo, hi) range of the sort key that the filters allow."""
    field = sort.lstrip("-")
    if field == "created_at":
        return bounds.created_lo, bounds.created_hi
    if field == "name":
        return bounds.name_lo, bounds.name_hi
    return bounds.price_lo, bounds.price_hi


def _cursor_key(sort: ItemSort, cursor: ItemCursor) -> Any:
    """The cursor's key for `sort`, or None if it has none or one no row can have."""
    field = sort.lstrip("-")
    if field == "created_at":
        return cursor_time(cursor.t)
    if field == "name":
        name = cursor.n
        return name if name is not None and len(name) <= 200 and "\x00" not in name else None
    price = cursor.p
    return price if price is not None and _NO_PRICE <= price <= _PRICE_HI else None


def _cursor_of(sort: ItemSort, item: ItemOut) -> ItemCursor:
    field = sort.lstrip("-")
    if field == "created_at":
        return ItemCursor(s=sort, i=item.id, t=item.created_at)
    if field == "name":
        return ItemCursor(s=sort, i=item.id, n=item.name)
    return ItemCursor(s=sort, i=item.id, p=item.price if item.price is not None else _NO_PRICE)


def _invalid_cursor() -> ValidationError:
    return invalid_cursor(
        "The cursor belongs to another sort order; use meta.next_cursor of a list in this order."
    )


def _scan(sort: ItemSort, bounds: ItemBounds, cursor: str | None) -> tuple[tuple[Any, UUID], Any]:
    """Where the ordered scan starts (exclusive) and stops, from the filters and the cursor."""
    lo, hi = _key_range(sort, bounds)
    descending = sort.startswith("-")
    start: tuple[Any, UUID] = (hi, _NIL) if descending else (lo, _NIL)
    after = decode_cursor(cursor, ItemCursor)
    if after is not None:
        key = _cursor_key(sort, after)
        if after.s != sort or key is None:
            raise _invalid_cursor()
        position = (key, after.i)
        start = min(start, position) if descending else max(start, position)
    return start, (lo if descending else hi)


def _item_not_found() -> NotFoundError:
    return NotFoundError("No such item.")


def _stale(current: int) -> PreconditionFailedError:
    return PreconditionFailedError(
        f'The item has changed since you read it (it is now at ETag "v{current}"); read it again.'
    )


class ItemsService:
    """One instance per process, created at start-up with the shared resources."""

    def __init__(self, *, db: Database, cache: Cache) -> None:
        self._db = db
        self._cache = cache

    @property
    def cache_store(self) -> Cache:
        return self._cache

    @staticmethod
    def namespace(org_id: UUID, item_id: UUID) -> str:
        return f"item:{org_id}:{item_id}"

    # ---- reads -------------------------------------------------------------------------------

    @cache(ttl=ITEM_CACHE_SECONDS, namespace="item:{org_id}:{item_id}")
    async def load_item(self, org_id: UUID, item_id: UUID) -> ItemOut | None:
        """The live item from the database (through the cache)."""
        async with self._db.connection() as conn:
            return await queries.get_item(conn, org_id=org_id, item_id=item_id)

    async def get_item(self, actor: OrgActor, item_id: UUID) -> ItemOut:
        actor.require(Permission.RESOURCES_READ)
        item = await self.load_item(actor.org_id, item_id)
        if item is None:
            raise _item_not_found()
        return item

    async def list_items(
        self, actor: OrgActor, filters: ItemFilters, *, cursor: str | None, limit: int
    ) -> tuple[list[ItemOut], str | None]:
        actor.require(Permission.RESOURCES_READ)
        if filters.search is not None and filters.sort != "-created_at":
            raise _query_error("sort", "search results are ordered by -created_at only")
        bounds = _bounds(filters)
        start, stop = _scan(filters.sort, bounds, cursor)
        async with self._db.connection() as conn:
            if filters.search is not None:
                found = await queries.search_items(
                    conn,
                    org_id=actor.org_id,
                    query=filters.search,
                    start=start,
                    stop=stop,
                    bounds=bounds,
                    limit=limit + 1,
                )
            else:
                found = await queries.list_items(
                    conn,
                    org_id=actor.org_id,
                    sort=filters.sort,
                    start=start,
                    stop=stop,
                    bounds=bounds,
                    limit=limit + 1,
                )
        if len(found) <= limit:
            return found, None
        page = found[:limit]
        return page, encode_cursor(_cursor_of(filters.sort, page[-1]))

    # ---- writes ------------------------------------------------------------------------------
    # A new item needs no cache invalidation: its id is new, so nothing can be cached under it.

    async def create_item(self, actor: OrgActor, data: ItemIn) -> ItemOut:
        actor.require(Permission.RESOURCES_CREATE)
        errors = check_item(data)
        if errors:
            raise ValidationError(details=errors)
        fields = normalise_item(data) | {"created_by_type": actor.actor_type, "created_by": actor.actor_id}
        async with self._db.transaction() as conn:
            item = await queries.insert_item(conn, org_id=actor.org_id, item_id=new_id(), fields=fields)
            await emit(conn, actor.org_id, EventType.ITEM_CREATED, [item])
        return item

    async def create_items(self, actor: OrgActor, data: ItemBatchIn) -> list[ItemOut]:
        """All rows or none, in one statement; every row's problems are reported together."""
        actor.require(Permission.RESOURCES_CREATE)
        errors: list[FieldError] = []
        rows: list[dict[str, Any]] = []
        for index, raw in enumerate(data.items):
            path = f"$.items[{index}]"
            try:
                item = msgspec.convert(raw, ItemIn)
            except msgspec.ValidationError as exc:
                errors.append(FieldError(path=_row_path(path, str(exc)), message=_row_message(str(exc))))
                continue
            row_errors = check_item(item, path)
            if row_errors:
                errors += row_errors
                continue
            rows.append({"id": new_id(), **normalise_item(item)})
        if errors:
            raise ValidationError(
                f"{len(errors)} problem(s) in the batch; nothing was created.", details=errors
            )
        async with self._db.transaction() as conn:
            items = await queries.insert_items(
                conn,
                org_id=actor.org_id,
                rows_=rows,
                created_by_type=actor.actor_type,
                created_by=actor.actor_id,
            )
            await emit(conn, actor.org_id, EventType.ITEM_CREATED, items)
        return items

    async def update_item(
        self, actor: OrgActor, item_id: UUID, data: ItemPatchIn, if_match: IfMatch | None
    ) -> ItemOut:
        actor.require(Permission.RESOURCES_EDIT_OWN)
        errors = check_patch(data)
        if errors:
            raise ValidationError(details=errors)
        changes = patch_changes(data)
        async with self._db.transaction() as conn:
            current = await self._writable(conn, actor, item_id, if_match)
            if not changes:
                return current
            updated = await queries.update_item(
                conn,
                org_id=actor.org_id,
                item_id=item_id,
                expected_version=current.version if if_match is not None else None,
                changes=changes,
            )
            if updated is None:
                await self._explain_miss(conn, actor.org_id, item_id)
            await emit(conn, actor.org_id, EventType.ITEM_UPDATED, [updated])
        await self._cache.invalidate(self.namespace(actor.org_id, item_id))
        assert updated is not None
        return updated

    async def delete_item(self, actor: OrgActor, item_id: UUID, if_match: IfMatch | None) -> None:
        actor.require(Permission.RESOURCES_EDIT_OWN)
        async with self._db.transaction() as conn:
            current = await self._writable(conn, actor, item_id, if_match)
            deleted = await queries.soft_delete_item(
                conn,
                org_id=actor.org_id,
                item_id=item_id,
                expected_version=current.version if if_match is not None else None,
            )
            if not deleted:
                await self._explain_miss(conn, actor.org_id, item_id)
            await emit(conn, actor.org_id, EventType.ITEM_DELETED, [{"id": str(item_id)}])
        await self._cache.invalidate(self.namespace(actor.org_id, item_id))

    async def _writable(
        self, conn: Connection, actor: OrgActor, item_id: UUID, if_match: IfMatch | None
    ) -> ItemOut:
        """The item, if the caller may change it and it is at a version If-Match accepts."""
        current = await queries.get_item(conn, org_id=actor.org_id, item_id=item_id)
        if current is None:
            raise _item_not_found()
        if not actor.can(Permission.RESOURCES_EDIT_ANY) and current.created_by != actor.actor_id:
            raise PermissionDeniedError(f"Your role ({actor.role}) may change only the items you created.")
        if if_match is not None and not if_match.allows(current.version):
            raise _stale(current.version)
        return current

    @staticmethod
    async def _explain_miss(conn: Connection, org_id: UUID, item_id: UUID) -> None:
        """A conditional write matched no row: the item changed (412) or went away (404)."""
        version = await queries.get_item_version(conn, org_id=org_id, item_id=item_id)
        if version is None:
            raise _item_not_found()
        raise _stale(version)


def _row_path(prefix: str, message: str) -> str:
    """``$.items[3].name`` from msgspec's ``... - at `$.name` `` for row 3."""
    marker = " - at `$"
    at = message.rfind(marker)
    if at < 0:
        return prefix
    return prefix + message[at + len(marker) : -1]


def _row_message(message: str) -> str:
    at = message.rfind(" - at `$")
    return message if at < 0 else message[:at]

"""Request and response bodies of the items feature, and the cursor of its lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from app.core.openapi import OPENAPI_ITEMS
from app.items.currencies import ISO_4217_CODES
from app.orgs.actor import ActorType

# No control characters (names appear in lists and logs), and not U+10FFFF, which the name
# list uses as the bound above every name.
ItemName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f\U0010ffff]+$(?!\n)",
        description="1-200 characters, no control characters.",
        examples=["Blue widget"],
    ),
]
Description = Annotated[str, msgspec.Meta(max_length=10_000, pattern=r"^[^\x00]*$(?!\n)")]
Price = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=10**15,
        description="An amount in the currency's minor units (cents for USD); needs `currency`.",
        examples=[1999],
    ),
]
CurrencyCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Z]{3}$(?!\n)",
        description="An ISO 4217 currency code.",
        examples=["EUR"],
        # Documented, so that clients and the fuzzer know the list; checked by app.items.validation.
        extra_json_schema={"enum": list(ISO_4217_CODES)},
    ),
]
Tag = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$(?!\n)",
        description="1-32 lower-case letters, digits, `_` or `-`.",
        examples=["sale"],
    ),
]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=20, description="Up to 20 tags; duplicates fold.")]
Metadata = Annotated[
    dict[str, Any],
    msgspec.Meta(
        max_length=50,
        description="A JSON object of up to 50 keys and 8 KiB encoded, kept as given.",
        examples=[{"sku": "BW-1"}],
    ),
]
ItemStatus = Literal["draft", "active", "archived"]
ItemSort = Literal["-created_at", "created_at", "name", "-name", "price", "-price"]

MAX_BATCH = 500
MAX_METADATA_BYTES = 8192


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


class ItemIn(Input):
    name: ItemName
    description: Description | None = None
    price: Price | None = None
    currency: CurrencyCode | None = None
    tags: Tags = msgspec.field(default_factory=lambda: [])
    status: ItemStatus = "active"
    metadata: Metadata = msgspec.field(default_factory=lambda: {})


class ItemPatchIn(Input):
    """Fields left out stay as they are; `null` clears an optional field.

    `price` and `currency` change together: send both, or `"price": null` to clear both.
    """

    name: ItemName | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    price: Price | msgspec.UnsetType | None = msgspec.UNSET
    currency: CurrencyCode | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    status: ItemStatus | msgspec.UnsetType = msgspec.UNSET
    metadata: Metadata | msgspec.UnsetType = msgspec.UNSET


class ItemBatchIn(Input):
    """Up to 500 items, created together or not at all. Each is checked on its own, so one
    answer lists the problems of every row (``$.items[3].name``)."""

    # Decoded as objects and converted row by row (ItemsService.create_items); documented as ItemIn.
    items: Annotated[
        list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=MAX_BATCH, extra={OPENAPI_ITEMS: ItemIn})
    ]


class ItemOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    description: str | None
    price: int | None
    currency: str | None
    tags: list[str]
    status: ItemStatus
    metadata: dict[str, Any]
    # Bumped by every change; the ETag header carries it (as "v<version>").
    version: int
    created_by_type: ActorType
    created_by: UUID
    created_at: datetime
    updated_at: datetime


class ItemCursor(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The sort key of a page's last row; only the key of the list's own sort is set."""

    s: ItemSort
    i: UUID
    t: datetime | None = None
    n: str | None = None
    p: int | None = None

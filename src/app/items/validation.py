"""Rules about an item that its Struct types cannot say: currency codes, price with currency,
metadata size, tag folding. Each returns field errors rather than raising, so a batch can
report every row's problems in one answer."""

from __future__ import annotations

from typing import Any

import msgspec

from app.core.responses import FieldError
from app.items.currencies import ISO_4217_CODES
from app.items.structs import MAX_METADATA_BYTES, ItemIn, ItemPatchIn

__all__ = ["check_item", "check_patch", "normalise_item", "patch_changes"]


_CURRENCIES = frozenset(ISO_4217_CODES)


def _check_currency(code: str | None, path: str) -> list[FieldError]:
    if code is not None and code not in _CURRENCIES:
        return [FieldError(path=f"{path}.currency", message=f"{code} is not an ISO 4217 currency code")]
    return []


def _check_metadata(metadata: dict[str, Any], path: str) -> list[FieldError]:
    encoded = msgspec.json.encode(metadata)
    if b"\\u0000" in encoded:
        return [FieldError(path=f"{path}.metadata", message="metadata may not contain NUL characters")]
    size = len(encoded)
    if size > MAX_METADATA_BYTES:
        return [
            FieldError(
                path=f"{path}.metadata",
                message=f"metadata is {size} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed",
            )
        ]
    return []


def check_item(item: ItemIn, path: str = "$") -> list[FieldError]:
    errors: list[FieldError] = []
    if (item.price is None) != (item.currency is None):
        missing = "currency" if item.currency is None else "price"
        errors.append(FieldError(path=f"{path}.{missing}", message="price and currency go together"))
    errors += _check_currency(item.currency, path)
    errors += _check_metadata(item.metadata, path)
    return errors


def check_patch(patch: ItemPatchIn) -> list[FieldError]:
    errors: list[FieldError] = []
    price_sent = patch.price is not msgspec.UNSET
    currency_sent = patch.currency is not msgspec.UNSET
    if patch.price is None:
        if patch.currency not in (None, msgspec.UNSET):
            errors.append(FieldError(path="$.currency", message='"price": null clears the currency too'))
    elif price_sent != currency_sent or (price_sent and patch.currency is None):
        missing = "$.currency" if price_sent else "$.price"
        errors.append(FieldError(path=missing, message="price and currency change together"))
    if isinstance(patch.currency, str):
        errors += _check_currency(patch.currency, "$")
    if isinstance(patch.metadata, dict):
        errors += _check_metadata(patch.metadata, "$")
    return errors


def normalise_item(item: ItemIn) -> dict[str, Any]:
    """The columns of a new item, tags de-duplicated in their given order."""
    return {
        "name": item.name,
        "description": item.description,
        "price": item.price,
        "currency": item.currency,
        "tags": list(dict.fromkeys(item.tags)),
        "status": item.status,
        "metadata": item.metadata,
    }


def patch_changes(patch: ItemPatchIn) -> dict[str, Any]:
    """The fields a PATCH sent, normalised like a new item's."""
    changes = {
        field: value
        for field in ItemPatchIn.__struct_fields__
        if (value := getattr(patch, field)) is not msgspec.UNSET
    }
    if "tags" in changes:
        changes["tags"] = list(dict.fromkeys(changes["tags"]))
    if changes.get("price", msgspec.UNSET) is None:
        changes["currency"] = None
    return changes

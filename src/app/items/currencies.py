"""The ISO 4217 currency codes an item's price may be in (pycountry's list), loaded once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import pycountry

__all__ = ["ISO_4217_CODES"]


def _codes() -> tuple[str, ...]:
    currencies = cast(Iterable[Any], pycountry.currencies)  # the package is untyped
    return tuple(sorted(currency.alpha_3 for currency in currencies))


ISO_4217_CODES: tuple[str, ...] = _codes()

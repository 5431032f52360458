"""GET /orgs/{org_id}/items: every sort order paged with small pages visits every item once in
the right order, keyset pages stay stable under inserts, filters (alone, combined, with every
sort), search, and the parameters and cursors that are refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import Client, User, expect_data, expect_no_content, expect_problem
from tests.items.item_helpers import (
    SORTS,
    create_batch,
    create_item,
    expected_order,
    get_item,
    ids,
    insert_rows,
    item_url,
    items_url,
    list_all,
    list_page,
    live_items,
)
from tests.orgs.org_helpers_orgs import Pool, org_with

BASE = datetime(2020, 1, 1, tzinfo=UTC)

# Names chosen for byte order: upper before lower case, accents and CJK after ASCII, U+FB01 (ﬁ)
# before U+1F600 (an emoji, which UTF-16 order would put first), duplicates tied by id.
NAMES = [
    "apple",
    "Apple",
    "apple",
    "Äpfel",
    "Zebra",
    "zebra",
    "éclair",
    "日本",
    "😀 grin",
    "\ufb01sh",
    "a",
    "aa",
    "a b",
    "A-1",
    "~tilde",
    "123",
    "apple",
    "Ωmega",
]
PRICES: list[int | None] = [None, 0, 5, 100, 100, None, 10**15, 999, 5, None, 1, 2, 3, 100, None, 7, 0, 42]


async def _sort_fixture(client: Client, db: Pool) -> tuple[str, User, list[dict[str, Any]]]:
    """An org with 18 live items (creation times with ties), one deleted item and another org's
    items; the live items as stored."""
    org_id, owner, _ = await org_with(client, db)
    rows = [
        {"name": name, **({"price": price, "currency": "EUR"} if price is not None else {})}
        for name, price in zip(NAMES, PRICES, strict=True)
    ]
    created = await create_batch(client, org_id, owner.headers, rows)
    # Creation times: pairs share a moment (ordered by id then), the last four keep the batch's.
    for index, item in enumerate(created[:14]):
        await db.execute(
            "UPDATE items SET created_at = $2 WHERE id = $1::uuid",
            item["id"],
            BASE + timedelta(minutes=(index * 7) % 5, microseconds=(index // 5) % 2),
        )
    doomed = await create_item(client, org_id, owner.headers, name="apple", price=50, currency="EUR")
    expect_no_content(await client.delete(item_url(org_id, doomed["id"]), headers=owner.headers))
    other_org, other_owner, _ = await org_with(client, db)
    await create_batch(client, other_org, other_owner.headers, rows[:5])
    return org_id, owner, await live_items(db, org_id)


@pytest.mark.parametrize("limit", [1, 4, 100])
@pytest.mark.parametrize("sort", SORTS)
async def test_every_sort_visits_every_item_once_in_order(
    client: Client, db: Pool, sort: str, limit: int
) -> None:
    org_id, owner, items = await _sort_fixture(client, db)

    listed = await list_all(client, org_id, owner.headers, limit=limit, sort=sort)

    assert ids(listed) == expected_order(sort, items)
    assert len(set(ids(listed))) == len(items) == 18


async def test_default_order_is_newest_first_and_default_limit_is_20(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_batch(client, org_id, owner.headers, [{"name": f"n{i}"} for i in range(25)])
    for index, item in enumerate(created):
        await db.execute(
            "UPDATE items SET created_at = $2 WHERE id = $1::uuid",
            item["id"],
            BASE + timedelta(hours=index % 10),
        )
    items = await live_items(db, org_id)

    data, meta = await list_page(client, org_id, owner.headers)
    rest, last_meta = await list_page(client, org_id, owner.headers, cursor=meta["next_cursor"])

    assert len(data) == 20
    assert meta["has_more"] is True
    assert ids(data + rest) == expected_order("-created_at", items)
    assert last_meta == {"next_cursor": None, "has_more": False}
    # A list shows items exactly as a read does.
    assert data[0] == expect_data(await get_item(client, org_id, data[0]["id"], owner.headers))


async def test_price_sort_puts_unpriced_items_first_ascending_and_last_descending(
    client: Client, db: Pool
) -> None:
    org_id, owner, _ = await org_with(client, db)
    await create_batch(
        client,
        org_id,
        owner.headers,
        [
            {"name": "free", "price": 0, "currency": "EUR"},
            {"name": "none"},
            {"name": "ten", "price": 10, "currency": "EUR"},
        ],
    )

    ascending = await list_all(client, org_id, owner.headers, sort="price", limit=1)
    descending = await list_all(client, org_id, owner.headers, sort="-price", limit=1)

    assert [item["name"] for item in ascending] == ["none", "free", "ten"]
    assert [item["name"] for item in descending] == ["ten", "free", "none"]


async def test_an_empty_list(client: Client, db: Pool) -> None:
    org_id, _, [viewer] = await org_with(client, db, "viewer")

    data, meta = await list_page(client, org_id, viewer.headers)

    assert data == []
    assert meta == {"next_cursor": None, "has_more": False}


async def test_a_full_last_page_has_no_next_cursor(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    await create_batch(client, org_id, owner.headers, [{"name": f"n{i}"} for i in range(4)])

    data, meta = await list_page(client, org_id, owner.headers, limit=4)

    assert len(data) == 4
    assert meta == {"next_cursor": None, "has_more": False}


@pytest.mark.parametrize("sort", SORTS)
async def test_inserts_between_pages_neither_repeat_nor_skip_items(
    client: Client, db: Pool, sort: str
) -> None:
    org_id, owner, items = await _sort_fixture(client, db)
    expected = expected_order(sort, items)
    seen: list[str] = []
    cursor: str | None = None
    for page in range(30):
        params: dict[str, Any] = {"sort": sort, "limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        data, meta = await list_page(client, org_id, owner.headers, **params)
        seen.extend(ids(data))
        # New items around every position of every order: names, prices and (now) times.
        await create_batch(
            client,
            org_id,
            owner.headers,
            [
                {"name": "apple", "price": 5, "currency": "EUR"},
                {"name": f"0-new {page}"},
                {"name": "zz-new", "price": 100, "currency": "EUR"},
                {"name": "日本", "price": 10**15, "currency": "EUR"},
            ],
        )
        cursor = meta["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen)), "an item was listed twice"
    assert [item_id for item_id in seen if item_id in set(expected)] == expected


# ---- filters ---------------------------------------------------------------------------------------

FILTER_ROWS: list[dict[str, Any]] = [
    {
        "name": "Red apple",
        "description": "fresh fruit",
        "price": 120,
        "currency": "EUR",
        "tags": ["fruit", "red"],
    },
    {"name": "Green apple", "price": 90, "currency": "EUR", "tags": ["fruit"], "status": "draft"},
    {
        "name": "Apple pie",
        "description": "dessert with apple",
        "price": 450,
        "currency": "USD",
        "tags": ["bakery"],
    },
    {"name": "Banana", "description": "yellow fruit", "price": 30, "currency": "USD", "tags": ["fruit"]},
    {"name": "Café crème", "description": "coffee", "price": 300, "currency": "EUR", "status": "archived"},
    {"name": "café noir", "description": "Coffee, black", "tags": ["drinks"]},
    {"name": "Cafeteria tray", "price": 0, "currency": "GBP", "tags": ["kitchen", "red"]},
    {"name": "Äpfel", "description": "German apples", "price": 100, "currency": "EUR", "tags": ["fruit"]},
    {"name": "Äpfelstrudel", "price": 100, "currency": "EUR", "tags": ["bakery"], "status": "draft"},
    {"name": "apfel", "description": "lower-case", "tags": ["fruit"]},
    {"name": "Zucchini", "price": 10**15, "currency": "JPY", "tags": ["veg"]},
    {"name": "Zucker", "description": "sugar", "status": "archived"},
    {"name": "日本茶", "description": "green tea", "price": 700, "currency": "JPY", "tags": ["drinks"]},
    {"name": "日本酒", "price": 1500, "currency": "JPY", "tags": ["drinks"]},
]


async def _filter_fixture(client: Client, db: Pool) -> tuple[str, User, list[dict[str, Any]]]:
    org_id, owner, _ = await org_with(client, db)
    rows = [
        {**row, "created_at": BASE + timedelta(hours=index // 2)} for index, row in enumerate(FILTER_ROWS)
    ]
    await insert_rows(db, org_id, owner.id, rows)
    # Noise that every filter must leave out: a deleted match and another org's matches.
    [deleted] = await insert_rows(db, org_id, owner.id, [{**FILTER_ROWS[0], "created_at": BASE}])
    await db.execute("UPDATE items SET deleted_at = now() WHERE id = $1::uuid", deleted)
    other_org, other_owner, _ = await org_with(client, db)
    await insert_rows(db, other_org, other_owner.id, [{**row, "created_at": BASE} for row in FILTER_ROWS])
    return org_id, owner, await live_items(db, org_id)


def _at(hours: int) -> datetime:
    return BASE + timedelta(hours=hours)


def _created(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["created_at"])


FILTERS: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("status draft", {"status": "draft"}, lambda i: i["status"] == "draft"),
    ("status archived", {"status": "archived"}, lambda i: i["status"] == "archived"),
    ("tag fruit", {"tag": "fruit"}, lambda i: "fruit" in i["tags"]),
    ("tag red", {"tag": "red"}, lambda i: "red" in i["tags"]),
    ("tag nobody has", {"tag": "none"}, lambda i: False),
    ("currency EUR", {"currency": "EUR"}, lambda i: i["currency"] == "EUR"),
    ("price_min 100", {"price_min": 100}, lambda i: i["price"] is not None and i["price"] >= 100),
    ("price_max 100", {"price_max": 100}, lambda i: i["price"] is not None and i["price"] <= 100),
    ("price_min 0", {"price_min": 0}, lambda i: i["price"] is not None),
    ("price_max 0", {"price_max": 0}, lambda i: i["price"] == 0),
    (
        "price range",
        {"price_min": 90, "price_max": 300},
        lambda i: i["price"] is not None and 90 <= i["price"] <= 300,
    ),
    ("price exact", {"price_min": 100, "price_max": 100}, lambda i: i["price"] == 100),
    ("price top", {"price_min": 10**15}, lambda i: i["price"] == 10**15),
    ("created_from", {"created_from": _at(3).isoformat()}, lambda i: _created(i) >= _at(3)),
    ("created_to", {"created_to": _at(3).isoformat()}, lambda i: _created(i) < _at(3)),
    (
        "created range",
        {"created_from": _at(1).isoformat(), "created_to": _at(5).isoformat()},
        lambda i: _at(1) <= _created(i) < _at(5),
    ),
    (
        "created range without offset (UTC)",
        {"created_from": "2020-01-01T02:00:00", "created_to": "2020-01-01T04:00:00"},
        lambda i: _at(2) <= _created(i) < _at(4),
    ),
    (
        "created range in another offset",
        {"created_from": "2020-01-01T03:00:00+02:00", "created_to": "2020-01-01T06:00:00+02:00"},
        lambda i: _at(1) <= _created(i) < _at(4),
    ),
    ("name_prefix Äpfel", {"name_prefix": "Äpfel"}, lambda i: i["name"].startswith("Äpfel")),
    ("name_prefix Caf (case)", {"name_prefix": "Caf"}, lambda i: i["name"].startswith("Caf")),
    ("name_prefix caf", {"name_prefix": "caf"}, lambda i: i["name"].startswith("caf")),
    ("name_prefix Café", {"name_prefix": "Café"}, lambda i: i["name"].startswith("Café")),
    ("name_prefix 日本", {"name_prefix": "日本"}, lambda i: i["name"].startswith("日本")),
    ("name_prefix Zucc", {"name_prefix": "Zucc"}, lambda i: i["name"].startswith("Zucc")),
    ("name_prefix whole name", {"name_prefix": "Zucker"}, lambda i: i["name"].startswith("Zucker")),
    ("name_prefix none", {"name_prefix": "Zz"}, lambda i: False),
    (
        "combined",
        {"tag": "fruit", "currency": "EUR", "price_max": 110, "status": "active"},
        lambda i: (
            "fruit" in i["tags"]
            and i["currency"] == "EUR"
            and i["price"] is not None
            and i["price"] <= 110
            and i["status"] == "active"
        ),
    ),
    (
        "combined with prefix and time",
        {"name_prefix": "Ä", "created_from": _at(4).isoformat()},
        lambda i: i["name"].startswith("Ä") and _created(i) >= _at(4),
    ),
]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize(("params", "matches"), [(p, m) for _, p, m in FILTERS], ids=[f[0] for f in FILTERS])
async def test_filters_with_every_sort_and_small_pages(
    client: Client, db: Pool, sort: str, params: dict[str, Any], matches: Callable[[dict[str, Any]], bool]
) -> None:
    org_id, owner, items = await _filter_fixture(client, db)
    expected = expected_order(sort, [item for item in items if matches(item)])

    listed = await list_all(client, org_id, owner.headers, limit=2, sort=sort, **params)

    assert ids(listed) == expected


async def test_the_filter_expectations_are_not_trivial(client: Client, db: Pool) -> None:
    """Each filter above keeps some items and drops others (except the two meant to be empty)."""
    org_id, _, items = await _filter_fixture(client, db)
    assert len(items) == len(FILTER_ROWS)
    for name, _params, matches in FILTERS:
        kept = sum(1 for item in items if matches(item))
        if name in ("tag nobody has", "name_prefix none"):
            assert kept == 0
        else:
            assert 0 < kept < len(items), name
    assert org_id


SEARCHES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("one word", {"search": "apple"}, ["Red apple", "Green apple", "Apple pie"]),
    ("case-insensitive", {"search": "APPLE"}, ["Red apple", "Green apple", "Apple pie"]),
    ("description words", {"search": "fruit"}, ["Red apple", "Banana"]),
    ("two words", {"search": "yellow fruit"}, ["Banana"]),
    ("excluded word", {"search": "apple -pie"}, ["Red apple", "Green apple"]),
    ("or", {"search": "banana or coffee"}, ["Banana", "Café crème", "café noir"]),
    ("phrase", {"search": '"green tea"'}, ["日本茶"]),
    ("accents", {"search": "café"}, ["Café crème", "café noir"]),
    ("no match", {"search": "durian"}, []),
    ("with a filter", {"search": "apple", "tag": "fruit"}, ["Red apple", "Green apple"]),
    ("with a status", {"search": "coffee", "status": "archived"}, ["Café crème"]),
    ("with a price range", {"search": "apple", "price_min": 100}, ["Red apple", "Apple pie"]),
    ("with a prefix", {"search": "apple", "name_prefix": "Apple"}, ["Apple pie"]),
]


@pytest.mark.parametrize(("params", "names"), [(p, n) for _, p, n in SEARCHES], ids=[s[0] for s in SEARCHES])
async def test_search_finds_words_newest_first_across_pages(
    client: Client, db: Pool, params: dict[str, Any], names: list[str]
) -> None:
    org_id, owner, items = await _filter_fixture(client, db)
    expected = expected_order("-created_at", [item for item in items if item["name"] in names])

    listed = await list_all(client, org_id, owner.headers, limit=1, **params)
    explicit = await list_all(client, org_id, owner.headers, limit=2, sort="-created_at", **params)

    assert sorted(item["name"] for item in listed) == sorted(names)
    assert ids(listed) == expected
    assert ids(explicit) == expected


# ---- refused parameters and cursors --------------------------------------------------------------------


INVALID_PARAMS: list[tuple[str, dict[str, Any], str]] = [
    ("limit 0", {"limit": 0}, "limit"),
    ("limit 101", {"limit": 101}, "limit"),
    ("limit not a number", {"limit": "ten"}, "limit"),
    ("unknown sort", {"sort": "updated_at"}, "sort"),
    ("sort with a space", {"sort": " name"}, "sort"),
    ("unknown status", {"status": "deleted"}, "status"),
    ("bad tag", {"tag": "Bad Tag"}, "tag"),
    ("lower-case currency", {"currency": "eur"}, "currency"),
    ("negative price_min", {"price_min": -1}, "price_min"),
    ("price_max too large", {"price_max": 10**15 + 1}, "price_max"),
    ("price_min above price_max", {"price_min": 10, "price_max": 9}, "price_min"),
    (
        "created_from equals created_to",
        {"created_from": "2020-01-01T00:00:00Z", "created_to": "2020-01-01T00:00:00Z"},
        "created_from",
    ),
    (
        "created_from after created_to",
        {"created_from": "2021-01-01T00:00:00Z", "created_to": "2020-01-01T00:00:00Z"},
        "created_from",
    ),
    ("created_from not a time", {"created_from": "yesterday"}, "created_from"),
    ("empty name_prefix", {"name_prefix": ""}, "name_prefix"),
    ("name_prefix with a control char", {"name_prefix": "a\tb"}, "name_prefix"),
    ("search with sort=name", {"search": "apple", "sort": "name"}, "sort"),
    ("search with sort=price", {"search": "apple", "sort": "-price"}, "sort"),
    ("search with sort=created_at", {"search": "apple", "sort": "created_at"}, "sort"),
    ("empty search", {"search": ""}, "search"),
]


@pytest.mark.parametrize(
    ("params", "path"), [(p, x) for _, p, x in INVALID_PARAMS], ids=[c[0] for c in INVALID_PARAMS]
)
async def test_invalid_parameters_are_422(
    client: Client, db: Pool, params: dict[str, Any], path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.get(items_url(org_id), params=params, headers=owner.headers)

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert path in [error["path"] for error in problem["errors"]], problem


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


async def test_tampered_cursors_are_422_invalid_cursor(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    await create_batch(client, org_id, owner.headers, [{"name": f"n{i}"} for i in range(3)])
    _, meta = await list_page(client, org_id, owner.headers, limit=1)
    good: str = meta["next_cursor"]
    tampered = [
        "!!!",
        "not-base64-json",
        good[:-4],
        good + "x",
        _cursor({"s": "-created_at"}),
        _cursor({"s": "-created_at", "i": "not-a-uuid", "t": "2020-01-01T00:00:00Z"}),
        _cursor({"s": "sideways", "i": "01a22507-a9f2-779d-be3f-f353b8e81e94"}),
        _cursor(["-created_at"]),
        _cursor("x"),
        "é",
    ]

    for cursor in tampered:
        response = await client.get(items_url(org_id), params={"cursor": cursor}, headers=owner.headers)
        problem = expect_problem(response, 422, "INVALID_CURSOR")
        assert [error["path"] for error in problem["errors"]] == ["cursor"], (cursor, problem)


@pytest.mark.parametrize(
    ("made_with", "used_with"),
    [
        ("name", "price"),
        ("name", "-name"),
        ("-created_at", "created_at"),
        ("price", "name"),
        ("-price", "-created_at"),
    ],
)
async def test_a_cursor_of_another_sort_is_422_invalid_cursor(
    client: Client, db: Pool, made_with: str, used_with: str
) -> None:
    org_id, owner, _ = await org_with(client, db)
    await create_batch(client, org_id, owner.headers, [{"name": f"n{i}"} for i in range(3)])
    _, meta = await list_page(client, org_id, owner.headers, limit=1, sort=made_with)

    response = await client.get(
        items_url(org_id), params={"cursor": meta["next_cursor"], "sort": used_with}, headers=owner.headers
    )

    expect_problem(response, 422, "INVALID_CURSOR")


async def test_a_cursor_with_the_key_of_another_sort_is_422_invalid_cursor(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)
    cursor = _cursor({"s": "price", "i": item["id"], "n": "Widget"})  # price order, but a name key

    response = await client.get(
        items_url(org_id), params={"cursor": cursor, "sort": "price"}, headers=owner.headers
    )

    expect_problem(response, 422, "INVALID_CURSOR")


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("price", {"p": 2**63}),
        ("-price", {"p": -(2**63) - 1}),
        ("name", {"n": "a\x00"}),
        ("-created_at", {"t": "0001-01-01T00:00:00+01:00"}),
    ],
    ids=["price above bigint", "price below bigint", "name with NUL", "time before year 1 UTC"],
)
async def test_a_cursor_with_an_impossible_key_is_422_invalid_cursor(
    client: Client, db: Pool, sort: str, key: dict[str, Any]
) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers, price=1, currency="EUR")
    cursor = _cursor({"s": sort, "i": item["id"], **key})

    response = await client.get(
        items_url(org_id), params={"cursor": cursor, "sort": sort}, headers=owner.headers
    )

    problem = expect_problem(response, 422, "INVALID_CURSOR")
    assert [error["path"] for error in problem["errors"]] == ["cursor"]


async def test_name_prefix_next_to_the_surrogate_range(client: Client, db: Pool) -> None:
    """The bound after a prefix ending in U+D7FF skips the surrogates (U+D800..U+DFFF) to U+E000."""
    org_id, owner, _ = await org_with(client, db)
    await create_batch(
        client,
        org_id,
        owner.headers,
        [{"name": n} for n in ("a\ud7fe", "a\ud7ff", "a\ud7ffz", "a\ue000", "a\uffff", "b")],
    )

    for sort in ("name", "-name"):
        listed = await list_all(client, org_id, owner.headers, limit=1, sort=sort, name_prefix="a\ud7ff")
        names = [item["name"] for item in listed]
        assert names == (["a\ud7ff", "a\ud7ffz"] if sort == "name" else ["a\ud7ffz", "a\ud7ff"])
    highest = await list_all(client, org_id, owner.headers, sort="name", name_prefix="a\uffff")
    assert [item["name"] for item in highest] == ["a\uffff"]


async def test_a_cursor_keeps_working_after_its_item_is_deleted(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_batch(client, org_id, owner.headers, [{"name": f"n{i}"} for i in range(5)])
    first, meta = await list_page(client, org_id, owner.headers, limit=2, sort="name")
    expect_no_content(await client.delete(item_url(org_id, first[-1]["id"]), headers=owner.headers))

    rest = await list_all(client, org_id, owner.headers, limit=2, sort="name", cursor=meta["next_cursor"])

    assert [item["name"] for item in first + rest] == [item["name"] for item in created]


async def test_lists_need_membership(client: Client, db: Pool) -> None:
    org_id, owner, [viewer] = await org_with(client, db, "viewer")
    other_org, _, _ = await org_with(client, db)
    await create_item(client, org_id, owner.headers)

    assert len(await list_all(client, org_id, viewer.headers)) == 1
    expect_problem(await client.get(items_url(other_org), headers=viewer.headers), 404, "NOT_FOUND")
    expect_problem(await client.get(items_url(org_id)), 401, "AUTHENTICATION_REQUIRED")

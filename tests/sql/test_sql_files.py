"""The named SQL under `sql/` follows DESIGN.md §4.

Every file starts with a comment saying what it does and which index serves it, holds named
queries (`-- name: verb_noun(...)`), lists its columns (no `SELECT *`), takes parameters only
(no string formatting), limits its lists, and every query on a tenant table (one with an
`org_id` column) takes `:org_id`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.core.db import SQL_DIR

SQL_FILES = sorted(SQL_DIR.rglob("*.sql"))
NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>.*)$", re.MULTILINE)
SQL_STRING = re.compile(r"'(?:[^']|'')*'")
LINE_COMMENT = re.compile(r"--[^\n]*")
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
# A table read or written by a statement: FROM t, JOIN t, UPDATE t, DELETE FROM t, INSERT INTO t.
TABLE_REF = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(?:ONLY\s+)?\"?(?P<table>[a-z_][a-z0-9_]*)", re.I)
ORG_ID_PARAM = re.compile(r"(?<!:):org_id\b")
VERB_NOUN = re.compile(r"[a-z]+(?:_[a-z0-9]+)+")


@dataclass(frozen=True)
class NamedQuery:
    path: Path
    name: str
    suffix: str
    body: str  # the SQL after the name line, comments included

    @property
    def code(self) -> str:
        """The SQL without comments and string literals: what the statement does."""
        return SQL_STRING.sub("''", strip_comments(self.body))

    def __str__(self) -> str:
        return f"{self.path.relative_to(SQL_DIR)}:{self.name}"


def strip_comments(text: str) -> str:
    return LINE_COMMENT.sub("", BLOCK_COMMENT.sub("", text))


def leading_comment(text: str) -> list[str]:
    """The comment lines a file starts with (the name line ends the block)."""
    lines: list[str] = []
    for line in text.lstrip("\ufeff").splitlines():
        stripped = line.strip()
        if not stripped.startswith("--") or NAME_LINE.match(stripped):
            break
        lines.append(stripped)
    return lines


def named_queries(path: Path) -> list[NamedQuery]:
    text = path.read_text()
    matches = list(NAME_LINE.finditer(text))
    queries: list[NamedQuery] = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        queries.append(NamedQuery(path, match["name"], match["rest"].strip(), text[match.end() : end]))
    return queries


ALL_QUERIES = [query for path in SQL_FILES for query in named_queries(path)]


def file_id(path: Path) -> str:
    return str(path.relative_to(SQL_DIR))


def test_sql_files_are_found() -> None:
    assert len(SQL_FILES) >= 10, SQL_DIR
    assert len(ALL_QUERIES) >= len(SQL_FILES)


INDEX_NAME = re.compile(r"\b[a-z][a-z0-9_]*_(?:pkey|key|idx)\b")


@pytest.fixture(scope="module")
async def schema_indexes(db: asyncpg.Pool[Any]) -> set[str]:
    rows = await db.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return {row["indexname"] for row in rows}


@pytest.mark.parametrize("path", SQL_FILES, ids=file_id)
def test_file_starts_with_a_purpose_comment_naming_its_index(path: Path, schema_indexes: set[str]) -> None:
    text = path.read_text()
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    message = f"{file_id(path)} must start with a `--` comment saying what the query is for"
    assert re.match(r"--\s*\S", first), message
    assert not NAME_LINE.match(first), message
    comment = " ".join(leading_comment(text))
    named = set(INDEX_NAME.findall(comment))
    # "Index: users_pkey." is the house style; naming the index without the word also says it.
    assert re.search(r"\b[Ii]ndex(es)?\b", comment) or named, (
        f"the leading comment of {file_id(path)} must name the index that serves it"
    )
    stale = named - schema_indexes
    assert not stale, f"{file_id(path)} names indexes the schema does not have: {sorted(stale)}"


@pytest.mark.parametrize("path", SQL_FILES, ids=file_id)
def test_file_has_named_queries(path: Path) -> None:
    queries = named_queries(path)
    assert queries, f"{file_id(path)} has no `-- name:` line"
    for query in queries:
        assert VERB_NOUN.fullmatch(query.name), f"{query}: names are verb_noun in lower case"
        assert query.code.strip(), f"{query} has no SQL"
    # One concern per file: the file is named after its (first) query.
    assert queries[0].name == path.stem, f"{file_id(path)} holds `{queries[0].name}`, not `{path.stem}`"


def test_query_names_are_unique_per_folder() -> None:
    seen: dict[tuple[Path, str], NamedQuery] = {}
    for query in ALL_QUERIES:
        key = (query.path.parent, query.name)
        assert key not in seen, f"{query} and {seen[key]} share a name"
        seen[key] = query


@pytest.mark.parametrize("path", SQL_FILES, ids=file_id)
def test_no_select_star(path: Path) -> None:
    code = SQL_STRING.sub("''", strip_comments(path.read_text()))
    for pattern in (r"\bSELECT\s+(?:DISTINCT\s+)?\*", r"\bRETURNING\s+\*", r"\b\w+\.\*"):
        found = re.search(pattern, code, re.IGNORECASE)
        assert found is None, f"{file_id(path)}: `{found and found.group(0)}`; list the columns"


# Markers of Python string formatting (str.format, f-strings, %-formatting) or SQL built from
# strings (format(), EXECUTE of text): queries take bound parameters only.
FORMATTING = re.compile(
    r"[{}]|%[sdr(]|\bformat\s*\(|\bEXECUTE\b|\bquote_(?:ident|literal|nullable)\s*\(", re.I
)
PLACEHOLDER_IN_STRING = re.compile(r"\{\w*\}|%[sdr(]")


@pytest.mark.parametrize("path", SQL_FILES, ids=file_id)
def test_parameters_only_no_string_formatting(path: Path) -> None:
    text = strip_comments(path.read_text())
    code = SQL_STRING.sub("''", text)
    found = FORMATTING.search(code)
    assert found is None, f"{file_id(path)}: `{found and found.group(0)}` looks like string formatting"
    for literal in SQL_STRING.findall(text):
        assert not PLACEHOLDER_IN_STRING.search(literal), f"{file_id(path)}: placeholder in {literal}"


@pytest.mark.parametrize("query", ALL_QUERIES, ids=str)
def test_list_queries_are_limited(query: NamedQuery) -> None:
    if not query.name.startswith("list_"):
        return
    assert re.search(r"\bLIMIT\b", query.code, re.IGNORECASE), f"{query} is a list without LIMIT"


# ---- tenant isolation ------------------------------------------------------------------------


async def tenant_tables(conn: Any) -> set[str]:
    """Tables (and views) of the schema with an `org_id` column: tenant-owned data."""
    names = await conn.fetch(
        "SELECT DISTINCT table_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND column_name = 'org_id'"
    )
    return {row["table_name"] for row in names}


def is_declared_cross_tenant(query: NamedQuery) -> bool:
    """A file may opt out of the org_id rule only by saying why in its header, where DBAs read it."""
    return any(line.startswith("-- cross-tenant: ") for line in leading_comment(query.path.read_text()))


def queries_missing_org_id(queries: list[NamedQuery], tenant: set[str]) -> list[str]:
    """The queries that touch a tenant table without taking `:org_id`, with the tables."""
    missing: list[str] = []
    for query in queries:
        if query.path.exists() and is_declared_cross_tenant(query):
            continue
        touched = {m["table"].lower() for m in TABLE_REF.finditer(query.code)} & tenant
        if touched and not ORG_ID_PARAM.search(query.code):
            missing.append(f"{query} ({', '.join(sorted(touched))})")
    return missing


async def test_every_query_on_a_tenant_table_takes_org_id(
    db: asyncpg.Pool[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    async with db.acquire() as conn:
        tenant = await tenant_tables(conn)
    with capsys.disabled():  # make the scope of the check visible in the run's output
        print(  # noqa: T201
            f"\n[tenant check] tables with org_id: {', '.join(sorted(tenant)) or 'none yet'};"
            f" {len(ALL_QUERIES)} named queries checked"
        )
    missing = queries_missing_org_id(ALL_QUERIES, tenant)
    assert missing == [], "queries on tenant tables without :org_id:\n" + "\n".join(missing)


async def test_the_tenant_check_catches_a_query_without_org_id(db: asyncpg.Pool[Any]) -> None:
    """The check above is vacuous until tenant tables exist; prove it bites on a real one."""
    async with db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute("CREATE TABLE zz_tenant_probe (org_id uuid NOT NULL, id uuid NOT NULL)")
            tenant = await tenant_tables(conn)
        finally:
            await transaction.rollback()  # nothing of the probe survives
    assert "zz_tenant_probe" in tenant
    probe = Path(SQL_DIR / "probe" / "probe.sql")
    bad = [
        NamedQuery(probe, "get_probe", "^", "SELECT id FROM zz_tenant_probe WHERE id = :id;"),
        NamedQuery(probe, "delete_probe", "!", "DELETE FROM zz_tenant_probe WHERE id = :id;"),
        NamedQuery(probe, "update_probe", "!", "UPDATE zz_tenant_probe SET id = :id WHERE id = :old;"),
        NamedQuery(probe, "join_probe", "", "SELECT u.id FROM users AS u JOIN zz_tenant_probe AS p ON true;"),
        NamedQuery(probe, "cast_probe", "", "SELECT id FROM zz_tenant_probe WHERE org_id = :x::org_id;"),
        NamedQuery(probe, "comment_probe", "", "-- :org_id\nSELECT id FROM zz_tenant_probe;"),
    ]
    good = [
        NamedQuery(probe, "get_probe", "^", "SELECT id FROM zz_tenant_probe WHERE org_id = :org_id;"),
        NamedQuery(probe, "get_user", "^", "SELECT id FROM users WHERE id = :id;"),
    ]
    assert len(queries_missing_org_id(bad, tenant)) == len(bad)
    assert queries_missing_org_id(good, tenant) == []

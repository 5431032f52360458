"""Migrations: up -> down -> up gives the same schema, and every file follows the conventions.

DESIGN.md §4: plain-SQL yoyo migrations, numbered, each with a rollback, tested up -> down -> up.
The round trips run on a database of their own, never on the run's shared test database.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, LiteralString

import psycopg
import pytest
import yoyo.migrations  # pyright: ignore[reportMissingTypeStubs]

import app.migrate
from app.migrate import MIGRATIONS_DIR, apply_all, rollback, status
from tests.sql.conftest import MakeDatabase

# yoyo's own parser of the leading comment block, so the header check matches what yoyo reads.
_yoyo_migrations: Any = yoyo.migrations
parse_metadata = _yoyo_migrations.parse_metadata_from_sql_comments

Snapshot = dict[str, list[tuple[Any, ...]]]

# yoyo's bookkeeping tables (_yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock) are not the app's.
NOT_YOYO = r"!~ '^_?yoyo'"

# Each query returns the rows of one kind of schema object in `public`, in a stable order.
SCHEMA_QUERIES: dict[str, LiteralString] = {
    "relations": f"""
        SELECT c.relname, c.relkind::text, c.relpersistence::text
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
            AND c.relname {NOT_YOYO}
        ORDER BY 1""",
    # The position among the live columns, not attnum: a column dropped by a rollback and added
    # again gets a new attnum (the dropped one stays behind, invisible), yet the table is the same.
    "columns": f"""
        SELECT table_name, column_name,
            row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position) AS position,
            data_type, udt_name,
            character_maximum_length, numeric_precision, is_nullable, column_default,
            is_identity, is_generated, generation_expression, collation_name
        FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name {NOT_YOYO}
        ORDER BY 1, 3""",
    "indexes": f"""
        SELECT tablename, indexname, indexdef
        FROM pg_indexes
        WHERE schemaname = 'public' AND tablename {NOT_YOYO}
        ORDER BY 1, 2""",
    "constraints": f"""
        SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid),
            k.condeferrable, k.condeferred, k.convalidated
        FROM pg_constraint AS k
        JOIN pg_class AS c ON c.oid = k.conrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relname {NOT_YOYO}
        ORDER BY 1, 2""",
    "triggers": f"""
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger AS t
        JOIN pg_class AS c ON c.oid = t.tgrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal AND c.relname {NOT_YOYO}
        ORDER BY 1, 2""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid),
            pg_get_function_result(p.oid), p.prokind::text, md5(p.prosrc)
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
        ORDER BY 1, 2""",
    "types": """
        SELECT t.typname, t.typtype::text,
            coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                      FROM pg_enum AS e WHERE e.enumtypid = t.oid), '')
        FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm')
        ORDER BY 1""",
    "extensions": """
        SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1""",
}


def snapshot(url: str) -> Snapshot:
    """Every app-owned schema object of the database at `url`, by kind."""
    with psycopg.connect(url) as conn:
        return {kind: [tuple(row) for row in conn.execute(query)] for kind, query in SCHEMA_QUERIES.items()}


def applied_ids(url: str) -> list[str]:
    return [migration_id for migration_id, applied in status(url) if applied]


def migration_files() -> list[Path]:
    """The forward migrations (``NNNN_name.sql``), in order."""
    return sorted(p for p in MIGRATIONS_DIR.glob("*.sql") if not p.name.endswith(".rollback.sql"))


def all_migration_ids() -> list[str]:
    return [p.stem for p in migration_files()]


@pytest.fixture(scope="module")
def migrated_url(make_database: MakeDatabase) -> str:
    url = make_database("migrations")
    assert applied_ids(url) == []
    assert apply_all(url) == all_migration_ids()
    return url


@pytest.fixture(scope="module")
def first_snapshot(migrated_url: str) -> Snapshot:
    return snapshot(migrated_url)


def test_there_are_migrations() -> None:
    assert migration_files(), f"no migrations in {MIGRATIONS_DIR}"


def test_the_snapshot_sees_the_schema(first_snapshot: Snapshot) -> None:
    """Guards the comparison below against passing vacuously on an empty or blind snapshot."""
    tables = {row[0] for row in first_snapshot["relations"] if row[1] == "r"}
    assert {"users", "auth_sessions", "refresh_tokens", "email_tokens", "email_outbox"} <= tables
    assert not {name for name in tables if "yoyo" in name}
    for kind in ("columns", "indexes", "constraints"):
        assert first_snapshot[kind], f"the snapshot found no {kind}"
    indexes = {row[1] for row in first_snapshot["indexes"]}
    assert {"users_email_lower_key", "auth_sessions_user_active_idx"} <= indexes
    constraint_kinds = {row[2] for row in first_snapshot["constraints"]}
    assert {"p", "f", "c"} <= constraint_kinds


def test_up_down_up_gives_the_same_schema(migrated_url: str, first_snapshot: Snapshot) -> None:
    ids = all_migration_ids()
    assert applied_ids(migrated_url) == ids

    rolled_back = rollback(migrated_url, everything=True)
    assert sorted(rolled_back) == ids
    assert applied_ids(migrated_url) == []
    leftovers = {kind: rows for kind, rows in snapshot(migrated_url).items() if rows}
    assert leftovers == {}, f"rolling back everything left app objects behind: {leftovers}"

    assert apply_all(migrated_url) == ids
    assert snapshot(migrated_url) == first_snapshot


def test_rolling_back_the_last_migration_and_reapplying_it(
    migrated_url: str, first_snapshot: Snapshot
) -> None:
    ids = all_migration_ids()
    assert rollback(migrated_url) == [ids[-1]]
    assert applied_ids(migrated_url) == ids[:-1]
    if len(ids) > 1:
        assert snapshot(migrated_url) != first_snapshot, "the last migration's rollback changed nothing"
    assert apply_all(migrated_url) == [ids[-1]]
    assert applied_ids(migrated_url) == ids
    assert snapshot(migrated_url) == first_snapshot


def test_the_round_trip_catches_a_rollback_that_leaves_objects_behind(
    make_database: MakeDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Self-test on a copy of migrations/ plus a faulty migration: the leftovers are seen."""
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    probe = f"{len(migration_files()) + 1:04d}_probe"
    (tmp_path / f"{probe}.sql").write_text(
        f"-- A faulty migration.\n-- depends: {all_migration_ids()[-1]}\n\n"
        "CREATE TABLE zz_probe (id int PRIMARY KEY);\n"
        "CREATE FUNCTION zz_probe_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
    )
    (tmp_path / f"{probe}.rollback.sql").write_text("-- Forgets to undo anything.\nSELECT 1;\n")
    monkeypatch.setattr(app.migrate, "MIGRATIONS_DIR", tmp_path)
    url = make_database("faulty")
    assert apply_all(url)[-1] == probe
    rollback(url, everything=True)
    leftovers = snapshot(url)
    assert ("zz_probe", "r", "p") in leftovers["relations"]
    assert [row[0] for row in leftovers["functions"]] == ["zz_probe_fn"]
    assert ("zz_probe", "zz_probe_pkey") in [row[:2] for row in leftovers["indexes"]]


def test_applying_twice_is_a_no_op(migrated_url: str, first_snapshot: Snapshot) -> None:
    assert apply_all(migrated_url) == []
    assert snapshot(migrated_url) == first_snapshot


# ---- the files themselves --------------------------------------------------------------------

FILE_NAME = re.compile(r"(?P<number>\d{4})_(?P<name>[a-z][a-z0-9_]*)(?P<rollback>\.rollback)?\.sql")


def test_every_file_is_named_nnnn_name() -> None:
    odd = [p.name for p in MIGRATIONS_DIR.iterdir() if p.is_file() and not FILE_NAME.fullmatch(p.name)]
    assert odd == [], f"files in migrations/ not named NNNN_name.sql / NNNN_name.rollback.sql: {odd}"


def test_numbers_are_unique_and_consecutive() -> None:
    numbers = [int(p.name[:4]) for p in migration_files()]
    assert numbers == list(range(1, len(numbers) + 1)), numbers


def test_every_migration_has_a_rollback_and_every_rollback_a_migration() -> None:
    forward = {p.stem for p in migration_files()}
    backward = {p.name.removesuffix(".rollback.sql") for p in MIGRATIONS_DIR.glob("*.rollback.sql")}
    assert forward - backward == set(), "migrations without a rollback"
    assert backward - forward == set(), "rollbacks without a migration"


@pytest.mark.parametrize("path", sorted(MIGRATIONS_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_file_starts_with_a_comment(path: Path) -> None:
    first = path.read_text().lstrip("\ufeff").splitlines()[0] if path.read_text().strip() else ""
    assert re.match(r"--\s*\S", first), f"{path.name} must start with a comment saying what it does"
    assert "TODO" not in first, f"{path.name} still has the template's TODO comment"


@pytest.mark.parametrize("path", migration_files(), ids=lambda p: p.name)
def test_migration_has_a_depends_header(path: Path) -> None:
    text = path.read_text()
    assert re.search(r"(?m)^--\s*depends\s*:", text), f"{path.name} has no `-- depends:` line"
    directives, _, _ = parse_metadata(text)
    assert "depends" in directives, f"`-- depends:` in {path.name} is not in the leading comment block"
    depends = set(directives["depends"].split())
    known = set(all_migration_ids())
    assert depends <= known, f"{path.name} depends on unknown migrations: {depends - known}"
    earlier = {migration_id for migration_id in known if migration_id < path.stem}
    assert depends <= earlier, f"{path.name} depends on itself or a later migration"
    if earlier:
        assert depends, f"{path.name} must depend on an earlier migration (the previous one)"


@pytest.mark.parametrize("path", migration_files(), ids=lambda p: p.name)
def test_concurrent_index_builds_are_not_transactional(path: Path) -> None:
    text = path.read_text()
    if not re.search(r"(?i)\bCONCURRENTLY\b", re.sub(r"--[^\n]*", "", text)):
        return
    directives, _, _ = parse_metadata(text)
    assert directives.get("transactional", "").strip().lower() == "false", (
        f"{path.name} uses CONCURRENTLY and needs `-- transactional: false`"
    )

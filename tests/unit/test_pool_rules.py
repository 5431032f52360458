"""Pooled connections carry no session state, so the pool may skip asyncpg's reset query.

`app.core.db.Database` returns connections to the pool without `RESET ALL; UNLISTEN *; ...`
(DESIGN.md §6). That is only safe while nothing leaves session state behind: no session-level
`SET` (use `SET LOCAL` inside a transaction), no `LISTEN` and no session advisory locks on a
pooled connection. These tests scan `sql/**/*.sql` and the SQL strings of `src/**/*.py`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import app.core.db
from app.core.db import SQL_DIR

ROOT = SQL_DIR.parent
SRC_DIR = ROOT / "src"
# Modules allowed to LISTEN because they do it on a dedicated (non-pooled) connection.
# The job worker LISTENs for NOTIFY on a connection of its own, never a pooled one.
DEDICATED_CONNECTION_MODULES: frozenset[str] = frozenset({"app/jobs/worker.py"})

SESSION_SET = re.compile(r"^SET\s+(?!LOCAL\b)(?:SESSION\s+)?[a-z_][a-z0-9_.]*\s*(?:=|\bTO\b)", re.I)
SESSION_STATE = [
    # A statement of its own; upper-case LISTEN anywhere (e.g. inside DO blocks) counts too.
    ("LISTEN", re.compile(r"(?i:^LISTEN\s+\S)|\bLISTEN\b")),
    ("session advisory lock", re.compile(r"\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(", re.I)),
    ("set_config(..., false)", re.compile(r"\bset_config\s*\([^;]*,\s*false\s*\)", re.I)),
    ("SET SESSION AUTHORIZATION/ROLE", re.compile(r"^SET\s+(?:SESSION\s+)?(?:ROLE|SESSION\s+AUTH)", re.I)),
    # ... unless it is dropped at commit, which leaves nothing on the connection.
    (
        "temporary table",
        re.compile(
            r"\bCREATE\s+(?:GLOBAL\s+|LOCAL\s+)?TEMP(?:ORARY)?\s+TABLE\b(?![^;]*\bON\s+COMMIT\s+DROP\b)", re.I
        ),
    ),
    ("PREPARE", re.compile(r"^PREPARE\s+\w+\s*(?:\(|AS\b)", re.I)),
    ("DECLARE ... WITH HOLD", re.compile(r"\bWITH\s+HOLD\b", re.I)),
]
COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def statements(sql: str) -> list[str]:
    """The statements of a SQL text, comments removed, each stripped."""
    return [part.strip() for part in COMMENTS.sub(" ", sql).split(";") if part.strip()]


def violations(sql: str, *, allow_listen: bool = False) -> list[str]:
    """What in `sql` would leave state on the session of the connection that runs it."""
    found: list[str] = []
    for statement in statements(sql):
        if SESSION_SET.match(statement):
            found.append(f"session-level SET: {statement[:80]!r}")
        found.extend(
            f"{what}: {statement[:80]!r}"
            for what, rx in SESSION_STATE
            if rx.search(statement) and not (allow_listen and what == "LISTEN")
        )
    return found


@pytest.mark.parametrize(
    ("sql", "bad"),
    [
        ("SET statement_timeout = 0", True),
        ("set search_path TO app, public;", True),
        ("SET SESSION work_mem = '64MB'", True),
        ("SELECT 1; SET lock_timeout TO '1s'", True),
        ("LISTEN jobs", True),
        ("listen jobs", True),
        ("DO $$ BEGIN EXECUTE 'LISTEN jobs'; END $$", True),
        ("PREPARE q (int) AS SELECT $1", True),
        ("the server will listen on port 8000", False),
        ("Prepare the payload", False),
        ("SELECT pg_advisory_lock(42)", True),
        ("SELECT pg_try_advisory_lock(hashtext(:name))", True),
        ("SELECT set_config('app.org_id', :org_id, false)", True),
        ("SET ROLE admin", True),
        ("CREATE TEMP TABLE t (id int)", True),
        ("CREATE TEMPORARY TABLE t (id int) ON COMMIT DROP", False),
        ("CREATE TEMP TABLE t (id int); SELECT 1 ON COMMIT DROP", True),
        ("SET LOCAL statement_timeout = 0", False),
        ("set local plan_cache_mode to force_generic_plan", False),
        ("UPDATE users\nSET used_at = now() WHERE id = :id", False),
        ("SELECT pg_advisory_xact_lock(42)", False),
        ("SELECT set_config('app.org_id', :org_id, true)", False),
        ("-- SET statement_timeout = 0 (a comment)\nSELECT 1", False),
        ("SELECT listener_count FROM stats", False),
    ],
)
def test_the_detector(sql: str, bad: bool) -> None:
    assert bool(violations(sql)) is bad, violations(sql)


SQL_FILES = sorted(SQL_DIR.rglob("*.sql"))


def test_there_is_sql_to_scan() -> None:
    assert SQL_FILES
    assert list(SRC_DIR.rglob("*.py"))


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(SQL_DIR)))
def test_sql_files_leave_no_session_state(path: Path) -> None:
    assert violations(path.read_text()) == []


def docstring_nodes(tree: ast.Module) -> set[int]:
    """ids of the string nodes that are docstrings (prose, not SQL)."""
    owners = [
        tree,
        *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)),
    ]
    found: set[int] = set()
    for owner in owners:
        body = owner.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            found.add(id(body[0].value))
    return found


def source_strings(path: Path) -> list[str]:
    """The string constants of a module except its docstrings: where inline SQL would be."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = docstring_nodes(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


PY_FILES = sorted(SRC_DIR.rglob("*.py"))


@pytest.mark.parametrize("path", PY_FILES, ids=lambda p: str(p.relative_to(SRC_DIR)))
def test_sql_strings_in_src_leave_no_session_state(path: Path) -> None:
    dedicated = str(path.relative_to(SRC_DIR)) in DEDICATED_CONNECTION_MODULES
    found = [v for text in source_strings(path) for v in violations(text, allow_listen=dedicated)]
    assert found == [], f"{path.relative_to(ROOT)}: {found}"


@pytest.mark.parametrize("path", PY_FILES, ids=lambda p: str(p.relative_to(SRC_DIR)))
def test_no_listeners_on_pooled_connections(path: Path) -> None:
    """asyncpg's add_listener() runs LISTEN on the connection: only on a dedicated one."""
    module = str(path.relative_to(SRC_DIR))
    if module in DEDICATED_CONNECTION_MODULES:
        return
    tree = ast.parse(path.read_text(), filename=str(path))
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"add_listener", "add_termination_listener"}
    ]
    assert calls == [], (
        f"{module} line(s) {calls}: LISTEN on a connection; use a dedicated connection and add the"
        " module to DEDICATED_CONNECTION_MODULES"
    )


def test_db_module_docstring_states_the_rule() -> None:
    doc = app.core.db.__doc__ or ""
    for needle in ("reset", "SET LOCAL", "LISTEN", "advisory"):
        assert needle in doc, f"app/core/db.py's docstring should explain the pool rule ({needle})"
    assert "tests/unit/test_pool_rules.py" in doc
    assert (ROOT / "tests/unit/test_pool_rules.py").is_file()


def test_the_pool_really_skips_the_reset() -> None:
    """The rule matters because Database passes a no-op `reset=` to create_pool."""
    source = Path(app.core.db.__file__).read_text()
    assert re.search(r"create_pool\((?:.|\n)*?reset=", source)

"""Query coverage: which named queries (`sql/**`, loaded by aiosql) the test run executes.

A full run (the whole suite: no paths, `-k`, `-m`, `-x`, `--lf`, ... and nothing deselected)
fails when a named query was never executed by any test (DESIGN.md §4; issue 8: "CI fails when
a query has no test calling it"). A subset of the suite is never failed for it, so single tests
run as usual. Every run writes what it saw to `.data/query_coverage.json` (or
$QUERY_COVERAGE_JSON): per query, whether it ran and the route templates (``GET
/orgs/{org_id:uuid}/items``) of the HTTP requests during which it ran.

The hook, installed once per process at `pytest_configure`: the query methods of
`asyncpg.Connection` (execute, executemany, fetch, fetchrow, fetchval, fetchmany, prepare,
cursor) are replaced by plain (not async) functions that note the statement text and return
the original method's coroutine. Every path goes through them: the app inside AsyncTestClient,
the worker in tests and direct calls (pool proxies and the app's `SlowQueryConnection` look the
methods up on the class at call time). The cost per statement is one extra Python call, a
context-variable read and a set insert (about 0.2 us); names are resolved once, at the end,
from aiosql's own SQL text (the text asyncpg receives), so SQL that merely embeds a query
(``EXPLAIN ...``, ``PREPARE ...``) does not count as executing it.

The route: `litestar.Litestar.__call__` is wrapped to keep the ASGI scope of the current HTTP
request in a context variable; the router writes ``path_template`` into that scope before any
handler or dependency runs.

Disable with ``-p no:tests.query_coverage``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar

from app.sql_report import NamedQuery, named_queries

__all__ = ["executed_names", "named_query_texts", "route_of"]

_METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchmany", "prepare", "cursor")
_DEFAULT_JSON = Path(".data") / "query_coverage.json"

_texts: set[str] = set()  # every statement text seen (bounded: the suite's distinct statements)
_routed: set[tuple[str, str]] = set()  # (statement text, "METHOD /path/template")
_scope: ContextVar[Any] = ContextVar("query_coverage_scope", default=None)
_originals: dict[str, Any] = {}
_original_call: Any = None
_state: dict[str, Any] = {"deselected": 0}


def route_of(scope: Any) -> str | None:
    template = scope.get("path_template")
    return None if template is None else f"{scope.get('method', '?')} {template}"


def _note(query: Any) -> None:
    _texts.add(query)
    scope = _scope.get()
    if scope is not None:
        route = route_of(scope)
        if route is not None:
            _routed.add((query, route))


def _recording(original: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        _note(args[0] if args else kwargs.get("query", kwargs.get("command")))
        return original(self, *args, **kwargs)

    method.__name__ = original.__name__
    method.__qualname__ = original.__qualname__
    method.__doc__ = original.__doc__
    return method


async def _app_call(self: Any, scope: Any, receive: Any, send: Any) -> None:
    if scope.get("type") != "http":
        await _original_call(self, scope, receive, send)
        return
    token = _scope.set(scope)
    try:
        await _original_call(self, scope, receive, send)
    finally:
        _scope.reset(token)


def install() -> None:
    global _original_call
    if _originals:
        return
    for name in _METHODS:
        original = asyncpg.Connection.__dict__[name]
        _originals[name] = original
        setattr(asyncpg.Connection, name, _recording(original))
    _original_call = Litestar.__call__
    Litestar.__call__ = _app_call  # type: ignore[method-assign]


def uninstall() -> None:
    global _original_call
    for name, original in _originals.items():
        setattr(asyncpg.Connection, name, original)
    _originals.clear()
    if _original_call is not None:
        Litestar.__call__ = _original_call  # type: ignore[method-assign]
        _original_call = None


def named_query_texts() -> dict[str, str]:
    """Every named query ("items.get_item") -> the SQL text aiosql hands to asyncpg."""
    return {query.name: query.sql for query in _queries()}


@cache
def _queries() -> list[NamedQuery]:
    return named_queries()


def _file_of(name: str) -> str:
    return next((query.path.as_posix() for query in _queries() if query.name == name), "?")


def executed_names() -> dict[str, set[str]]:
    """The named queries executed so far -> the route templates they ran under."""
    found: dict[str, set[str]] = {}
    for name, text in named_query_texts().items():
        if text in _texts:
            found[name] = set()
    by_text = {text: name for name, text in named_query_texts().items()}
    for text, route in _routed:
        name = by_text.get(text)
        if name is not None:
            found.setdefault(name, set()).add(route)
    return found


def _full_run(session: pytest.Session) -> tuple[bool, str]:
    """Whether the whole suite ran, and if not, why not."""
    config = session.config
    option = config.option
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return False, "an xdist worker sees part of the run"
    if getattr(option, "collectonly", False):
        return False, "--collect-only"
    testpaths = [config.rootpath / p for p in config.getini("testpaths")] or [config.rootpath]
    given = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS and given != [p.resolve() for p in testpaths]:
        return False, "paths were given"
    if option.keyword or option.markexpr:
        return False, "-k or -m selected tests"
    if option.maxfail:
        return False, "-x / --maxfail"
    for flag in ("lf", "stepwise"):  # --lf, --sw / --sw-skip
        if getattr(option, flag, False):
            return False, f"--{flag}"
    if _state["deselected"]:
        return False, f"{_state['deselected']} tests deselected"
    if session.shouldstop or session.shouldfail:
        return False, "the run stopped early"
    if session.testscollected == 0:
        return False, "no tests"
    return True, ""


def _json_path(config: pytest.Config) -> Path:
    configured = os.environ.get("QUERY_COVERAGE_JSON")
    return Path(configured) if configured else config.rootpath / _DEFAULT_JSON


def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall()


def pytest_deselected(items: list[pytest.Item]) -> None:
    _state["deselected"] += len(items)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return
    full, why = _full_run(session)
    executed = executed_names()
    names = named_query_texts()
    missing = sorted(set(names) - set(executed))
    document = {
        "full_run": full,
        "queries": {
            name: {
                "file": _file_of(name),
                "executed": name in executed,
                "routes": sorted(executed.get(name, ())),
            }
            for name in names
        },
    }
    path = _json_path(session.config)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    partial.replace(path)  # readers never see half a file
    _state.update(full=full, why=why, missing=missing, total=len(names), path=path)
    if full and missing and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if "missing" not in _state:
        return
    missing: list[str] = _state["missing"]
    total: int = _state["total"]
    if not _state["full"]:
        if missing:
            terminalreporter.write_line(
                f"query coverage: {total - len(missing)}/{total} named queries executed"
                f" (not checked: {_state['why']}); {_state['path']}"
            )
        return
    if not missing:
        terminalreporter.write_line(f"query coverage: all {total} named queries executed; {_state['path']}")
        return
    terminalreporter.section("named queries never executed by a test", sep="=", red=True, bold=True)
    for name in missing:
        terminalreporter.write_line(f"  {name}  ({_file_of(name)})")
    terminalreporter.write_line(
        f"{len(missing)} of {total} named queries ran in no test: add a test that calls each"
        " (or delete the query if nothing uses it)."
    )

"""`just sql-report`: every named query on one page for DBAs, written to `docs/sql/QUERIES.md`.

For each named query under `sql/` (as aiosql loads it): its name and file, the comment its file
starts with (purpose and index), where the code uses it, its generic plan on DATABASE_URL and
the indexes that plan uses::

    uv run python -m app.sql_report                     # DATABASE_URL from the environment
    uv run python -m app.sql_report --database-url postgresql://... --output /tmp/QUERIES.md

Where a query is used comes from a static scan of `src/app` (the `ast` of every module, no test
run needed, so the page is deterministic): the functions that name the query (the feature's
`queries.py` wrapper), the functions that call those, and, following calls upwards, the HTTP
endpoints whose handler or dependencies reach it, and the other entry points (worker jobs,
hooks, command-line tools) that do. Calls are followed when the target is known: module
functions, ``self`` methods, attributes and parameters annotated with a class of the app, and
methods whose name only one class of the app defines.

Plans: each query is prepared (``PREPARE``) inside a read-only transaction with
``SET LOCAL plan_cache_mode = force_generic_plan`` and explained with
``EXPLAIN (COSTS OFF) EXECUTE q(NULL, ...)``: the generic plan, the one asyncpg's statement
cache ends up running, whatever the values. Nothing is executed (no ``ANALYZE``; writes are
only planned) and the transaction is rolled back. A query whose parameter types PostgreSQL
cannot infer is reported as such, not explained. Plans are as good as the data: run it on a
seeded database (`just seed`), ANALYZEd.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from app.core.db import SQL_DIR, sql

__all__ = [
    "NamedQuery",
    "Plan",
    "Usage",
    "explain_all",
    "main",
    "named_queries",
    "render",
    "route_entries",
    "static_usage",
    "write_report",
]

ROOT = SQL_DIR.parent
_THIS_FILE = Path(__file__).resolve()
SRC_DIR = _THIS_FILE.parent  # src/app
DEFAULT_OUTPUT = ROOT / "docs" / "sql" / "QUERIES.md"
_NAME_LINE = re.compile(
    r"^--\s*name:\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\([^)]*\))?(?P<suffix>[<!*#$^]*)", re.MULTILINE
)
_KINDS = {
    "": "select (rows)",
    "^": "select one row",
    "$": "select one value",
    "!": "insert/update/delete",
    "<!": "insert/update/delete returning",
    "*!": "executemany",
    "#": "script",
}
_PREPARED = "sql_report_probe"
_TYPED_PARAM = re.compile(r"\{(\w+):[^}]*\}")


# ---- the named queries ----------------------------------------------------------------------


@dataclass(frozen=True)
class NamedQuery:
    name: str  # "items.get_item"
    path: Path  # relative to the repository: sql/items/get_item.sql
    suffix: str  # aiosql's operation suffix: "", "^", "$", "!", "<!", "*!", "#"
    comment: str  # the comment the file starts with (purpose, index)
    doc: str  # the comment right under the query's `-- name:` line, if any
    sql: str  # the text aiosql hands to asyncpg ($n parameters)

    @property
    def feature(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def short_name(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def kind(self) -> str:
        return _KINDS.get(self.suffix, self.suffix or "select")


def _comment_lines(lines: Iterable[str]) -> str:
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("--") or _NAME_LINE.match(stripped):
            break
        out.append(stripped[2:].strip())
    return " ".join(part for part in out if part)


def named_queries(sql_dir: Path = SQL_DIR) -> list[NamedQuery]:
    """Every `-- name:` query under `sql_dir`, sorted by name, with aiosql's SQL text."""
    loaded = sql()
    found: list[NamedQuery] = []
    for path in sorted(sql_dir.rglob("*.sql")):
        text = path.read_text()
        folder = ".".join(path.relative_to(sql_dir).parent.parts)
        comment = _comment_lines(text.lstrip("\ufeff").splitlines())
        for match in _NAME_LINE.finditer(text):
            dotted = f"{folder}.{match['name']}" if folder else match["name"]
            target: Any = loaded
            for part in dotted.split("."):
                target = getattr(target, part, None)
            after = text[match.end() :].split("\n")[1:]
            found.append(
                NamedQuery(
                    name=dotted,
                    path=path.relative_to(sql_dir.parent),
                    suffix=match["suffix"],
                    comment=comment,
                    doc=_comment_lines(after),
                    sql=str(getattr(target, "sql", "")),
                )
            )
    return sorted(found, key=lambda query: query.name)


# ---- static usage: which code reaches each query ----------------------------------------------


# A call on a receiver of unknown type is taken for the app's one method of that name, unless the
# name is also a method of a builtin container (`extra.update(...)` is a dict's, not a service's).
_CONTAINER_METHODS = frozenset(name for kind in (dict, list, set, str, bytes, tuple) for name in dir(kind))


@dataclass
class _Function:
    key: str  # "app.items.service:ItemsService.list_items"
    module: str
    cls: str | None
    node: ast.FunctionDef | ast.AsyncFunctionDef
    queries: set[str] = field(default_factory=set[str])
    edges: set[str] = field(default_factory=set[str])


@dataclass
class _Module:
    name: str
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict[str, str])  # alias -> "mod" or "mod:Name"
    namespaces: dict[str, str] = field(default_factory=dict[str, str])  # helper function -> feature
    classes: dict[str, ast.ClassDef] = field(default_factory=dict[str, ast.ClassDef])
    functions: set[str] = field(default_factory=set[str])
    strings: set[str] = field(default_factory=set[str])


@dataclass
class Usage:
    """Where a query is used: named by, called from, and the entry points that reach it."""

    wrappers: list[str] = field(default_factory=list[str])
    callers: list[str] = field(default_factory=list[str])
    endpoints: list[str] = field(default_factory=list[str])
    entry_points: list[str] = field(default_factory=list[str])


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sql_namespace(node: ast.AST) -> str | None:
    """`sql().items` -> "items"."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "sql"
    ):
        return node.attr
    return None


class _Scanner:
    def __init__(self, src: Path, query_names: set[str]) -> None:
        self.src = src
        self.query_names = query_names
        self.modules: dict[str, _Module] = {}
        self.functions: dict[str, _Function] = {}
        self.method_owners: dict[str, list[str]] = {}  # method name -> class keys
        self.attribute_types: dict[str, dict[str, str]] = {}  # class key -> attribute -> class key
        self._load()
        for function in self.functions.values():
            self._scan(function)

    # -- indexing --

    def _load(self) -> None:
        module_files = {
            _module_name(p, self.src): p for p in sorted(self.src.rglob("*.py")) if p.resolve() != _THIS_FILE
        }
        for name, path in module_files.items():
            tree = ast.parse(path.read_text(), str(path))
            module = _Module(name, tree)
            self.modules[name] = module
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    module.strings.add(node.value)
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        module.imports[alias.asname or alias.name.partition(".")[0]] = (
                            alias.name if alias.asname else alias.name.partition(".")[0]
                        )
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        parts = package.split(".")
                        base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
                    for alias in node.names:
                        full = f"{base}.{alias.name}"
                        target = full if full in module_files else f"{base}:{alias.name}"
                        module.imports[alias.asname or alias.name] = target
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    module.functions.add(node.name)
                    self._add_function(module, node, None, node.name)
                    returned = [n.value for n in ast.walk(node) if isinstance(n, ast.Return) and n.value]
                    if len(returned) == 1 and (namespace := _sql_namespace(returned[0])):
                        module.namespaces[node.name] = namespace
                elif isinstance(node, ast.ClassDef):
                    module.classes[node.name] = node
                    self._add_class(module, node)

    def _add_function(
        self, module: _Module, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: str | None, qualname: str
    ) -> None:
        key = f"{module.name}:{qualname}"
        self.functions[key] = _Function(key, module.name, cls, node)
        for inner in ast.walk(node):
            if inner is not node and isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                # Closures (dependency providers, callbacks) are entry points of their own
                # under their run-time __qualname__, and part of the enclosing function.
                inner_key = f"{module.name}:{qualname}.<locals>.{inner.name}"
                if inner_key not in self.functions:
                    self.functions[inner_key] = _Function(inner_key, module.name, cls, inner)
                    self.functions[key].edges.add(inner_key)

    def _add_class(self, module: _Module, node: ast.ClassDef) -> None:
        class_key = f"{module.name}:{node.name}"
        attributes: dict[str, ast.expr] = {}
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                self._add_function(module, item, node.name, f"{node.name}.{item.name}")
                self.method_owners.setdefault(item.name, []).append(class_key)
                if item.name == "__init__":
                    params = {a.arg: a.annotation for a in _arguments(item) if a.annotation is not None}
                    for statement in ast.walk(item):
                        if isinstance(statement, ast.AnnAssign) and _self_attribute(statement.target):
                            attributes[_self_attribute(statement.target) or ""] = statement.annotation
                        elif isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Name):
                            for target in statement.targets:
                                attribute = _self_attribute(target)
                                annotation = params.get(statement.value.id)
                                if attribute and annotation is not None:
                                    attributes[attribute] = annotation
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                attributes[item.target.id] = item.annotation
        self.attribute_types[class_key] = {
            name: resolved
            for name, annotation in attributes.items()
            if (resolved := self._annotation_class(module, annotation)) is not None
        }

    # -- resolution --

    def _resolve_name(self, module: _Module, name: str) -> str | None:
        """A name used in `module` -> "mod:Name" (a function or class of the app) or "mod"."""
        if name in module.functions or name in module.classes:
            return f"{module.name}:{name}"
        target = module.imports.get(name)
        if target is None:
            return None
        if ":" in target:
            owner, _, attr = target.partition(":")
            owner_module = self.modules.get(owner)
            if owner_module is not None and attr not in owner_module.functions | set(owner_module.classes):
                return self._resolve_name(owner_module, attr)  # re-exported
        return target

    def _annotation_class(self, module: _Module, annotation: ast.expr) -> str | None:
        """The app class an annotation names: `X`, `X | None`, `NamedDependency[X]`, `Annotated[X, ...]`."""
        node = annotation
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(node, ast.BinOp):
            return self._annotation_class(module, node.left) or self._annotation_class(module, node.right)
        if isinstance(node, ast.Subscript):
            inner = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
            return self._annotation_class(module, inner)
        if isinstance(node, ast.Name):
            resolved = self._resolve_name(module, node.id)
            if resolved and ":" in resolved and self._is_class(resolved):
                return resolved
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = self._resolve_name(module, node.value.id)
            if owner and ":" not in owner and self._is_class(f"{owner}:{node.attr}"):
                return f"{owner}:{node.attr}"
        return None

    def _is_class(self, key: str) -> bool:
        owner, _, name = key.partition(":")
        module = self.modules.get(owner)
        return module is not None and name in module.classes

    def _method(self, class_key: str, name: str) -> str | None:
        """`class_key`'s method `name`, looking through base classes of the app."""
        seen: set[str] = set()
        pending = [class_key]
        while pending:
            current = pending.pop(0)
            if current in seen:
                continue
            seen.add(current)
            if f"{current}.{name}" in self.functions:
                return f"{current}.{name}"
            owner, _, cls_name = current.partition(":")
            module = self.modules.get(owner)
            if module is None or cls_name not in module.classes:
                continue
            for base in module.classes[cls_name].bases:
                resolved = self._annotation_class(module, base)
                if resolved:
                    pending.append(resolved)
        return None

    def _scan(self, function: _Function) -> None:
        module = self.modules[function.module]
        class_key = f"{module.name}:{function.cls}" if function.cls else None
        locals_: dict[str, str] = {}
        for argument in _arguments(function.node):
            if argument.annotation is not None:
                resolved = self._annotation_class(module, argument.annotation)
                if resolved:
                    locals_[argument.arg] = resolved
        for node in ast.walk(function.node):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                annotated = self._annotation_class(module, node.annotation)
                if annotated:
                    locals_[node.target.id] = annotated
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                made = self._expr_class(module, node.value.func, locals_, class_key)
                for target in node.targets:
                    if isinstance(target, ast.Name) and made:
                        locals_[target.id] = made
        for node in ast.walk(function.node):
            if isinstance(node, ast.Attribute):
                feature = _sql_namespace(node.value) or self._helper_namespace(module, node.value)
                if feature and f"{feature}.{node.attr}" in self.query_names:
                    function.queries.add(f"{feature}.{node.attr}")
                    continue
                target = self._attribute_target(module, node, locals_, class_key)
                if target:
                    function.edges.add(target)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                resolved = self._resolve_name(module, node.id)
                if resolved in self.functions:
                    function.edges.add(resolved)
                elif resolved and self._is_class(resolved) and f"{resolved}.__init__" in self.functions:
                    function.edges.add(f"{resolved}.__init__")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "getattr"
                and node.args
            ):
                # getattr(_q(), _LIST_QUERY[sort]): any query of that namespace the module names.
                feature = _sql_namespace(node.args[0]) or self._helper_namespace(module, node.args[0])
                if feature:
                    function.queries.update(
                        f"{feature}.{s}" for s in module.strings if f"{feature}.{s}" in self.query_names
                    )

    def _helper_namespace(self, module: _Module, node: ast.AST) -> str | None:
        """`_q()` where `def _q(): return sql().items` -> "items"."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
            return module.namespaces.get(node.func.id)
        return None

    def _expr_class(
        self, module: _Module, node: ast.expr, locals_: Mapping[str, str], class_key: str | None
    ) -> str | None:
        """The app class an expression's value has, when known (`self._x`, `param`, `Cls`)."""
        if isinstance(node, ast.Name):
            if node.id in locals_:
                return locals_[node.id]
            resolved = self._resolve_name(module, node.id)
            return resolved if resolved and self._is_class(resolved) else None
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and class_key
            and node.value.id in ("self", "cls")
        ):
            return self.attribute_types.get(class_key, {}).get(node.attr)
        return None

    def _attribute_target(
        self, module: _Module, node: ast.Attribute, locals_: Mapping[str, str], class_key: str | None
    ) -> str | None:
        value = node.value
        if isinstance(value, ast.Name):
            if value.id in ("self", "cls") and class_key:
                return self._method(class_key, node.attr)
            if value.id not in locals_:
                resolved = self._resolve_name(module, value.id)
                if resolved and ":" not in resolved:  # a module
                    key = f"{resolved}:{node.attr}"
                    if key in self.functions:
                        return key
                    if self._is_class(key):
                        return f"{key}.__init__" if f"{key}.__init__" in self.functions else None
                    return None
        owner = self._expr_class(module, value, locals_, class_key)
        if owner:
            return self._method(owner, node.attr)
        owners = self.method_owners.get(node.attr, [])
        if len(owners) == 1 and not node.attr.startswith("__") and node.attr not in _CONTAINER_METHODS:
            return f"{owners[0]}.{node.attr}"
        return None

    # -- results --

    def callers(self) -> dict[str, set[str]]:
        reverse: dict[str, set[str]] = {key: set() for key in self.functions}
        for function in self.functions.values():
            for edge in function.edges:
                if edge in reverse and edge != function.key:
                    reverse[edge].add(function.key)
        return reverse


def _arguments(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    args = node.args
    return [*args.posonlyargs, *args.args, *args.kwonlyargs]


def _self_attribute(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _function_key(fn: object) -> str | None:
    fn = getattr(fn, "__func__", fn)
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        init = getattr(type(fn), "__init__", None)
        return _function_key(init) if init is not None and fn is not init else None
    if isinstance(fn, type):
        return f"{module}:{qualname}.__init__"
    return f"{module}:{qualname}"


def _opt_hooks() -> dict[str, object]:
    from app.orgs.auth import ORG_ACCESS, authorize_org_request

    return {ORG_ACCESS: authorize_org_request}


_OPT_HOOKS = _opt_hooks()


def route_entries(app: Any) -> dict[str, set[str]]:
    """Each endpoint ("METHOD /path/{param}") -> the functions a request runs: handler, dependencies."""
    entries: dict[str, set[str]] = {}
    for route in app.routes:
        path = _TYPED_PARAM.sub(r"{\1}", str(route.path))
        for handler in getattr(route, "route_handlers", ()):
            methods = sorted(m for m in getattr(handler, "http_methods", ()) if m not in ("OPTIONS", "HEAD"))
            if not methods:
                continue
            keys = {_function_key(handler.fn)}
            for provide in handler.resolve_dependencies().values():
                keys.add(_function_key(provide.dependency))
            for guard in handler.resolve_guards():
                keys.add(_function_key(guard))
            for middleware in handler.resolve_middleware():
                cls = getattr(middleware, "middleware", middleware)  # DefineMiddleware or a class
                if isinstance(cls, type):
                    keys.add(_function_key(cls.__call__))
            # The app's before_request hook acts on routes that ask for it in their `opt`.
            for option, hook in _OPT_HOOKS.items():
                if option in handler.opt:
                    keys.add(_function_key(hook))
            for method in methods:
                entries.setdefault(f"{method} {path}", set()).update(k for k in keys if k)
    return entries


def static_usage(
    queries: Sequence[NamedQuery], routes: Mapping[str, set[str]] | None = None, src: Path = SRC_DIR
) -> dict[str, Usage]:
    """For every query: the functions that name it, their callers, and the endpoints and other
    entry points (functions nothing in the app calls) that reach it."""
    scanner = _Scanner(src, {query.name for query in queries})
    # The app factory wires hooks and services together: an entry point of its own, not a path
    # to the process entry points that build the app.
    boundaries = {"app.main:create_app"}
    callers = scanner.callers()
    routes = routes or {}
    route_functions = {key for keys in routes.values() for key in keys}
    usage: dict[str, Usage] = {}
    for query in queries:
        wrappers = sorted(key for key, f in scanner.functions.items() if query.name in f.queries)
        reached: set[str] = set()
        pending = list(wrappers)
        while pending:
            key = pending.pop()
            if key in reached:
                continue
            reached.add(key)
            if key not in boundaries:
                pending.extend(callers.get(key, ()))
        direct = sorted({c for w in wrappers for c in callers.get(w, ())} - set(wrappers))
        endpoints = sorted(route for route, keys in routes.items() if keys & reached)
        roots = sorted(
            key
            for key in reached
            if (key in boundaries or not (callers.get(key, set()) - {key}))
            and key not in route_functions
            and not _is_route_handler(scanner, key)
        )
        usage[query.name] = Usage(wrappers, direct, endpoints, roots)
    return usage


def _is_route_handler(scanner: _Scanner, key: str) -> bool:
    function = scanner.functions.get(key)
    if function is None:
        return False
    for decorator in function.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in {"get", "post", "put", "patch", "delete", "route", "head"}:
            return True
    return False


# ---- plans ----------------------------------------------------------------------------------


@dataclass
class Plan:
    text: str | None = None  # EXPLAIN (COSTS OFF) of the generic plan
    indexes: list[str] = field(default_factory=list[str])
    seq_scans: list[str] = field(default_factory=list[str])
    parameters: list[str] = field(default_factory=list[str])  # the inferred parameter types
    error: str | None = None  # why there is no plan ("types not inferable: ...")
    # With a Seq Scan in the plan: the indexes of the plan with enable_seqscan = off, the plan
    # a large table would get (the planner scans a small table whole even where an index fits).
    indexes_without_seqscan: list[str] | None = None


def _nodes(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _plan_facts(explained: Any) -> tuple[list[str], list[str]]:
    document = json.loads(explained) if isinstance(explained, str) else explained
    indexes: set[str] = set()
    seq_scans: set[str] = set()
    for node in _nodes(document[0]["Plan"]):
        if "Index Name" in node:
            indexes.add(str(node["Index Name"]))
        if node.get("Node Type") == "Seq Scan" and "Relation Name" in node:
            seq_scans.add(str(node["Relation Name"]))
    return sorted(indexes), sorted(seq_scans)


async def explain(conn: Any, query: NamedQuery) -> Plan:
    """The generic plan of `query`; it is prepared and explained, never executed."""
    if query.suffix == "#":
        return Plan(error="a script: not explained")
    transaction = conn.transaction(readonly=True)
    await transaction.start()
    try:
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("SET LOCAL statement_timeout = '10s'")
        try:
            await conn.execute(f"PREPARE {_PREPARED} AS {query.sql}")
        except asyncpg.PostgresError as exc:
            reason = str(exc).splitlines()[0]
            if "could not determine data type" in reason:
                return Plan(error=f"parameter types not inferable ({reason})")
            return Plan(error=f"cannot be prepared: {reason}")
        types = await conn.fetchval(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = $1", _PREPARED
        )
        parameters = [str(t) for t in types or ()]
        arguments = ", ".join("NULL" for _ in parameters)
        execute = f"EXECUTE {_PREPARED}({arguments})" if parameters else f"EXECUTE {_PREPARED}"
        try:
            document = await conn.fetchval(f"EXPLAIN (COSTS OFF, FORMAT JSON) {execute}")
            lines = await conn.fetch(f"EXPLAIN (COSTS OFF) {execute}")
        except asyncpg.PostgresError as exc:
            return Plan(parameters=parameters, error=f"cannot be explained: {str(exc).splitlines()[0]}")
        indexes, seq_scans = _plan_facts(document)
        text = "\n".join(str(line[0]) for line in lines)
        plan = Plan(text=text, indexes=indexes, seq_scans=seq_scans, parameters=parameters)
        if seq_scans:
            # A prepared statement keeps its generic plan: prepare it again with the setting.
            await conn.execute(f"DEALLOCATE {_PREPARED}")
            await conn.execute("SET LOCAL enable_seqscan = off")
            await conn.execute(f"PREPARE {_PREPARED} AS {query.sql}")
            forced = await conn.fetchval(f"EXPLAIN (COSTS OFF, FORMAT JSON) {execute}")
            plan.indexes_without_seqscan = _plan_facts(forced)[0]
        return plan
    finally:
        await transaction.rollback()
        # A prepared statement outlives the transaction; asyncpg's own are left alone.
        await conn.execute(f"DEALLOCATE {_PREPARED}") if await conn.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = $1", _PREPARED
        ) else None


async def explain_all(conn: Any, queries: Sequence[NamedQuery]) -> dict[str, Plan]:
    return {query.name: await explain(conn, query) for query in queries}


# ---- the page -------------------------------------------------------------------------------


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", name.lower().replace(" ", "-"))


def _code_list(values: Iterable[str]) -> str:
    return ", ".join(f"`{value}`" for value in values) or "none"


def render(
    queries: Sequence[NamedQuery],
    usage: Mapping[str, Usage],
    plans: Mapping[str, Plan],
    *,
    database: str = "",
    tables: Mapping[str, int] | None = None,
) -> str:
    """The Markdown page (deterministic for the same code, SQL and data)."""
    out: list[str] = [
        "# Named SQL queries",
        "",
        "<!-- Generated by `just sql-report` (python -m app.sql_report). Do not edit by hand. -->",
        "",
        f"Every named query under `sql/` ({len(queries)} queries), with the comment its file starts with,",
        "where the code uses it (a static scan of `src/app`), its generic plan (`PREPARE` +",
        "`SET plan_cache_mode = force_generic_plan` + `EXPLAIN (COSTS OFF) EXECUTE q(NULL, ...)`: the plan",
        "asyncpg's statement cache ends up running, whatever the values) and the indexes that plan uses.",
    ]
    if database:
        out += ["", f"Plans from: {database}."]
    if tables:
        sizes = ", ".join(f"{name} {count:,}" for name, count in tables.items())
        out += [
            "",
            "The planner picks a Seq Scan for a table with few rows (or none) even where an index",
            "serves the query: for a plan with a Seq Scan, the indexes of the same generic plan with",
            "`enable_seqscan = off` are listed too (what a large table gets). The plan tests under",
            "`tests/sql` check the plans on large data.",
            f"Rows per table: {sizes}.",
        ]
    out += [
        "",
        "| Query | Kind | Indexes (generic plan) | Seq Scan on | Indexes, seqscan off | Endpoints |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for query in queries:
        plan = plans.get(query.name, Plan(error="not explained"))
        indexes = _code_list(plan.indexes) if plan.error is None else f"_{plan.error.split(' (')[0]}_"
        forced = "" if plan.indexes_without_seqscan is None else _code_list(plan.indexes_without_seqscan)
        out.append(
            f"| [`{query.name}`](#{_anchor(query.name)}) | {query.kind} | {indexes}"
            f" | {', '.join(plan.seq_scans)} | {forced} | {len(usage[query.name].endpoints)} |"
        )
    current_feature = None
    for query in queries:
        if query.feature != current_feature:
            current_feature = query.feature
            out += ["", f"## {current_feature}"]
        found = usage[query.name]
        plan = plans.get(query.name, Plan(error="not explained"))
        out += [
            "",
            f"### {query.name}",
            "",
            f"- File: [`{query.path.as_posix()}`](../../{query.path.as_posix()}) ({query.kind})",
            f"- Purpose: {query.comment or '_no leading comment_'}",
        ]
        if query.doc:
            out.append(f"- Query comment: {query.doc}")
        out += [
            f"- Endpoints: {_code_list(found.endpoints)}",
            f"- Other entry points: {_code_list(found.entry_points)}",
            f"- Wrapped by: {_code_list(found.wrappers)}",
            f"- Called from: {_code_list(found.callers)}",
        ]
        if plan.parameters:
            out.append(f"- Parameters: {', '.join(f'${i} {t}' for i, t in enumerate(plan.parameters, 1))}")
        if plan.error is not None:
            out.append(f"- Plan: {plan.error}")
            continue
        out.append(f"- Indexes used: {_code_list(plan.indexes)}")
        if plan.seq_scans:
            out.append(f"- Seq Scan on: {_code_list(plan.seq_scans)}")
            forced = _code_list(plan.indexes_without_seqscan or ())
            out.append(f"- Indexes with enable_seqscan = off: {forced}")
        out += ["", "```text", plan.text or "", "```"]
    return "\n".join(out) + "\n"


async def table_rows(conn: Any) -> dict[str, int]:
    """The row count of every table of the schema (plans depend on them)."""
    names = await conn.fetch(
        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        " AND c.relname NOT LIKE '\\_yoyo%' AND c.relname NOT LIKE 'yoyo\\_%' ORDER BY c.relname"
    )
    counts: dict[str, int] = {}
    for row in names:
        name = str(row[0])
        quoted = '"' + name.replace('"', '""') + '"'
        counts[name] = int(await conn.fetchval(f"SELECT count(*) FROM public.{quoted}"))  # noqa: S608
    return counts


def _describe(url: str) -> str:
    """The database without its credentials."""
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    return f"database `{name}`"


async def write_report(
    database_url: str,
    output: Path = DEFAULT_OUTPUT,
    *,
    app: Any = None,
    queries: Sequence[NamedQuery] | None = None,
) -> str:
    """Explain every query on `database_url` and write the page to `output`; returns the page.

    `app` (a Litestar app) names the endpoints; without one, the app is built from `database_url`.
    """
    queries = list(queries) if queries is not None else named_queries()
    if app is None:
        from app.core.config import load_settings
        from app.main import create_app

        env = {**os.environ, "DATABASE_URL": database_url, "METRICS_ENABLED": "false"}
        app = create_app(load_settings(env))
    usage = static_usage(queries, route_entries(app))
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database_url)
    try:
        plans = await explain_all(conn, queries)
        version = await conn.fetchval("SHOW server_version_num")
        tables = await table_rows(conn)
    finally:
        await conn.close()
    database = f"{_describe(database_url)} (PostgreSQL {int(version) // 10000})"
    page = render(queries, usage, plans, database=database, tables=tables)
    await asyncio.to_thread(_write, output, page)
    return page


def _write(output: Path, page: str) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.sql_report", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), help="$DATABASE_URL if unset"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default: docs/sql/QUERIES.md")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("DATABASE_URL is not set (or pass --database-url)")
    page = asyncio.run(write_report(args.database_url, args.output))
    unexplained = page.count("- Plan: ")
    print(f"wrote {args.output} ({unexplained} queries without a plan)", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

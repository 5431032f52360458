"""The OpenAPI document describes every route, its error responses and its authentication.

Routes come from the app itself, so a new route that the document misses fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from app.items.structs import ItemIn
from app.items.validation import check_item
from tests.factories import Client

PROBLEM = "application/problem+json"
SCHEMA_PATH = "/docs/openapi.json"
AUTO_METHODS = {"HEAD", "OPTIONS"}  # added by Litestar to every path, never documented
# For operators' tools, not API clients: left out of the document on purpose.
UNDOCUMENTED = {("/metrics", "get")}


Operation = tuple[str, str]  # (path as in the document, lower-case method)


@pytest.fixture(scope="module")
async def schema(client: Client) -> dict[str, Any]:
    response = await client.get(SCHEMA_PATH)
    assert response.status_code == 200, response.text
    return response.json()


def app_operations(app: Litestar) -> dict[Operation, set[str]]:
    """(path, method) of every HTTP route outside /docs (and UNDOCUMENTED), with the dependencies
    its handler uses."""
    found: dict[Operation, set[str]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/docs"):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = (route.path_format, method.lower())
                if method not in AUTO_METHODS and operation not in UNDOCUMENTED:
                    found[operation] = set(handler.resolve_dependencies())
    return found


def schema_operations(schema: dict[str, Any]) -> dict[Operation, dict[str, Any]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {
        (path, method): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in methods
    }


def is_public_probe(path: str) -> bool:
    return path.startswith("/health/")


def problem_statuses(operation: dict[str, Any]) -> set[int]:
    return {
        int(status)
        for status, response in operation["responses"].items()
        if status.isdigit() and PROBLEM in response.get("content", {})
    }


def test_schema_is_served_as_openapi_3_1(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.1")
    assert schema["info"]["title"]
    assert schema["info"]["version"]


async def test_docs_ui_is_served(client: Client) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_schema_operations_are_the_app_routes(app: Litestar, schema: dict[str, Any]) -> None:
    routes = set(app_operations(app))
    documented = set(schema_operations(schema))

    assert routes, "no routes found: the route walk is broken"
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations that the app does not serve"


def test_every_operation_declares_a_problem_4xx(schema: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for (path, method), operation in schema_operations(schema).items()
        if not is_public_probe(path) and not any(400 <= s < 500 for s in problem_statuses(operation))
    ]

    assert missing == []


def test_every_operation_declares_500_and_503_problems(schema: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for (path, method), operation in schema_operations(schema).items()
        if not is_public_probe(path) and not {500, 503} <= problem_statuses(operation)
    ]

    assert missing == []


def test_problem_schema_has_the_contract_members(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/auth/login"]["post"]
    ref = operation["responses"]["401"]["content"][PROBLEM]["schema"]["$ref"]
    problem = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    assert {"type", "title", "status", "detail", "code", "request_id", "errors"} <= set(problem["properties"])
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])


def test_bearer_security_scheme_is_defined(schema: dict[str, Any]) -> None:
    scheme = schema["components"]["securitySchemes"]["BearerToken"]

    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"


def test_authenticated_operations_declare_bearer_security(app: Litestar, schema: dict[str, Any]) -> None:
    operations = schema_operations(schema)
    authenticated = {op for op, dependencies in app_operations(app).items() if "principal" in dependencies}

    assert authenticated, "no authenticated route found: the dependency walk is broken"
    wrong = [op for op in sorted(authenticated) if operations[op].get("security") != [{"BearerToken": []}]]
    assert wrong == []


def test_org_operations_declare_bearer_or_api_key_security(app: Litestar, schema: dict[str, Any]) -> None:
    operations = schema_operations(schema)
    org_scoped = {op for op, dependencies in app_operations(app).items() if "actor" in dependencies}

    assert ("/orgs/{org_id}/members", "get") in org_scoped
    wrong = [
        op
        for op in sorted(org_scoped)
        if operations[op].get("security") != [{"BearerToken": []}, {"ApiKey": []}]
    ]
    assert wrong == []


def test_public_operations_declare_no_security(app: Litestar, schema: dict[str, Any]) -> None:
    operations = schema_operations(schema)
    public = {
        op
        for op, dependencies in app_operations(app).items()
        if "principal" not in dependencies and "actor" not in dependencies
    }

    assert ("/auth/login", "post") in public
    wrong = [op for op in sorted(public) if operations[op].get("security")]
    assert wrong == []


def test_authenticated_operations_declare_401(app: Litestar, schema: dict[str, Any]) -> None:
    operations = schema_operations(schema)
    authenticated = [
        op
        for op, dependencies in app_operations(app).items()
        if "principal" in dependencies or "actor" in dependencies
    ]

    missing = [op for op in sorted(authenticated) if 401 not in problem_statuses(operations[op])]
    assert missing == []


def test_operations_with_a_body_declare_400_and_422(schema: dict[str, Any]) -> None:
    with_body = {op: o for op, o in schema_operations(schema).items() if "requestBody" in o}

    assert with_body
    missing = [op for op, o in sorted(with_body.items()) if not {400, 422} <= problem_statuses(o)]
    assert missing == []


def test_operations_with_a_body_declare_413(schema: dict[str, Any]) -> None:
    with_body = {op: o for op, o in schema_operations(schema).items() if "requestBody" in o}

    missing = [op for op, o in sorted(with_body.items()) if 413 not in problem_statuses(o)]
    assert missing == []


def test_every_declared_error_response_is_a_problem(schema: dict[str, Any]) -> None:
    wrong = [
        f"{method.upper()} {path} {status}"
        for (path, method), operation in schema_operations(schema).items()
        for status, response in operation["responses"].items()
        if status.isdigit()
        and int(status) >= 400
        and set(response.get("content", {})) != {PROBLEM}
        # The readiness probe's 503 is a probe result (which check failed), not an error.
        and (path, method, status) != ("/health/ready", "get", "503")
    ]

    assert wrong == []


def test_readiness_declares_its_503(schema: dict[str, Any]) -> None:
    assert "503" in schema["paths"]["/health/ready"]["get"]["responses"]


# ---- request schemas say what the decoder enforces (app/core/openapi.py) -------------------


def test_strict_request_bodies_forbid_unknown_members(schema: dict[str, Any]) -> None:
    schemas = schema["components"]["schemas"]
    for name in ("ItemIn", "ItemPatchIn", "OrgCreateIn", "PostIn", "WebhookEndpointIn"):
        assert schemas[name]["additionalProperties"] is False, name
    # Responses stay open: a client must tolerate members added later.
    assert "additionalProperties" not in schemas["ItemOut"]


def test_currency_codes_are_documented_as_the_list_the_service_accepts(schema: dict[str, Any]) -> None:
    for name in ("ItemIn", "ItemPatchIn"):
        currency = schema["components"]["schemas"][name]["properties"]["currency"]
        members = {member["type"]: member for member in currency["oneOf"]}
        assert set(members) == {"string", "null"}, currency  # null stays allowed
        codes = members["string"]["enum"]
        assert {"EUR", "USD", "JPY"} <= set(codes)
        assert len(codes) > 150
        assert all(not check_item(ItemIn(name="x", price=1, currency=code)) for code in codes)
    assert check_item(ItemIn(name="x", price=1, currency="IMK"))  # three capitals, but no currency


def test_batch_rows_are_documented_as_items(schema: dict[str, Any]) -> None:
    rows = schema["components"]["schemas"]["ItemBatchIn"]["properties"]["items"]
    assert rows["items"] == {"$ref": "#/components/schemas/ItemIn"}

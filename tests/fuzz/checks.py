"""The checks every fuzzed response goes through: schemathesis' own (no 5xx, status code,
content type, headers and body as the schema declares them, and a schema-valid request is not
rejected) and two of this API's contract."""

from __future__ import annotations

import json
import re
from typing import Any

from schemathesis import Case, CheckContext, CheckFunction, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.world import FuzzWorld, is_uuid

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "code", "request_id")


def _header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def problem_details(ctx: CheckContext, response: Response, case: Case) -> None:
    """Every error is RFC 9457 problem+json with this service's members (DESIGN.md §3)."""
    if response.status_code < 400:
        return
    content_type = _header(response, "content-type") or ""
    assert content_type.startswith(PROBLEM_MEDIA_TYPE), f"{response.status_code} with {content_type!r}"
    body: Any = json.loads(response.content)
    assert isinstance(body, dict), body
    missing = [member for member in PROBLEM_MEMBERS if member not in body]
    assert not missing, f"problem without {missing}: {body}"
    assert body["status"] == response.status_code, body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert body["request_id"] == _header(response, "x-request-id"), body


def unknown_ids_are_not_found(world: FuzzWorld) -> CheckFunction:
    """A UUID that names nothing the fuzzing user can see is never a success, and an unknown org
    is never a 403 (that would reveal it exists); with otherwise valid input (a positive case)
    an unknown org is a 404."""

    def unknown_ids_are_not_found(ctx: CheckContext, response: Response, case: Case) -> None:
        if response.request.method != case.operation.method.upper():
            return  # the coverage phase's unexpected methods (OPTIONS, TRACE...): 405 or 204
        unknown = {
            name
            for name, value in (case.path_parameters or {}).items()
            if is_uuid(value) and str(value) not in world.known
        }
        if not unknown:
            return
        if "org_id" in unknown:
            assert response.status_code != 403, "an unknown org answered 403"
            if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
                assert response.status_code == 404, f"unknown org answered {response.status_code}"
        assert not 200 <= response.status_code < 300, (
            f"unknown {sorted(unknown)} answered {response.status_code}"
        )

    return unknown_ids_are_not_found


# Rejections of schema-valid requests for what no schema can say: the state of the world (a
# cursor or token that names nothing, a wrong password, a reused idempotency key, a stale ETag)...
STATE_REJECTIONS = frozenset(
    {
        "INVALID_CURSOR",
        "INVALID_TOKEN",
        "INVALID_CREDENTIALS",
        "IDEMPOTENCY_KEY_REUSED",
        "PRECONDITION_FAILED",
    }
)
# ...or a rule across fields (the field an error names, whatever row or object it is in; message)...
CROSS_FIELD_RULES = frozenset(
    {
        ("created_from", "created_from must be before created_to"),
        ("price_min", "price_min is above price_max"),
        ("sort", "search results are ordered by -created_at only"),
        ("currency", "price and currency change together"),
        ("price", "price and currency change together"),
        ("currency", "price and currency go together"),
        ("price", "price and currency go together"),
        ("currency", '"price": null clears the currency too'),
    }
)
# ...or what JSON Schema cannot say: `2.0` is an `integer` to it, a float to msgspec; and a
# webhook URL must name a public address (app/webhooks/ssrf.py), which is no pattern. (Currency
# codes it can say: the document lists ISO 4217 as an `enum`.)
UNSAYABLE = ("got `float`",)
# Nor can it say that free-form `metadata` holds no NUL at any depth and is at most 8 KiB encoded,
# in a single item or in any row of a batch.
POLICY_PATHS = frozenset({"$.url", "$.metadata", "$.items[n].metadata"})


def _cross_field(error: object) -> bool:
    if not isinstance(error, dict):
        return False
    path = re.sub(r"\[\d+\]", "[n]", str(error.get("path")))
    message = str(error.get("message"))
    return (
        (path.rsplit(".", 1)[-1], message) in CROSS_FIELD_RULES
        or any(text in message for text in UNSAYABLE)
        or path in POLICY_PATHS
    )


def _excused(response: Response) -> bool:
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if body.get("code") in STATE_REJECTIONS:
        return True
    errors = body.get("errors")
    return (
        body.get("code") == "VALIDATION_ERROR"
        and isinstance(errors, list)
        and bool(errors)
        and all(_cross_field(error) for error in errors)
    )


def schema_valid_is_accepted(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """schemathesis' `positive_data_acceptance`: the document tells the whole truth about what a
    well-formed request is, so a positive case is never refused for its shape."""
    if response.status_code >= 400 and _excused(response):
        return None
    return positive_data_acceptance(ctx, response, case)


def all_checks(world: FuzzWorld) -> list[CheckFunction]:
    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
        schema_valid_is_accepted,
        problem_details,
        unknown_ids_are_not_found(world),
    ]

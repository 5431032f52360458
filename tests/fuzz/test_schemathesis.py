"""schemathesis against the app's own OpenAPI document, in-process (tests/fuzz/settings.py says
how it is bounded and seeded, checks.py what every response must satisfy).

Two identities: a signed-in user (a platform admin who owns an org with data) on every operation,
and an admin API key of that org on the org routes. Nothing is excluded from the user run; the
operations that would end the fuzzing identity get a throwaway one (LOGOUT, DELETE_ME, OWN_ORG).
Cases the fuzzer found are kept as plain tests in test_found_cases.py.
"""

from __future__ import annotations

import schemathesis
from litestar import Litestar
from schemathesis import Case

from tests.factories import Client
from tests.fuzz.checks import all_checks
from tests.fuzz.settings import SCHEMA_PATH, fuzz_config, install_hooks, openapi_document
from tests.fuzz.world import FuzzWorld, bearer, create_org, in_process, login, register

# Loaded at collection time so every operation is a test of its own (schemathesis' fixture-based
# loader, `schemathesis.pytest.from_fixture`, fails on pytest 9: it sets `Function._nodeid`).
# The document is built the way the app serves it; the first test proves they are equal.
DOCUMENT = openapi_document()
user_api = schemathesis.openapi.from_dict(DOCUMENT, config=fuzz_config())
install_hooks(user_api)
# API keys authenticate org routes only (app.orgs.auth); elsewhere they are no credentials at
# all, which tests/orgs/test_api_keys.py covers. So the key run fuzzes the org routes.
key_api = user_api.include(path_regex=r"^/orgs/\{org_id\}")

# These end the session or account that sends them: each case gets credentials of its own.
LOGOUT = ("POST", "/auth/logout")  # a fresh session of the fuzzing user
DELETE_ME = ("DELETE", "/users/me")  # a freshly registered user
# These remove the fuzzing user from the org (or the org itself): when the case names the real
# org, it is sent to a fresh org of the fuzzing user instead. (The API key may do none of them:
# user-only permissions, so the key run sends them to the real org and expects 403.)
OWN_ORG = {
    ("DELETE", "/orgs/{org_id}"),
    ("POST", "/orgs/{org_id}/leave"),
    ("POST", "/orgs/{org_id}/transfer-ownership"),
}


async def test_served_document_is_the_fuzzed_one(client: Client) -> None:
    response = await client.get(SCHEMA_PATH)

    assert response.status_code == 200
    assert response.json() == DOCUMENT


def aim(case: Case, world: FuzzWorld) -> None:
    """The coverage phase draws its values without the path-parameter hook: its well-formed ids
    become the real ones, so its boundary values of queries, headers and bodies reach the handler
    instead of stopping at the org check's 404 (random ids are the fuzzing phase's part)."""
    if case.meta is None or case.meta.phase.name.value != "coverage" or not case.path_parameters:
        return
    for name, value in case.path_parameters.items():
        real = world.ids.get(name)
        if real and isinstance(value, str) and len(value) == 36 and value.count("-") == 4:
            case.path_parameters[name] = real[0]


@user_api.parametrize()
def test_fuzz_as_signed_in_user(case: Case, fuzz_app: Litestar, fuzz_world: FuzzWorld) -> None:
    aim(case, fuzz_world)
    operation = (case.operation.method.upper(), case.operation.path)
    headers = fuzz_world.user.headers
    with in_process(fuzz_app) as http:
        if operation == LOGOUT:
            headers = bearer(login(http, fuzz_world.user.email))
        elif operation == DELETE_ME:
            headers = register(http).headers
        elif operation in OWN_ORG and (case.path_parameters or {}).get("org_id") == fuzz_world.org_id:
            org_id = create_org(http, fuzz_world.user)
            fuzz_world.known.add(org_id)
            case.path_parameters = {**(case.path_parameters or {}), "org_id": org_id}
    case.call_and_validate(app=fuzz_app, headers=headers, checks=all_checks(fuzz_world))


@key_api.parametrize()
def test_fuzz_as_api_key(case: Case, fuzz_app: Litestar, fuzz_world: FuzzWorld) -> None:
    aim(case, fuzz_world)
    case.call_and_validate(app=fuzz_app, headers=fuzz_world.key_headers, checks=all_checks(fuzz_world))

"""How schemathesis fuzzes the app: bounded, seeded, and aimed at the real data.

- Phases: `examples` (the schema's own examples), `coverage` (boundary and just-invalid values of
  every parameter and body field, deterministic) and `fuzzing` (Hypothesis, positive and negative
  data) with MAX_EXAMPLES per operation. `stateful` is a CLI phase; the pytest integration never
  runs it.
- Reproducible: a fixed seed, `deterministic` (Hypothesis `derandomize`) and no example database,
  so CI and a laptop send the same requests.
- Path parameters: a hook swaps a generated UUID for a real id of the fuzzing user's org most of
  the time (world.py), so requests reach the handlers instead of only 404s; the remaining
  random ids must be answered 404 (checks.py).
"""

from __future__ import annotations

from typing import Any

import msgspec
import schemathesis
from hypothesis import strategies as st
from litestar.serialization import encode_json
from schemathesis.specs.openapi.schemas import OpenApiSchema

from app.core.config import load_settings
from app.main import create_app
from tests.conftest import TEST_ENV
from tests.fuzz.world import FuzzWorld, is_uuid

SCHEMA_PATH = "/docs/openapi.json"
SEED = 20240607
MAX_EXAMPLES = 12
# How often a real id is offered against one random id.
REAL_WEIGHT = 3


def fuzz_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # Credentials come from the test (a real token or key), never from the generator.
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
        }
    )


class Current:
    """The world of the running module; set by a fixture, read by the hook while generating."""

    world: FuzzWorld | None = None


def openapi_document() -> dict[str, Any]:
    """The document the app serves at /docs/openapi.json, built without starting the app (no
    database at collection time); test_served_document_is_the_fuzzed_one proves they are equal."""
    env = {**TEST_ENV, "DATABASE_URL": "postgresql://fuzz@localhost:1/unused"}
    app = create_app(load_settings(env))
    return msgspec.json.decode(encode_json(app.openapi_schema.to_schema()))


def install_hooks(schema: OpenApiSchema) -> None:
    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any]
    ) -> st.SearchStrategy[dict[str, Any]]:
        world = Current.world
        if world is None or not path_parameters:
            # Also the examples phase: it draws its cases at collection time, before any data.
            return st.just(path_parameters)
        fields: dict[str, st.SearchStrategy[Any]] = {}
        for name, value in path_parameters.items():
            real = world.ids.get(name)
            if real and is_uuid(value):
                fields[name] = st.sampled_from([*real * REAL_WEIGHT, value])
            else:
                fields[name] = st.just(value)
        return st.fixed_dictionaries(fields)

"""No route resolves dependencies side by side: Litestar runs a batch of independent
dependencies in an anyio task group per request, which cost a quarter of a cached item read
(docs/BENCHMARKS.md). Services are resolved after the caller instead (app.orgs.auth.org_service)."""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute


def test_every_route_resolves_its_dependencies_one_at_a_time(app: Litestar) -> None:
    side_by_side: list[str] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (_, kwargs_model) in route.route_handler_map.items():
            for batch in kwargs_model.dependency_batches:
                if len(batch) > 1:
                    names = sorted(dependency.key for dependency in batch)
                    side_by_side.append(f"{method} {route.path}: {names}")
    assert side_by_side == []

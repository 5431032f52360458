"""docs/OPERATIONS.md is the operator's reference: it must name every setting, every metric and
every alert the service has. This fails when one is added without its documentation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import Metric
from prometheus_client.metrics import MetricWrapperBase

import app.core.metrics as metrics
from app.core.config import Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()
SRC = Path(__file__).resolve().parents[2] / "src" / "app"
# Settings filled from other variables, documented under those names.
NOT_A_VARIABLE = {"webhook_secrets": "WEBHOOK_SECRET_"}
ALERT_CALL = re.compile(r"\.(?:fire|send_alert)\(\s*\"([^\"]+)\"", re.MULTILINE)


@pytest.mark.parametrize("field", Settings.__struct_fields__)
def test_every_setting_is_documented(field: str) -> None:
    variable = NOT_A_VARIABLE.get(field, field.upper())
    assert variable in DOC, f"docs/OPERATIONS.md does not mention {variable}"


def _metric_names() -> list[str]:
    found: list[str] = []
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            described: list[Metric] = list(value.describe())
            found.extend(metric.name for metric in described)
    return found


def test_metrics_are_found() -> None:
    assert len(_metric_names()) >= 10


@pytest.mark.parametrize("name", _metric_names())
def test_every_metric_is_documented(name: str) -> None:
    assert re.search(rf"\b{re.escape(name)}(_total|_seconds)?\b", DOC), f"docs/OPERATIONS.md lacks {name}"


def _alert_titles() -> list[str]:
    titles: set[str] = set()
    for path in SRC.rglob("*.py"):
        titles.update(ALERT_CALL.findall(path.read_text()))
    return sorted(titles)


def test_alerts_are_found() -> None:
    assert len(_alert_titles()) >= 3


@pytest.mark.parametrize("title", _alert_titles())
def test_every_alert_is_documented(title: str) -> None:
    assert title in DOC, f"docs/OPERATIONS.md does not describe the alert {title!r}"

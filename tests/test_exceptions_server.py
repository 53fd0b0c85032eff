"""The webhook's side of PolicyExceptions: a metric of active and expired ones, log lines at
load and reload."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import pod_spec, wrap
from tests.reviews import admission_review
from webhook.app import create_app
from webhook.metrics import Metrics
from webhook.policy.loader import load_policy_set
from webhook.reload import PolicyReloader
from webhook.settings import Settings
from webhook.store import PolicyStore

POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: baseline}
spec:
  match: {kinds: [Pod]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""

EXCEPTION = """
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: NAME}
spec:
  policies: [{name: baseline, rules: [run-as-non-root]}]
  match: {kinds: [Pod], namespaces: [legacy]}
  owner: team-data
  reason: vendor image
  expires: EXPIRES
"""


def policy_dir(tmp_path: Path, *exceptions: tuple[str, str]) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir(exist_ok=True)
    (directory / "baseline.yaml").write_text(textwrap.dedent(POLICY))
    for name, expires in exceptions:
        text = EXCEPTION.replace("NAME", name).replace("EXPIRES", expires)
        (directory / f"{name}.yaml").write_text(textwrap.dedent(text))
    return directory


def metrics_text(metrics: Metrics) -> str:
    return metrics.render().decode()


def test_app_exports_active_and_expired_exceptions(tmp_path: Path) -> None:
    policies = load_policy_set(
        [policy_dir(tmp_path, ("old", "2001-01-01"), ("live", "2999-01-01"), ("new", "2998-01-01"))]
    )
    app = create_app(settings=Settings(), policies=policies)

    async def scrape() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            return (await client.get("/metrics")).text

    text = asyncio.run(scrape())
    assert 'policy_webhook_policy_exceptions{state="active"} 2.0' in text
    assert 'policy_webhook_policy_exceptions{state="expired"} 1.0' in text


def test_an_exception_expiring_while_served_is_counted_as_expired(tmp_path: Path) -> None:
    policies = load_policy_set([policy_dir(tmp_path, ("soon", "2030-06-30"))])
    day = [date(2030, 6, 30)]
    metrics = Metrics()
    metrics.watch_exceptions(lambda: policies, today=lambda: day[0])
    assert 'policy_webhook_policy_exceptions{state="active"} 1.0' in metrics_text(metrics)
    day[0] = date(2030, 7, 1)
    text = metrics_text(metrics)
    assert 'policy_webhook_policy_exceptions{state="active"} 0.0' in text
    assert 'policy_webhook_policy_exceptions{state="expired"} 1.0' in text


def expired_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "policy_webhook.exceptions" and record.levelno == logging.WARNING
    ]


def test_expired_exceptions_are_logged_at_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = policy_dir(tmp_path, ("old", "2001-01-01"), ("live", "2999-01-01"))
    caplog.set_level(logging.INFO, logger="policy_webhook")
    create_app(settings=Settings(), policies=load_policy_set([directory]))
    (record,) = expired_records(caplog)
    fields = record.__dict__["fields"]
    assert fields["exception"] == "old"
    assert fields["owner"] == "team-data"
    assert fields["expires"] == "2001-01-01"
    assert fields["source"] == f"{directory / 'old.yaml'}:2"
    assert fields["waives"] == ["baseline/run-as-non-root"]
    (summary,) = [r for r in caplog.records if r.getMessage() == "policy exceptions loaded"]
    assert summary.__dict__["fields"] == {"active": 1, "expired": 1}


def test_expired_exceptions_are_logged_at_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = policy_dir(tmp_path)
    store = PolicyStore(load_policy_set([directory]))
    reloader = PolicyReloader(paths=[directory], store=store, metrics=Metrics())
    policy_dir(tmp_path, ("lapsed", "2002-02-02"))
    caplog.set_level(logging.INFO, logger="policy_webhook")
    assert asyncio.run(reloader.check())
    assert len(store.current.exceptions) == 1
    (record,) = expired_records(caplog)
    assert record.__dict__["fields"]["exception"] == "lapsed"


def test_the_webhook_admits_what_an_active_exception_waives(tmp_path: Path) -> None:
    directory = policy_dir(tmp_path, ("live", "2999-01-01"))
    (directory / "lapsed.yaml").write_text(
        textwrap.dedent(
            EXCEPTION.replace("NAME", "lapsed").replace("EXPIRES", "2001-01-01")
        ).replace("[legacy]", "[old-batch]")
    )
    app = create_app(settings=Settings(), policies=load_policy_set([directory]))

    async def validate(namespace: str) -> dict[str, Any]:
        obj = wrap("Pod", pod_spec(), name="root", namespace=namespace)
        body = json.dumps(admission_review(obj)).encode()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            response: dict[str, Any] = (await client.post("/validate", content=body)).json()[
                "response"
            ]
            return response

    waived = asyncio.run(validate("legacy"))
    assert waived["allowed"] is True
    annotation = waived["auditAnnotations"]["waived.baseline.run-as-non-root"]
    assert "waived by exception live (owner team-data, expires 2999-01-01)" in annotation
    assert asyncio.run(validate("old-batch"))["allowed"] is False  # its exception expired
    assert asyncio.run(validate("shop"))["allowed"] is False  # no exception covers it

    async def scrape() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            return (await client.get("/metrics")).text

    metrics = asyncio.run(scrape())
    assert (
        'policy_webhook_rule_results_total{mode="enforce",policy="baseline",result="waived",'
        'rule="run-as-non-root"} 1.0'
    ) in metrics

"""The drift rules in the webhook app: desired state handed to the engine, reloads, metrics."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.drift_helpers import RENDERED, REVIEWS, policy
from webhook.app import WebhookApp, create_app
from webhook.desired.serving import DesiredStateReloader
from webhook.findings import Finding
from webhook.metrics import Metrics
from webhook.policy.compiled import PolicySet
from webhook.review import AdmissionRequest
from webhook.settings import Settings
from webhook.store import PolicyStore

PolicyFactory = Callable[[str], PolicySet]


def post(app: WebhookApp, name: str) -> dict[str, object]:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            return await client.post("/validate", content=(REVIEWS / f"{name}.json").read_bytes())

    response = asyncio.run(send())
    assert response.status_code == 200
    answer: dict[str, object] = response.json()["response"]
    return answer


def both_rules(path: Path) -> str:
    desired = policy("desiredState", f"path: {path}").split("      check: desiredState\n")[1]
    return policy("gitOwnership") + "    - name: matches-git\n      check: desiredState\n" + desired


@pytest.fixture
def served(
    policy_set: PolicyFactory, tmp_path: Path
) -> tuple[WebhookApp, Metrics, DesiredStateReloader, Path]:
    root = tmp_path / "rendered"
    shutil.copytree(RENDERED, root)
    store = PolicyStore(policy_set(both_rules(root)), time.time())
    metrics = Metrics()
    reloader = DesiredStateReloader(policies=store, metrics=metrics)
    reloader.load()
    app = create_app(
        settings=Settings(),
        policies=store,
        metrics=metrics,
        preloads=reloader.lookups,
    )
    return app, metrics, reloader, root


def test_a_manual_edit_is_denied_with_the_source_and_the_difference(
    served: tuple[WebhookApp, Metrics, DesiredStateReloader, Path],
) -> None:
    app, *_ = served
    answer = post(app, "kubectl-edit")
    assert answer["allowed"] is False
    status = answer["status"]
    assert isinstance(status, dict) and status["code"] == 403
    message = status["message"]
    assert "denied by policy-webhook (2 violations)" in message
    assert "[gitops/no-drift] alice@example.com may not change Deployment shop/web" in message
    assert "Argo CD application shop-prod" in message
    assert "[gitops/matches-git] Deployment shop/web differs from Git" in message
    assert '"registry.example.com/shop/web:1.5.0"' in message


def test_break_glass_is_admitted_warned_recorded_and_counted(
    served: tuple[WebhookApp, Metrics, DesiredStateReloader, Path],
) -> None:
    app, metrics, *_ = served
    answer = post(app, "break-glass-edit")
    assert answer["allowed"] is True
    warnings = answer["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 2
    assert all(
        "break-glass change by user bob@example.com (group oidc:sre-oncall)" in w for w in warnings
    )
    annotations = answer["auditAnnotations"]
    assert isinstance(annotations, dict)
    assert sorted(annotations) == ["gitops.matches-git", "gitops.no-drift"]
    assert all("bob@example.com" in text for text in annotations.values())
    text = metrics.render().decode()
    assert 'policy_webhook_break_glass_total{policy="gitops",rule="no-drift"} 1.0' in text
    assert 'policy_webhook_break_glass_total{policy="gitops",rule="matches-git"} 1.0' in text
    assert 'result="overridden"' in text


def test_controllers_pass(served: tuple[WebhookApp, Metrics, DesiredStateReloader, Path]) -> None:
    app, metrics, *_ = served
    for name in ("argocd-sync", "flux-apply", "hpa-scale"):
        answer = post(app, name)
        assert answer["allowed"] is True and "warnings" not in answer, name
    assert "policy_webhook_break_glass_total{" not in metrics.render().decode()


def test_the_directory_is_reloaded_when_it_changes(
    served: tuple[WebhookApp, Metrics, DesiredStateReloader, Path],
) -> None:
    app, metrics, reloader, root = served
    assert post(app, "kubectl-edit")["allowed"] is False
    web = root / "shop" / "web.yaml"
    web.write_text(web.read_text().replace("web:1.4.2", "web:1.5.0"))
    assert asyncio.run(reloader.check())  # Git now declares the new image
    only_ownership = post(app, "kubectl-edit")
    status = only_ownership["status"]
    assert isinstance(status, dict) and "(1 violation)" in status["message"]
    assert reloader.load() == []  # nothing changed since
    text = metrics.render().decode()
    assert 'policy_webhook_desired_state_reloads_total{result="success"} 2.0' in text
    assert f'policy_webhook_desired_state_objects{{path="{root}"}} 5.0' in text


def test_a_vanished_directory_fails_closed(
    served: tuple[WebhookApp, Metrics, DesiredStateReloader, Path],
) -> None:
    app, metrics, reloader, root = served
    shutil.rmtree(root)
    (result,) = reloader.load()
    assert not result.ok
    answer = post(app, "unmanaged-edit")  # not managed, but Git cannot be read: no silent allow
    assert answer["allowed"] is False
    status = answer["status"]
    assert isinstance(status, dict)
    assert "cannot compare with the desired state" in status["message"]
    text = metrics.render().decode()
    assert f'policy_webhook_desired_state_objects{{path="{root}"}} -1.0' in text
    assert 'policy_webhook_desired_state_reloads_total{result="failure"} 1.0' in text


def test_the_stores_follow_a_policy_reload(policy_set: PolicyFactory, tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    shutil.copytree(RENDERED, first)
    shutil.copytree(RENDERED, second)
    store = PolicyStore(policy_set(both_rules(first)), time.time())
    metrics = Metrics()
    reloader = DesiredStateReloader(policies=store, metrics=metrics)
    assert [r.key.path for r in reloader.load()] == [str(first)]
    store.replace(policy_set(both_rules(second)))
    assert [r.key.path for r in reloader.load()] == [str(second)]
    assert [key.path for key in reloader.lookups()] == [str(second)]
    assert f'path="{first}"' not in metrics.render().decode()


def test_lookups_of_the_request_win_over_preloads(
    policy_set: PolicyFactory, tmp_path: Path
) -> None:
    seen: list[Mapping[Any, Any]] = []

    def fake(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
        lookups: Mapping[Any, Any] | None = None,
        today: date | None = None,
    ) -> list[Finding]:
        seen.append(dict(lookups or {}))
        return []

    async def lookup(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> Mapping[Any, Any]:
        return {"b": 2}

    app = create_app(
        settings=Settings(),
        policies=policy_set(both_rules(tmp_path)),
        evaluate=fake,
        lookup=lookup,
        preloads=lambda: {"a": 1, "b": 1},
    )
    assert post(app, "kubectl-edit")["allowed"] is True
    assert seen == [{"a": 1, "b": 2}]


def test_a_set_without_drift_rules_is_handed_no_preloads(policy_set: PolicyFactory) -> None:
    asked: list[None] = []

    def preloads() -> Mapping[Any, Any]:
        asked.append(None)
        return {"a": 1}

    seen: list[Mapping[Any, Any] | None] = []

    def fake(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
        lookups: Mapping[Any, Any] | None = None,
        today: date | None = None,
    ) -> list[Finding]:
        seen.append(lookups)
        return []

    policies = policy_set(policy("gitOwnership"))
    assert not policies.preloads
    app = create_app(settings=Settings(), policies=policies, evaluate=fake, preloads=preloads)
    assert post(app, "kubectl-edit")["allowed"] is True
    assert seen == [None] and asked == []

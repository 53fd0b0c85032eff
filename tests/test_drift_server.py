"""The drift rules in the real server process: desired state loaded at start and reloaded."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.drift_helpers import RENDERED, REVIEWS, policy
from tests.webhook_server import WebhookClient, running_webhook, write_certificates

WAIT = 30.0  # seconds the reload may take at most on a loaded machine (not a measurement)


def load(name: str) -> dict[str, Any]:
    review: dict[str, Any] = json.loads((REVIEWS / f"{name}.json").read_text())
    return review


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebhookClient, Path]]:
    root = tmp_path_factory.mktemp("drift")
    rendered = root / "rendered"
    shutil.copytree(RENDERED, rendered)
    ownership = policy("gitOwnership")
    desired = policy("desiredState", f"path: {rendered}").split("      check: desiredState\n")[1]
    policies = root / "policies"
    policies.mkdir()
    (policies / "drift.yaml").write_text(
        ownership + "    - name: matches-git\n      check: desiredState\n" + desired
    )
    certificates = root / "certs"
    write_certificates(certificates)
    with (
        running_webhook(policies=[policies], certificates=certificates, log=root / "log") as server,
        server.client() as client,
    ):
        yield client, rendered


def violations(client: WebhookClient, name: str) -> str:
    response = client.review("/validate", load(name))
    return "" if response["allowed"] else str(response["status"]["message"])


def test_the_server_loads_the_desired_state_and_follows_its_changes(
    served: tuple[WebhookClient, Path],
) -> None:
    client, rendered = served
    assert "(2 violations)" in violations(client, "kubectl-edit")
    metrics = client.get("/metrics").text
    assert f'policy_webhook_desired_state_objects{{path="{rendered}"}} 5.0' in metrics
    web = rendered / "shop" / "web.yaml"
    web.write_text(web.read_text().replace("web:1.4.2", "web:1.5.0"))
    deadline = time.monotonic() + WAIT
    while "(2 violations)" in violations(client, "kubectl-edit") and time.monotonic() < deadline:
        time.sleep(0.1)
    message = violations(client, "kubectl-edit")
    assert "(1 violation)" in message and "Argo CD application shop-prod" in message


def test_break_glass_through_the_server(served: tuple[WebhookClient, Path]) -> None:
    client, _ = served
    response = client.review("/validate", load("break-glass-edit"))
    assert response["allowed"] is True
    assert any("break-glass change by user bob@example.com" in w for w in response["warnings"])
    assert "gitops.no-drift" in response["auditAnnotations"]
    assert (
        'policy_webhook_break_glass_total{policy="gitops",rule="no-drift"}'
        in client.get("/metrics").text
    )

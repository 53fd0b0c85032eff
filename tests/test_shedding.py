"""Load shedding: past the in-flight limit a review is answered at once by the failure mode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.asgi_client import call
from tests.helpers import pod_spec, wrap
from tests.test_app import review_body
from tests.webhook_server import running_webhook, write_certificates
from webhook.app import create_app
from webhook.policy.compiled import PolicySet
from webhook.server import unfinished_counter
from webhook.settings import FailureMode, Settings

BUSY = 10  # requests the worker reports in flight
PRIVILEGED = pod_spec(securityContext={"privileged": True})


@pytest.fixture
def policies(policy_set: Callable[[str], PolicySet]) -> PolicySet:
    return policy_set(
        """
        apiVersion: policy-webhook.dev/v1alpha1
        kind: Policy
        metadata: {name: baseline}
        spec:
          match: {kinds: [Pod]}
          rules:
            - {name: privileged, check: podSecurity/privileged}
        """
    )


def test_over_the_limit_a_review_is_denied_with_429_by_default(policies: PolicySet) -> None:
    app = create_app(
        settings=Settings(max_in_flight=BUSY - 1), policies=policies, in_flight=lambda: BUSY
    )
    body = review_body(wrap("Pod", pod_spec()))
    answer = call(app, "/validate", body)
    assert answer.status_code == 200
    document = answer.json()
    response = document["response"]
    assert response["uid"] == json.loads(body)["request"]["uid"]
    assert document["apiVersion"] == "admission.k8s.io/v1"
    assert response["allowed"] is False
    assert response["status"]["code"] == 429
    assert response["status"]["reason"] == "TooManyRequests"
    assert "overloaded" in response["status"]["message"]
    metrics = call(app, "/metrics", b"", method="GET").text
    assert 'policy_webhook_shed_requests_total{endpoint="validate"} 1.0' in metrics
    assert "policy_webhook_rule_results_total{" not in metrics  # nothing was evaluated


def test_over_the_limit_a_review_is_admitted_with_a_warning_in_allow_mode(
    policies: PolicySet,
) -> None:
    settings = Settings(max_in_flight=BUSY - 1, failure_mode=FailureMode.ALLOW)
    app = create_app(settings=settings, policies=policies, in_flight=lambda: BUSY)
    response = call(app, "/validate", review_body(wrap("Pod", PRIVILEGED))).json()["response"]
    assert response["allowed"] is True
    assert "not evaluated" in response["warnings"][0]


def test_over_the_limit_mutate_admits_without_a_patch(policies: PolicySet) -> None:
    app = create_app(
        settings=Settings(max_in_flight=BUSY - 1), policies=policies, in_flight=lambda: BUSY
    )
    response = call(app, "/mutate", review_body(wrap("Pod", pod_spec()))).json()["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert "without defaults" in response["warnings"][0]


def test_a_malformed_review_is_still_a_400_when_shedding(policies: PolicySet) -> None:
    app = create_app(
        settings=Settings(max_in_flight=BUSY - 1), policies=policies, in_flight=lambda: BUSY
    )
    assert call(app, "/validate", b'{"kind": "AdmissionReview"}').status_code == 400


def test_at_the_limit_reviews_are_evaluated(policies: PolicySet) -> None:
    app = create_app(
        settings=Settings(max_in_flight=BUSY), policies=policies, in_flight=lambda: BUSY
    )
    response = call(app, "/validate", review_body(wrap("Pod", PRIVILEGED))).json()["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 403


def test_a_burst_arriving_together_is_evaluated_up_to_the_limit() -> None:
    """Requests that arrive in one loop step and finish without suspending, as uvicorn runs
    them: finished ones still sit in its task set for a step, yet only the backlog counts."""

    async def burst(size: int, limit: int) -> list[int]:
        tasks: set[asyncio.Task[None]] = set()
        in_flight = unfinished_counter(tasks, limit)
        seen: list[int] = []

        async def request() -> None:
            seen.append(in_flight())

        for _ in range(size):
            task = asyncio.get_running_loop().create_task(request())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        return seen

    seen = asyncio.run(burst(40, 10))
    assert seen == list(range(40, 0, -1))
    assert sum(count <= 10 for count in seen) == 10


def test_the_server_sheds_concurrent_load_cleanly(tmp_path: Path) -> None:
    """Many connections against a limit of 10 requests in flight: every request gets an
    answer (evaluated or shed), none fails or times out, and the metric counts every shed one.
    How many are shed depends on how fast the machine is; the shed answers themselves are
    checked deterministically by the tests above."""
    from bench.loadgen import LoadGenerator, Request, Target

    certificates = tmp_path / "certs"
    write_certificates(certificates)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: policy-webhook.dev/v1alpha1\nkind: Policy\nmetadata: {name: baseline}\n"
        "spec:\n  match: {kinds: [Pod]}\n  rules:\n"
        "    - {name: privileged, check: podSecurity/privileged}\n"
    )
    bodies = [review_body(wrap("Pod", pod_spec(), name=f"pod-{i}")) for i in range(20)]
    requests = [
        Request(path="/validate", body=body, uid=json.loads(body)["request"]["uid"])
        for body in bodies
    ]
    with running_webhook(
        policies=[policy],
        certificates=certificates,
        log=tmp_path / "webhook.log",
        extra=["--max-in-flight", "10"],
    ) as server:
        target = Target(
            port=server.port,
            server_name="policy-webhook.policy-webhook.svc",
            ca_file=certificates / "ca.crt",
        )
        result = LoadGenerator(target, requests, connections=40, total=600).run()
        with server.client() as client:
            metrics = client.get("/metrics").text
    assert result.requests == 600
    assert result.errors == 0, result.summary()
    assert result.ok + result.shed == 600
    assert result.ok > 0
    shed_line = next(
        line
        for line in metrics.splitlines()
        if line.startswith('policy_webhook_shed_requests_total{endpoint="validate"}')
    )
    assert float(shed_line.split()[-1]) == result.shed

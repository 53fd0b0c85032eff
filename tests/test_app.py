"""The app in process: collaborators plugged in, the one catch-all, deadlines, body limits."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.asgi_client import call
from tests.conftest import REPOSITORY
from tests.helpers import pod_spec, wrap
from tests.reviews import admission_review
from webhook.app import create_app
from webhook.findings import Finding
from webhook.metrics import Metrics
from webhook.policy.compiled import PolicySet
from webhook.review import AdmissionRequest
from webhook.settings import FailureMode, Settings
from webhook.store import PolicyStore

JSONObject = dict[str, Any]
POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: baseline}
spec:
  match: {kinds: [Pod]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""


def review_body(obj: JSONObject, **options: Any) -> bytes:
    return json.dumps(admission_review(obj, **options)).encode()


def broken_evaluate(
    request: AdmissionRequest,
    policies: PolicySet,
    *,
    namespace_labels: Mapping[str, str] | None = None,
    lookups: Mapping[Any, Any] | None = None,
    today: date | None = None,
) -> list[Finding]:
    raise KeyError("no such check")


@pytest.fixture
def policies(policy_set: Callable[[str], PolicySet]) -> PolicySet:
    return policy_set(POLICY)


def test_an_internal_error_is_denied_with_the_reason(policies: PolicySet) -> None:
    app = create_app(settings=Settings(), policies=policies, evaluate=broken_evaluate)
    answer = call(app, "/validate", review_body(wrap("Pod", pod_spec())))
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert "KeyError: 'no such check'" in response["status"]["message"]
    assert "failure mode is deny" in response["status"]["message"]
    metrics = call(app, "/metrics", b"", method="GET").text
    assert 'policy_webhook_internal_errors_total{endpoint="validate"} 1.0' in metrics
    assert 'verdict="error"' in metrics


def test_an_internal_error_is_allowed_with_a_warning_when_configured(
    policies: PolicySet,
) -> None:
    settings = Settings(failure_mode=FailureMode.ALLOW)
    app = create_app(settings=settings, policies=policies, evaluate=broken_evaluate)
    response = call(app, "/validate", review_body(wrap("Pod", pod_spec()))).json()["response"]
    assert response["allowed"] is True
    (warning,) = response["warnings"]
    assert "KeyError" in warning and "failure mode is allow" in warning


def test_a_lookup_past_its_deadline_is_an_internal_error(policies: PolicySet) -> None:
    async def slow_lookup(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> Mapping[Any, Any]:
        await asyncio.sleep(30)
        return {}

    settings = Settings(timeout_seconds=0.05)
    app = create_app(settings=settings, policies=policies, lookup=slow_lookup)
    response = call(app, "/validate", review_body(wrap("Pod", pod_spec()))).json()["response"]
    assert response["allowed"] is False
    assert "TimeoutError" in response["status"]["message"]


class _UnwantedLookup:
    """A lookup that says no request needs it, and would run past any deadline if called."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def wanted(self, request: AdmissionRequest, policies: PolicySet) -> bool:
        self.asked.append(request.uid)
        return False

    async def __call__(
        self,
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> Mapping[Any, Any]:
        await asyncio.sleep(30)
        return {}


def test_a_lookup_that_is_not_wanted_is_not_called(policies: PolicySet) -> None:
    lookup = _UnwantedLookup()
    settings = Settings(timeout_seconds=0.05)
    app = create_app(settings=settings, policies=policies, lookup=lookup)
    body = review_body(wrap("Pod", pod_spec()))
    response = call(app, "/validate", body).json()["response"]
    assert response["allowed"] is False  # denied by the policy, not by a timeout
    assert "TimeoutError" not in response["status"]["message"]
    assert lookup.asked == [json.loads(body)["request"]["uid"]]


class _BrokenLookup(_UnwantedLookup):
    """A lookup that fails while telling whether a request needs it."""

    def wanted(self, request: AdmissionRequest, policies: PolicySet) -> bool:
        raise RuntimeError("cannot tell")


def test_an_error_while_telling_whether_to_look_up_is_an_internal_error(
    policies: PolicySet,
) -> None:
    app = create_app(settings=Settings(), policies=policies, lookup=_BrokenLookup())
    response = call(app, "/validate", review_body(wrap("Pod", pod_spec()))).json()["response"]
    assert response["allowed"] is False and response["status"]["code"] == 500
    assert "RuntimeError: cannot tell" in response["status"]["message"]


def test_lookup_results_reach_the_evaluation(policies: PolicySet) -> None:
    seen: list[Mapping[Any, Any] | None] = []

    async def lookup(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> Mapping[Any, Any]:
        return {"image": request.uid}

    def evaluate(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
        lookups: Mapping[Any, Any] | None = None,
        today: date | None = None,
    ) -> list[Finding]:
        seen.append(lookups)
        return []

    app = create_app(settings=Settings(), policies=policies, lookup=lookup, evaluate=evaluate)
    body = review_body(wrap("Pod", pod_spec()))
    response = call(app, "/validate", body).json()["response"]
    assert response["allowed"] is True
    assert seen == [{"image": json.loads(body)["request"]["uid"]}]


def test_an_internal_error_in_mutation_follows_the_failure_mode(policies: PolicySet) -> None:
    def broken_mutate(
        request: AdmissionRequest,
        policies: PolicySet,
        *,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> tuple[JSONObject | None, list[str]]:
        raise ValueError("cannot mutate")

    app = create_app(settings=Settings(), policies=policies, mutate=broken_mutate)
    response = call(app, "/mutate", review_body(wrap("Pod", pod_spec()))).json()["response"]
    assert response["allowed"] is False
    assert "ValueError: cannot mutate" in response["status"]["message"]
    assert "patch" not in response


@pytest.mark.parametrize("path", ["/validate", "/mutate"])
def test_bodies_over_the_limit_get_413_even_without_a_length(
    policies: PolicySet, path: str
) -> None:
    app = create_app(settings=Settings(max_body_bytes=1000), policies=policies)
    body = review_body(wrap("ConfigMap", {"data": {"a": "x" * 2000}}))

    async def chunks() -> Any:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            return await client.post(path, content=chunks())

    answer = asyncio.run(send())
    assert answer.status_code == 413
    assert call(app, path, body).status_code == 413


@pytest.mark.parametrize("path", ["/validate", "/mutate"])
def test_fastapis_own_routes_give_the_same_answers(policies: PolicySet, path: str) -> None:
    fast = create_app(settings=Settings(), policies=policies)
    routed = create_app(settings=Settings(), policies=policies, fast_path=False)
    body = review_body(wrap("Pod", pod_spec()))
    assert call(routed, path, body).json() == call(fast, path, body).json()
    assert call(routed, path, b"null").status_code == 400
    too_large = Settings(max_body_bytes=10)
    small = create_app(settings=too_large, policies=policies, fast_path=False)
    assert call(small, path, body).status_code == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/validate"), ("PUT", "/mutate"), ("POST", "/validate/"), ("POST", "/healthz")],
)
def test_other_methods_and_paths_are_left_to_fastapi(
    policies: PolicySet, method: str, path: str
) -> None:
    fast = create_app(settings=Settings(), policies=policies)
    routed = create_app(settings=Settings(), policies=policies, fast_path=False)
    body = review_body(wrap("Pod", pod_spec()))
    answer = call(fast, path, body, method=method)
    assert answer.status_code in (307, 405)
    expected = call(routed, path, body, method=method)
    assert (answer.status_code, answer.headers, answer.content) == (
        expected.status_code,
        expected.headers,
        expected.content,
    )


def test_the_fast_path_answers_with_the_routes_headers(policies: PolicySet) -> None:
    fast = create_app(settings=Settings(), policies=policies)
    routed = create_app(settings=Settings(), policies=policies, fast_path=False)
    body = review_body(wrap("Pod", pod_spec()))
    for path in ("/validate", "/mutate"):
        answer, expected = call(fast, path, body), call(routed, path, body)
        assert answer.headers == expected.headers
        assert answer.headers["content-type"] == "application/json"


def test_excluded_namespaces_skip_evaluation(policies: PolicySet) -> None:
    settings = Settings(exclude_namespaces=("legacy",), namespace="webhook-system")
    app = create_app(settings=settings, policies=policies, evaluate=broken_evaluate)
    for namespace in ("legacy", "webhook-system"):
        body = review_body(wrap("Pod", pod_spec(), namespace=namespace))
        assert call(app, "/validate", body).json()["response"]["allowed"] is True
    body = review_body(wrap("Pod", pod_spec(), namespace="kube-system"))
    assert call(app, "/validate", body).json()["response"]["allowed"] is False  # not excluded


def test_readiness_follows_the_certificate(policies: PolicySet) -> None:
    state = {"ready": False}
    app = create_app(settings=Settings(), policies=policies, ready=lambda: state["ready"])
    assert call(app, "/readyz", b"", method="GET").status_code == 503
    state["ready"] = True
    assert call(app, "/readyz", b"", method="GET").json() == {"status": "ready", "policies": 1}


def test_decisions_are_logged_as_fields(
    policies: PolicySet, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings=Settings(), policies=policies)
    with caplog.at_level(logging.INFO, logger="policy_webhook.decisions"):
        call(app, "/validate", review_body(wrap("Pod", pod_spec(), name="api"), user="carol"))
    (record,) = [r for r in caplog.records if r.name == "policy_webhook.decisions"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["name"] == "api" and fields["user"] == "carol"
    assert fields["verdict"] == "denied"
    assert fields["failed"] == [
        {"policy": "baseline", "rule": "run-as-non-root", "mode": "enforce"}
    ]


def _without_created(text: bytes) -> list[bytes]:
    """Metrics without the `_created` samples (each app's metrics are created at its start)."""
    return [line for line in text.splitlines() if b"_created " not in line]


@pytest.mark.parametrize("ready", [True, False])
def test_probes_answered_in_front_match_the_routes(policies: PolicySet, ready: bool) -> None:
    store = PolicyStore(policies, loaded_at=1.0)  # one load time for both apps' metrics
    options: dict[str, Any] = {"settings": Settings(), "policies": store, "ready": lambda: ready}
    fast = create_app(metrics=Metrics(), **options)
    routed = create_app(metrics=Metrics(), fast_path=False, **options)
    for path in ("/healthz", "/readyz", "/metrics"):
        answer = call(fast, path, b"", method="GET")
        expected = call(routed, path, b"", method="GET")
        assert answer.status_code == expected.status_code
        assert list(answer.headers) == list(expected.headers)
        assert answer.headers.get("content-type") == expected.headers.get("content-type")
        assert answer.headers["content-length"] == str(len(answer.content))
        assert _without_created(answer.content) == _without_created(expected.content)
    assert call(fast, "/readyz", b"", method="GET").status_code == (200 if ready else 503)


FRONT_PROBE = """
import asyncio, json, sys
import httpx
from webhook.app import create_app
from webhook.policy.loader import load_policy_set
from webhook.settings import Settings

app = create_app(settings=Settings(), policies=load_policy_set([sys.argv[1]]))

async def answers(*requests):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
        sent = [client.request(*request[:2], content=request[2] if request[2:] else None)
                for request in requests]
        return [(await request).status_code for request in sent]

review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
          "request": {"uid": "1", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                      "resource": {"group": "", "version": "v1", "resource": "configmaps"},
                      "operation": "CREATE", "namespace": "default", "userInfo": {},
                      "object": {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "c", "namespace": "default"}}}}
print(asyncio.run(answers(("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
                          ("POST", "/validate", json.dumps(review).encode()))),
      "fastapi" in sys.modules)
print(asyncio.run(answers(("GET", "/openapi.json"))), "fastapi" in sys.modules)
"""


def test_fastapi_is_loaded_by_the_first_request_it_answers(tmp_path: Path) -> None:
    (tmp_path / "baseline.yaml").write_text(POLICY)
    completed = subprocess.run(
        [sys.executable, "-c", FRONT_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["[200, 200, 200, 200] False", "[200] True"]


def _raw_answer(app: Any, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What `app` sends for a POST /validate whose body comes in `messages` (no length)."""
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/validate", "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent


def test_a_body_in_several_messages_is_answered_as_in_one(policies: PolicySet) -> None:
    app = create_app(settings=Settings(), policies=policies)
    body = review_body(wrap("Pod", pod_spec()))
    pieces = [body[start : start + 100] for start in range(0, len(body), 100)]
    chunked = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    chunked.append({"type": "http.request", "body": b"", "more_body": False})
    whole = [{"type": "http.request", "body": body, "more_body": False}]
    first, second = _raw_answer(app, chunked), _raw_answer(app, whole)
    assert len(pieces) > 2 and first == second
    assert first[0]["status"] == 200
    assert json.loads(first[1]["body"])["response"]["allowed"] is False


def test_a_client_gone_before_its_body_ends_gets_nothing(policies: PolicySet) -> None:
    app = create_app(settings=Settings(), policies=policies)
    body = review_body(wrap("Pod", pod_spec()))
    started = {"type": "http.request", "body": body[:50], "more_body": True}
    assert _raw_answer(app, [started, {"type": "http.disconnect"}]) == []
    assert _raw_answer(app, [{"type": "http.disconnect"}]) == []

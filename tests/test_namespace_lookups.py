"""Admission asks for namespace labels only when a policy that may match reads them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.asgi_client import call
from tests.helpers import pod_spec, wrap
from tests.reviews import admission_review
from webhook.app import WebhookApp, create_app
from webhook.policy.compiled import PolicySet
from webhook.policy.matching import UnknownLabels
from webhook.review import AdmissionRequest
from webhook.settings import Settings

JSONObject = dict[str, Any]
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}}
SELECTING = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: prod-read-only}
spec:
  match: {kinds: [Pod], namespaceSelector: {matchLabels: {env: prod}}}
  rules:
    - {name: read-only-root, check: readOnlyRootFilesystem}
"""
PLAIN = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: baseline}
spec:
  match: {kinds: [Pod]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""


class Recorder:
    """A NamespaceSource that answers from a dict (UnknownLabels for the rest) and records."""

    def __init__(self, known: Mapping[str, Mapping[str, str]], *, waiting: str | None = None):
        self.known = known
        self.asked: list[str] = []
        self.waiting = waiting

    async def labels(self, namespace: str) -> Mapping[str, str]:
        self.asked.append(namespace)
        return self.known.get(namespace) or UnknownLabels(namespace, "not in the test cluster")

    def observe(self, request: AdmissionRequest) -> None:
        pass

    def pending(self) -> str | None:
        return self.waiting


def validate(app: WebhookApp, obj: JSONObject) -> JSONObject:
    body = json.dumps(admission_review(obj)).encode()
    response: JSONObject = call(app, "/validate", body).json()["response"]
    return response


def test_no_lookup_when_no_policy_reads_labels(policy_set: Callable[[str], PolicySet]) -> None:
    source = Recorder({})
    app = create_app(settings=Settings(), policies=policy_set(PLAIN), namespaces=source)
    assert validate(app, wrap("Pod", pod_spec(), namespace="shop"))["allowed"] is False
    assert source.asked == []


@pytest.mark.parametrize(
    ("obj", "asked"),
    [
        (wrap("Pod", pod_spec(), namespace="shop"), ["shop"]),
        (wrap("Deployment", pod_spec(), namespace="shop"), ["shop"]),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "s"}},
            [],
        ),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}, []),
    ],
)
def test_lookups_only_for_kinds_a_selecting_policy_may_match(
    policy_set: Callable[[str], PolicySet], obj: JSONObject, asked: list[str]
) -> None:
    source = Recorder({"shop": {"env": "dev"}})
    app = create_app(settings=Settings(), policies=policy_set(SELECTING), namespaces=source)
    assert validate(app, obj)["allowed"] is True
    assert source.asked == asked


def test_the_labels_looked_up_decide(policy_set: Callable[[str], PolicySet]) -> None:
    source = Recorder({"shop": {"env": "prod"}})
    app = create_app(settings=Settings(), policies=policy_set(SELECTING), namespaces=source)
    denied = validate(app, wrap("Pod", pod_spec(), namespace="shop"))
    assert denied["allowed"] is False
    assert denied["status"]["code"] == 403
    assert "[prod-read-only/read-only-root] container" in denied["status"]["message"]
    unknown = validate(app, wrap("Pod", pod_spec(), namespace="elsewhere"))
    assert unknown["allowed"] is False
    assert (
        "the labels of namespace elsewhere are unknown (not in the test cluster)"
        in (unknown["status"]["message"])
    )


def test_readyz_waits_for_the_namespace_source(policy_set: Callable[[str], PolicySet]) -> None:
    source = Recorder({}, waiting="namespace labels not listed yet: connection refused")
    app = create_app(settings=Settings(), policies=policy_set(SELECTING), namespaces=source)
    waiting = call(app, "/readyz", method="GET")
    assert waiting.status_code == 503
    assert waiting.json() == {
        "detail": "not ready: namespace labels not listed yet: connection refused"
    }
    source.waiting = None
    assert call(app, "/readyz", method="GET").status_code == 200

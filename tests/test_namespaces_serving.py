"""Namespace labels from the Kubernetes API, end to end: the real `serve` process against a
Kubernetes API for namespaces on 127.0.0.1 (real TLS, bearer tokens, LIST, WATCH and GET)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import pod_spec, wrap
from tests.kube_api import PATH, KubeApi
from tests.reviews import admission_review
from tests.webhook_server import (
    WebhookClient,
    WebhookServer,
    atomic_swap,
    running_webhook,
    write_certificates,
)

JSONObject = dict[str, Any]
POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: prod-read-only}
spec:
  match:
    kinds: [Pod]
    namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}
  rules:
    - {name: read-only-root, check: readOnlyRootFilesystem}
"""
RULE = "[prod-read-only/read-only-root]"
UNDECIDED = f"{RULE} cannot tell whether this rule applies: the labels of namespace"
PATIENCE = 20.0  # seconds a change may take to reach the webhook before the test fails


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {PATIENCE:g}s: {what}")


def review(client: WebhookClient, namespace: str, *, compliant: bool = False) -> JSONObject:
    container = {"securityContext": {"readOnlyRootFilesystem": True}} if compliant else {}
    pod = wrap("Pod", pod_spec(**container), namespace=namespace)
    return client.review("/validate", admission_review(pod))


def message(response: JSONObject) -> str:
    assert response["allowed"] is False, response
    text: str = response["status"]["message"]
    return text


def denied_by_the_rule(client: WebhookClient, namespace: str) -> bool:
    response = review(client, namespace)
    return response["allowed"] is False and UNDECIDED not in message(response)


def webhook_arguments(api: KubeApi, *, token: Path | None = None) -> list[str]:
    return [
        "--kube-api",
        api.url,
        "--kube-token",
        str(token or api.token_file),
        "--kube-ca",
        str(api.ca_file),
        "--namespace-timeout-seconds",
        "0.5",
    ]


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("policies")
    (directory / "policy.yaml").write_text(POLICY)
    return directory


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApi]:
    server = KubeApi(tmp_path_factory.mktemp("kube") / "serviceaccount")
    server.create("shop-prod", env="prod")
    server.create("shop-dev", env="dev")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def webhook(
    tmp_path_factory: pytest.TempPathFactory, policies: Path, api: KubeApi
) -> Iterator[WebhookServer]:
    certificates = tmp_path_factory.mktemp("certs")
    write_certificates(certificates)
    with running_webhook(
        policies=[policies],
        certificates=certificates,
        log=certificates / "server.log",
        extra=webhook_arguments(api),
    ) as server:
        yield server


@pytest.fixture(scope="module")
def client(webhook: WebhookServer) -> Iterator[WebhookClient]:
    with webhook.client() as client:
        yield client


def gets(api: KubeApi, namespace: str) -> list[str]:
    """The tokens of the GETs of `namespace` the webhook made."""
    return [seen.token for seen in api.requests("get") if seen.path == f"{PATH}/{namespace}"]


def test_namespaces_that_existed_before_the_start_are_matched(
    api: KubeApi, client: WebhookClient
) -> None:
    assert RULE in message(review(client, "shop-prod"))
    assert UNDECIDED not in message(review(client, "shop-prod"))
    assert review(client, "shop-dev")["allowed"] is True
    assert review(client, "shop-prod", compliant=True)["allowed"] is True
    assert gets(api, "shop-prod") == gets(api, "shop-dev") == []  # listed, not fetched
    (listed,) = api.requests("list")
    assert listed.query["limit"] == "500"
    assert listed.token == "token-1"


def test_a_label_change_through_the_watch_changes_the_verdict(
    api: KubeApi, client: WebhookClient
) -> None:
    api.create("team-a", env="dev")
    assert review(client, "team-a")["allowed"] is True
    api.update("team-a", env="prod")  # a cache hit from now on: only the watch tells
    eventually(lambda: denied_by_the_rule(client, "team-a"), "team-a labelled env=prod")
    api.update("team-a", tier="gold")
    eventually(lambda: review(client, "team-a")["allowed"], "team-a without env=prod")
    assert len(gets(api, "team-a")) <= 1


def test_a_deleted_namespace_is_not_matched_on_its_old_labels(
    api: KubeApi, client: WebhookClient
) -> None:
    api.create("short-lived", env="prod")
    eventually(lambda: denied_by_the_rule(client, "short-lived"), "short-lived created")
    api.delete("short-lived")
    eventually(
        lambda: (
            "short-lived are unknown (the namespace does not exist)"
            in message(review(client, "short-lived"))
        ),
        "short-lived deleted",
    )
    assert UNDECIDED in message(review(client, "short-lived"))
    assert review(client, "short-lived", compliant=True)["allowed"] is True


def test_a_namespace_not_yet_watched_is_fetched_once(api: KubeApi, client: WebhookClient) -> None:
    api.hold(True)  # the watch sends nothing: only a GET can know the new namespace
    try:
        api.create("brand-new", env="prod")
        assert denied_by_the_rule(client, "brand-new")
        assert denied_by_the_rule(client, "brand-new")
        assert gets(api, "brand-new") == ["token-1"]  # the answer was kept
        nowhere = message(review(client, "nowhere"))
        assert f"{UNDECIDED} nowhere are unknown (the namespace does not exist)" in nowhere
    finally:
        api.hold(False)


def test_an_expired_watch_lists_again(api: KubeApi, client: WebhookClient) -> None:
    api.create("moving", env="dev")
    eventually(lambda: review(client, "moving")["allowed"], "moving created")
    lists = len(api.requests("list"))
    api.hold(True)
    api.end_watches()  # the webhook watches again from the version it has, and hears nothing
    api.update("moving", env="prod")
    api.compact()  # that version is now too old: resuming from it is 410 Expired
    api.end_watches()
    api.hold(False)
    eventually(lambda: len(api.requests("list")) > lists, "a new list after 410")
    eventually(lambda: denied_by_the_rule(client, "moving"), "moving labelled env=prod")
    expired = [int(seen.query["resourceVersion"]) < api.oldest for seen in api.requests("watch")]
    assert any(expired)


def test_watches_resume_from_the_last_bookmark(api: KubeApi, client: WebhookClient) -> None:
    version = api.bookmark()
    # Ended only once the bookmark is on the wire: the webhook reads a stream to its end, so it
    # has the bookmark's version before it watches again (ending watches sooner only replays it).
    eventually(lambda: api.was_sent("BOOKMARK", version), "the bookmark sent to the watch")
    watches = len(api.requests("watch"))
    api.end_watches()
    eventually(lambda: len(api.requests("watch")) > watches, "a new watch")
    resumed = api.requests("watch")[-1].query
    assert resumed["resourceVersion"] == str(version)
    assert resumed["allowWatchBookmarks"] == "true"


def test_a_stalled_api_gets_the_fail_closed_answer_within_the_deadline(
    api: KubeApi, client: WebhookClient
) -> None:
    api.stall("get")
    try:
        text = message(review(client, "stalled"))
        assert (
            f"{UNDECIDED} stalled are unknown (the Kubernetes API did not answer within 0.5s); "
            "if it applies, it fails: " in text
        )
        assert review(client, "stalled", compliant=True)["allowed"] is True
    finally:
        api.stall()
    metrics = client.get("/metrics").text
    assert 'policy_webhook_namespace_lookups_total{answer="unknown"}' in metrics


def test_readyz_waits_for_the_first_list_when_the_api_is_down_at_start(
    tmp_path: Path, policies: Path
) -> None:
    api = KubeApi(tmp_path / "serviceaccount")
    api.create("shop-prod", env="prod")
    write_certificates(tmp_path)
    with (
        running_webhook(
            policies=[policies],
            certificates=tmp_path,
            log=tmp_path / "server.log",
            extra=webhook_arguments(api),
            wait_for="/healthz",
        ) as server,
        server.client() as client,
    ):
        try:
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["detail"].startswith(
                "not ready: namespace labels not listed yet: "
            )
            down = message(review(client, "shop-prod"))
            assert f"{UNDECIDED} shop-prod are unknown (looking it up failed: cannot reach" in down
            api.start()
            eventually(lambda: client.get("/readyz").status_code == 200, "ready once listed")
            assert denied_by_the_rule(client, "shop-prod")
        finally:
            api.stop()


def test_a_rotated_token_is_used_for_the_next_requests(tmp_path: Path, policies: Path) -> None:
    api = KubeApi(tmp_path / "api")
    api.create("rotating", env="dev")
    api.start()
    projected = tmp_path / "serviceaccount"  # as kubelet mounts it: ..data swapped at rotation
    projected.mkdir()
    files = {"ca.crt": api.ca_file.read_bytes(), "namespace": b"policy-webhook"}
    atomic_swap(projected, {**files, "token": b"token-1"})
    write_certificates(tmp_path)
    with (
        running_webhook(
            policies=[policies],
            certificates=tmp_path,
            log=tmp_path / "server.log",
            extra=webhook_arguments(api, token=projected / "token"),
        ) as server,
        server.client() as client,
    ):
        try:
            api.tokens = {"token-2"}  # the old token expired
            atomic_swap(projected, {**files, "token": b"token-2"})
            api.hold(True)
            api.create("after-rotation", env="prod")
            assert denied_by_the_rule(client, "after-rotation")
            assert gets(api, "after-rotation") == ["token-2"]
            api.end_watches()
            api.hold(False)
            api.update("rotating", env="prod")
            eventually(lambda: denied_by_the_rule(client, "rotating"), "rotating labelled prod")
            assert api.requests("watch")[-1].token == "token-2"
        finally:
            api.stop()

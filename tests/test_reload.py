"""Reloading without a restart: policies (ConfigMap symlink swaps, plain edits, invalid sets)
and the serving certificate (Secret rotation while clients keep sending requests)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tests.helpers import wrap
from tests.reviews import admission_review
from tests.webhook_server import (
    SERVER_NAME,
    WebhookClient,
    WebhookServer,
    atomic_swap,
    client_context,
    running_webhook,
    serving_certificate,
)
from webhook import tls

WAIT = 20.0
DENY_LABEL = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {{name: deny-{label}}}
spec:
  match: {{kinds: [ConfigMap]}}
  rules:
    - name: no-{label}
      expression: "!has(object.metadata.labels) || !('{label}' in object.metadata.labels)"
      message: "ConfigMap {{name}} may not carry the label {label}"
"""


def deny_label(label: str) -> bytes:
    return DENY_LABEL.format(label=label).encode()


@dataclass
class Setup:
    server: WebhookServer
    ca: tls.Issued
    config_map: Path  # policies mounted the ConfigMap way
    extra: Path  # a plain policy file
    certificates: Path  # certificate mounted the Secret way


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("reload")
    config_map = base / "policies"
    config_map.mkdir()
    atomic_swap(config_map, {"policies.yaml": deny_label("blocked")})
    extra = base / "extra.yaml"
    extra.write_bytes(deny_label("extra"))
    certificates = base / "tls"
    certificates.mkdir()
    ca = tls.generate_ca(common_name="test webhook CA")
    serving = serving_certificate(ca)
    atomic_swap(
        certificates,
        {
            "ca.crt": ca.certificate_pem(),
            "tls.crt": serving.certificate_pem(),
            "tls.key": serving.key_pem(),
        },
    )
    with running_webhook(
        policies=[config_map, extra], certificates=certificates, log=base / "server.log"
    ) as server:
        yield Setup(server, ca, config_map, extra, certificates)


@pytest.fixture(scope="module")
def client(setup: Setup) -> Iterator[WebhookClient]:
    with setup.server.client() as client:
        yield client


def allowed(client: WebhookClient, label: str) -> bool:
    obj = wrap("ConfigMap", {"data": {}}, labels={label: "yes"})
    verdict: bool = client.review("/validate", admission_review(obj))["allowed"]
    return verdict


def counter(client: WebhookClient, sample: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[1])
    return 0.0


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


FAILURES = 'policy_webhook_policy_reloads_total{result="failure"}'
SUCCESSES = 'policy_webhook_policy_reloads_total{result="success"}'


def test_a_configmap_symlink_swap_reloads_the_policies(setup: Setup, client: WebhookClient) -> None:
    atomic_swap(setup.config_map, {"policies.yaml": deny_label("blocked")})
    eventually(lambda: not allowed(client, "blocked"))
    before = counter(client, SUCCESSES)
    atomic_swap(setup.config_map, {"policies.yaml": deny_label("forbidden")})
    eventually(lambda: not allowed(client, "forbidden"))
    assert allowed(client, "blocked")
    assert counter(client, SUCCESSES) > before
    assert client.get("/readyz").json()["policies"] == 2


def test_a_plain_file_edit_reloads_the_policies(setup: Setup, client: WebhookClient) -> None:
    setup.extra.write_bytes(deny_label("other"))
    eventually(lambda: not allowed(client, "other"))
    assert allowed(client, "extra")


@pytest.mark.parametrize(
    "broken",
    [
        b"apiVersion: policy-webhook.dev/v1alpha1\nkind: Policy\nmetadata: {name: x\n",
        b"apiVersion: policy-webhook.dev/v1alpha1\nkind: Policy\nmetadata: {name: nope}\n"
        b"spec: {rules: [{name: r, check: noSuchCheck}]}\n",
        b"apiVersion: policy-webhook.dev/v1alpha1\nkind: Policy\nmetadata: {name: empty}\n"
        b"spec: {rules: []}\n",
    ],
    ids=["bad-yaml", "unknown-check", "empty-policy"],
)
def test_an_invalid_set_is_rejected_and_the_last_good_one_serves(
    setup: Setup, client: WebhookClient, broken: bytes
) -> None:
    atomic_swap(setup.config_map, {"policies.yaml": deny_label("kept")})
    eventually(lambda: not allowed(client, "kept"))
    failures = counter(client, FAILURES)
    atomic_swap(setup.config_map, {"policies.yaml": broken})
    eventually(lambda: counter(client, FAILURES) > failures)
    assert not allowed(client, "kept")  # still the last good set
    assert client.get("/readyz").status_code == 200
    rejected = [
        json.loads(line) for line in setup.server.log_lines() if "policy reload rejected" in line
    ]
    assert any("policies.yaml" in error for error in rejected[-1]["errors"])


@dataclass
class Traffic:
    """Requests sent without pause, on one kept-alive connection and on new connections."""

    server: WebhookServer
    ca_file: Path
    stop: threading.Event = field(default_factory=threading.Event)
    answered: dict[str, int] = field(default_factory=lambda: {"kept": 0, "new": 0})
    failures: list[str] = field(default_factory=list)

    def run(self) -> None:
        kept = self.server.client(ca_file=self.ca_file)
        fresh = httpx.Client(base_url=self.server.base_url, verify=client_context(self.ca_file))
        body = json.dumps(admission_review(wrap("ConfigMap", {"data": {}}))).encode()
        senders: list[tuple[str, Callable[[], httpx.Response]]] = [
            ("kept", lambda: kept.post("/validate", body)),
            ("new", lambda: _post_closing(fresh, body)),
        ]
        with kept, fresh:
            while not self.stop.is_set():
                for name, send in senders:
                    try:
                        answer = send()
                        assert answer.status_code == 200, answer.text
                        assert answer.json()["response"]["allowed"] is True
                        self.answered[name] += 1
                    except Exception as error:
                        self.failures.append(f"{name}: {error!r}")


def _post_closing(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post(
        "/validate",
        content=body,
        headers={"connection": "close"},
        extensions={"sni_hostname": SERVER_NAME},
    )


def served_serial(setup: Setup) -> int:
    """The serial of the certificate a new TLS connection gets (verified like the API server)."""
    context = client_context(setup.certificates / "ca.crt")
    with (
        socket.create_connection(("127.0.0.1", setup.server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=SERVER_NAME) as wrapped,
    ):
        der = wrapped.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_certificate_rotation_under_traffic_fails_no_request(
    setup: Setup, client: WebhookClient
) -> None:
    current = x509.load_pem_x509_certificate((setup.certificates / "tls.crt").read_bytes())
    assert served_serial(setup) == current.serial_number
    reloads = counter(client, 'policy_webhook_certificate_reloads_total{result="success"}')
    traffic = Traffic(setup.server, setup.certificates / "ca.crt")
    thread = threading.Thread(target=traffic.run)
    thread.start()
    try:
        eventually(lambda: min(traffic.answered.values()) >= 5)
        rotated = serving_certificate(setup.ca)
        atomic_swap(
            setup.certificates,
            {
                "ca.crt": setup.ca.certificate_pem(),
                "tls.crt": rotated.certificate_pem(),
                "tls.key": rotated.key_pem(),
            },
        )
        eventually(lambda: served_serial(setup) == rotated.certificate.serial_number)
        after = dict(traffic.answered)
        eventually(lambda: all(traffic.answered[k] >= after[k] + 5 for k in after))
    finally:
        traffic.stop.set()
        thread.join(timeout=WAIT)
    assert traffic.failures == []
    assert counter(client, 'policy_webhook_certificate_reloads_total{result="success"}') > reloads
    expiry = counter(client, "policy_webhook_certificate_expiry_timestamp_seconds")
    assert expiry == rotated.certificate.not_valid_after_utc.timestamp()
    assert client.get("/readyz").status_code == 200


def test_a_certificate_that_does_not_load_keeps_the_previous_one(
    setup: Setup, client: WebhookClient
) -> None:
    serial = served_serial(setup)
    failures = counter(client, 'policy_webhook_certificate_reloads_total{result="failure"}')
    other = serving_certificate(setup.ca)
    mismatched = tls.generate_ca(common_name="unrelated").key_pem()
    atomic_swap(
        setup.certificates,
        {
            "ca.crt": setup.ca.certificate_pem(),
            "tls.crt": other.certificate_pem(),
            "tls.key": mismatched,
        },
    )
    eventually(
        lambda: (
            counter(client, 'policy_webhook_certificate_reloads_total{result="failure"}') > failures
        )
    )
    assert served_serial(setup) == serial
    assert client.get("/healthz").status_code == 200
    atomic_swap(
        setup.certificates,
        {
            "ca.crt": setup.ca.certificate_pem(),
            "tls.crt": other.certificate_pem(),
            "tls.key": other.key_pem(),
        },
    )
    eventually(lambda: served_serial(setup) == other.certificate.serial_number)
    with pytest.raises(ssl.SSLCertVerificationError):
        wrong = client_context(setup.certificates / "ca.crt")
        with (
            socket.create_connection(("127.0.0.1", setup.server.port), timeout=5) as raw,
            wrong.wrap_socket(raw, server_hostname="elsewhere.policy-webhook.svc"),
        ):
            pass

"""The real webhook process for end-to-end tests, and a client that calls it like the API server:
TLS verified against the generated CA with the Service's DNS name as server name (SNI), while
connecting to 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from webhook import tls

SERVICE = "policy-webhook"
NAMESPACE = "policy-webhook"
SERVER_NAME = f"{SERVICE}.{NAMESPACE}.svc"
REPOSITORY = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
CLIENT_TIMEOUT = 10.0  # the API server's maximum webhook timeout

JSONObject = dict[str, Any]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serving_certificate(ca: tls.Issued) -> tls.Issued:
    names = [*tls.service_names(SERVICE, NAMESPACE), *tls.LOCAL_NAMES]
    return tls.generate_serving_certificate(ca, dns_names=names, ip_addresses=tls.LOCAL_ADDRESSES)


def write_certificates(directory: Path) -> tls.Issued:
    """A CA and serving certificate for the test Service, as `policy-webhook certs` writes;
    returns the CA (to issue the next certificate with)."""
    ca = tls.generate_ca(common_name="test webhook CA")
    tls.write_bundle(directory, ca=ca, serving=serving_certificate(ca))
    return ca


def atomic_swap(directory: Path, files: dict[str, bytes]) -> None:
    """Update `directory` the way kubelet updates a mounted ConfigMap or Secret: the files go
    to a new hidden folder, the `..data` symlink is swapped to it in one rename, and every
    name is a symlink through `..data`."""
    stamp = f"..{time.time_ns()}"
    (directory / stamp).mkdir()
    for name, content in files.items():
        (directory / stamp / name).write_bytes(content)
    data = directory / "..data"
    previous = os.readlink(data) if data.is_symlink() else None
    temporary = directory / "..data_tmp"
    os.symlink(stamp, temporary)
    os.replace(temporary, data)
    for name in files:
        link = directory / name
        if not link.is_symlink():
            os.symlink(f"..data/{name}", link)
    if previous is not None:
        for old in (directory / previous).iterdir():
            old.unlink()
        (directory / previous).rmdir()


def client_context(ca_file: Path, client_cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """What the API server does with the caBundle: verify the chain and the server name;
    with `client_cert` (certificate, key), present it as the API server's client certificate."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    return context


@dataclass
class WebhookServer:
    process: subprocess.Popen[bytes]
    port: int
    certificates: Path
    log: Path
    client_cert: tuple[Path, Path] | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self, *, ca_file: Path | None = None) -> WebhookClient:
        return WebhookClient(
            self.base_url, ca_file or self.certificates / tls.CA_FILE, self.client_cert
        )

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines()


class WebhookClient:
    """An httpx client that connects to 127.0.0.1 but verifies (and sends SNI) SERVER_NAME."""

    def __init__(
        self, base_url: str, ca_file: Path, client_cert: tuple[Path, Path] | None = None
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url, verify=client_context(ca_file, client_cert), timeout=CLIENT_TIMEOUT
        )

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def post(self, path: str, body: bytes) -> httpx.Response:
        return self.http.post(
            path,
            content=body,
            headers={"content-type": "application/json"},
            extensions={"sni_hostname": SERVER_NAME},
        )

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, extensions={"sni_hostname": SERVER_NAME})

    def review(self, path: str, review: JSONObject) -> JSONObject:
        """POST an AdmissionReview and return its `response` (asserting HTTP 200 and the uid)."""
        answer = self.post(path, _json(review))
        assert answer.status_code == 200, answer.text
        document: JSONObject = answer.json()
        assert document["kind"] == "AdmissionReview"
        assert document["apiVersion"] == review["apiVersion"]
        response: JSONObject = document["response"]
        assert response["uid"] == review["request"]["uid"]
        return response


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def decoded_patch(response: JSONObject) -> list[JSONObject] | None:
    """The response's JSON Patch operations, or None when it has no patch."""
    if "patch" not in response:
        return None
    assert response["patchType"] == "JSONPatch"
    operations: list[JSONObject] = json.loads(base64.b64decode(response["patch"]))
    return operations


@contextmanager
def running_webhook(
    *,
    policies: Sequence[Path],
    certificates: Path,
    log: Path,
    extra: Sequence[str] = (),
    client_cert: tuple[Path, Path] | None = None,
    wait_for: str = "/readyz",
) -> Iterator[WebhookServer]:
    """Start `python -m webhook serve` on a free loopback port and wait until `wait_for`
    answers 200; stop it (SIGTERM) at the end. Without a drain (`--drain-seconds 0`) unless
    `extra` sets one; `client_cert` is what the readiness check presents (for `--client-ca`)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "webhook",
        "serve",
        *(argument for path in policies for argument in ("--policies", str(path))),
        "--tls-cert",
        str(certificates / tls.CERT_FILE),
        "--tls-key",
        str(certificates / tls.KEY_FILE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--namespace",
        NAMESPACE,
        "--reload-interval",
        "0.1",
        "--drain-seconds",
        "0",
        *extra,
    ]
    # Neither the caller's settings nor, when the tests run in a pod, its Kubernetes API.
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POLICY_WEBHOOK_", "KUBERNETES_SERVICE_"))
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=REPOSITORY, stdout=output, stderr=subprocess.STDOUT, env=environment
        )
    server = WebhookServer(
        process=process, port=port, certificates=certificates, log=log, client_cert=client_cert
    )
    try:
        _wait_ready(server, wait_for)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: WebhookServer, path: str = "/readyz") -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with server.client() as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"the webhook exited early:\n{server.log.read_text()}")
            try:
                if client.get(path).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"the webhook did not become ready:\n{server.log.read_text()}")

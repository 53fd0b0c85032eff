"""Registry faults for bench/faults.py: an imageSignatures rule whose registry is down, then
stalls (accepts connections and never answers), then is down again, under load.

The rule covers only images from a loopback port; every other request of the mix is unaffected.
Signature rules fail closed: each affected review is denied with the reason (HTTP 200), within
the lookup deadline, so no request fails and only those reviews slow down.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench import stats
from bench.loadgen import LoadGenerator, LoadResult, Outcome, Request, Target

LOOKUP_SECONDS = 1.0  # the server's --timeout-seconds in this scenario
SIGNED_REQUESTS = 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_signature_policy(directory: Path, port: int) -> None:
    """A policy requiring signatures by a fresh key on images from 127.0.0.1:`port`."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (directory / "release.pub").write_bytes(pem)
    (directory / "signed.yaml").write_text(
        "apiVersion: policy-webhook.dev/v1alpha1\n"
        "kind: Policy\n"
        "metadata: {name: signed-images}\n"
        "spec:\n"
        "  match: {kinds: [Pod]}\n"
        "  rules:\n"
        "    - name: signed\n"
        "      check: imageSignatures\n"
        "      with:\n"
        f"        images: ['127.0.0.1:{port}/*']\n"
        "        keys: [{file: release.pub}]\n"
        "        registries: {insecure: ['127.0.0.1:*']}\n"
    )


def signed_pod_requests(port: int, count: int) -> list[Request]:
    """Pod reviews naming images in the registry at `port`, each its own tag (no cache hit)."""
    requests = []
    for index in range(count):
        uid = str(uuid.uuid4())
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE",
                "namespace": "default",
                "name": f"signed-{index}",
                "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
                "object": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"signed-{index}", "namespace": "default"},
                    "spec": {
                        "containers": [{"name": "app", "image": f"127.0.0.1:{port}/app:v{index}"}]
                    },
                },
            },
        }
        requests.append(
            Request(path="/validate", body=json.dumps(review).encode(), uid=uid, label="signed")
        )
    return requests


class StallingRegistry:
    """Accepts connections on `port` and never answers, until stopped."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.1)
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.held.append(connection)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.listener.close()
        for connection in self.held:
            connection.close()


def phases(result: LoadResult, boundaries: Sequence[float], names: Sequence[str]) -> dict[str, Any]:
    """Per phase (between boundaries, in seconds from the start): requests, failures, p99."""
    report: dict[str, Any] = {}
    rows = list(zip(result.ended_at, result.latencies, result.outcomes, strict=True))
    edges = [0.0, *boundaries, float("inf")]
    for name, start, end in zip(names, edges, edges[1:], strict=False):
        inside = [(lat, out) for ended, lat, out in rows if start <= ended < end]
        report[name] = {
            "requests": len(inside),
            "failed": sum(1 for _, out in inside if Outcome(out).error),
            "p50_ms": round(stats.percentile([lat for lat, _ in inside], 0.5) * 1e3, 1),
            "p99_ms": round(stats.percentile([lat for lat, _ in inside], 0.99) * 1e3, 1),
        }
    return report


def registry_faults(
    target: Target, mix: Sequence[Request], port: int, *, seconds: float, connections: int
) -> dict[str, Any]:
    """Down for `seconds`, stalling for `seconds`, down again for `seconds`, under load."""
    signed = signed_pod_requests(port, SIGNED_REQUESTS)
    requests = [item for index, pod in enumerate(signed) for item in (mix[index % len(mix)], pod)]
    generator = LoadGenerator(
        target, requests, connections=connections, duration=3 * seconds, timeout=10.0
    )
    generator.start()
    time.sleep(seconds)
    registry = StallingRegistry(port)
    time.sleep(seconds)
    registry.stop()
    result = generator.wait()
    report = phases(result, [seconds, 2 * seconds], ["down", "stalling", "down_again"])
    after = [
        (ended - 2 * seconds, lat)
        for ended, lat in zip(result.ended_at, result.latencies, strict=True)
        if ended >= 2 * seconds
    ]
    # Recovery: the first request after the stall ends that took less than half the deadline.
    report["recovery_s"] = next(
        (round(at, 2) for at, lat in after if lat < LOOKUP_SECONDS / 2), None
    )
    report["denied"] = result.denied
    report["failed"] = sum(1 for out in result.outcomes if Outcome(out).error)
    return report

"""/validate and /mutate with the signature lookup step and a real registry: denials name the
reason, a stalled registry denies by the deadline (not an internal error), /mutate pins."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import pod_spec, wrap
from tests.reviews import admission_review
from tests.signatures.conftest import COSIGN, SINGLE, TESTIMAGE
from tests.signatures.oci import Pusher, RegistryServer
from tests.signatures.signing import Layer, payload, public_pem, push_image, push_signatures, sign
from webhook.app import create_app
from webhook.lookups import SignatureLookup
from webhook.metrics import Metrics
from webhook.policy.loader import load_policy_set
from webhook.settings import Settings
from webhook.signatures.verifier import RegistryVerifier

JSONObject = dict[str, Any]
POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: supply-chain}
spec:
  match: {kinds: [Pod, Deployment]}
  rules:
    - name: signed
      check: imageSignatures
      with:
        keys: [{file: keys/KEY.pub}]
        pinDigest: true
        registries: {insecure: ["127.0.0.1:*"]}
"""


def _answers(
    directory: Path,
    key: str,
    bodies: list[tuple[str, JSONObject]],
    *,
    budget: float = 4.0,
    metrics: Metrics | None = None,
) -> list[JSONObject]:
    """Send reviews to one app (one event loop, one verifier) and return their responses."""
    policy = directory / "policy.yaml"
    policy.write_text(POLICY.replace("KEY", key))
    verifier = RegistryVerifier()
    settings = Settings(timeout_seconds=budget)
    app = create_app(
        settings=settings,
        policies=load_policy_set([policy]),
        metrics=metrics,
        lookup=SignatureLookup(verifier=verifier, budget=budget, metrics=metrics),
    )

    async def send() -> list[JSONObject]:
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
                answers = []
                for path, obj in bodies:
                    body = json.dumps(admission_review(obj)).encode()
                    reply = await client.post(path, content=body)
                    assert reply.status_code == 200
                    answers.append(reply.json()["response"])
                return answers
        finally:
            await verifier.aclose()

    return asyncio.run(send())


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    for name in ("alice", "default"):
        shutil.copy(COSIGN / "keys" / f"{name}.pub", tmp_path / "keys" / f"{name}.pub")
    return tmp_path


def _pod(image: str) -> JSONObject:
    return wrap("Pod", pod_spec(name="api", image=image), name="api")


def test_validate_admits_and_denies_by_signature(registry: RegistryServer, keys_dir: Path) -> None:
    image = f"{registry.host}/{TESTIMAGE}@{SINGLE}"
    metrics = Metrics()
    allowed, again = _answers(
        keys_dir, "alice", [("/validate", _pod(image)), ("/validate", _pod(image))], metrics=metrics
    )
    assert allowed["allowed"] is True and again["allowed"] is True
    exported = metrics.render().decode()
    assert 'policy_webhook_signature_results_total{outcome="verified"} 2.0' in exported
    assert "policy_webhook_signature_lookup_duration_seconds_count 2.0" in exported
    (denied,) = _answers(keys_dir, "default", [("/validate", _pod(image))])
    assert denied["allowed"] is False
    assert denied["status"]["code"] == 403
    assert (
        f'container "api" image "{image}" (sha256:071bf7a986f1...) has no signature from the '
        "required keys (found 1 signature, by an unknown key)"
    ) in denied["status"]["message"]


@pytest.fixture
def stalled() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes the handshakes; nobody ever reads or answers
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_stalled_registry_denies_with_the_reason(stalled: str, keys_dir: Path) -> None:
    (answer,) = _answers(
        keys_dir, "alice", [("/validate", _pod(f"{stalled}/team/api:1.4"))], budget=1.0
    )
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403  # a policy outcome, not an internal error
    assert "could not be verified: timed out" in answer["status"]["message"]


def test_mutate_pins_the_verified_digest(
    registry: RegistryServer, pusher: Pusher, keys_dir: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    (keys_dir / "keys" / "release.pub").write_text(public_pem(key))
    digest = push_image(pusher, "admission/api", "3.1")
    body = payload(f"{registry.host}/admission/api", digest)
    push_signatures(pusher, "admission/api", digest, [Layer(body, sign(key, body))])
    deployment = wrap(
        "Deployment", pod_spec(name="api", image=f"{registry.host}/admission/api:3.1"), name="api"
    )
    mutated, validated = _answers(
        keys_dir, "release", [("/mutate", deployment), ("/validate", deployment)]
    )
    assert validated["allowed"] is True
    patch = json.loads(base64.b64decode(str(mutated["patch"])))
    assert patch == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": f"{registry.host}/admission/api@{digest}",
        }
    ]

"""The webhook process with image signature rules, against the session's real registry:
/validate admits signed images and denies others, /mutate pins verified tags to digests."""

from __future__ import annotations

from collections.abc import Iterator

import jsonpatch
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers import pod_spec, wrap
from tests.reviews import admission_review
from tests.signatures.conftest import SINGLE, TESTIMAGE
from tests.signatures.oci import Pusher, RegistryServer
from tests.signatures.signing import Layer, payload, public_pem, push_image, push_signatures, sign
from tests.webhook_server import (
    WebhookClient,
    decoded_patch,
    running_webhook,
    write_certificates,
)

POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: signed-images}
spec:
  match: {kinds: [Pod]}
  rules:
    - name: release-key
      check: imageSignatures
      with:
        keys: [{name: release, file: release.pub}]
        pinDigest: true
        registries: {insecure: ["127.0.0.1:*"]}
"""


@pytest.fixture(scope="module")
def signed(registry: RegistryServer, pusher: Pusher) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """An image `webhook/api:2.0` signed by a fresh release key; returns its digest."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = push_image(pusher, "webhook/api", "2.0")
    body = payload(f"{registry.host}/webhook/api", digest)
    push_signatures(pusher, "webhook/api", digest, [Layer(body, sign(key, body))])
    return digest, key


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, signed: tuple[str, ec.EllipticCurvePrivateKey]
) -> Iterator[WebhookClient]:
    base = tmp_path_factory.mktemp("signed-webhook")
    policies = base / "policies"
    policies.mkdir()
    (policies / "release.pub").write_text(public_pem(signed[1]))
    (policies / "signed.yaml").write_text(POLICY)
    certificates = base / "certs"
    write_certificates(certificates)
    with (
        running_webhook(
            policies=[policies], certificates=certificates, log=base / "server.log"
        ) as server,
        server.client() as client,
    ):
        yield client


def pod(image: str) -> dict[str, object]:
    return wrap("Pod", pod_spec(image=image))


def test_a_signed_image_is_admitted_and_pinned(
    registry: RegistryServer, signed: tuple[str, ec.EllipticCurvePrivateKey], client: WebhookClient
) -> None:
    obj = pod(f"{registry.host}/webhook/api:2.0")
    assert client.review("/validate", admission_review(obj))["allowed"] is True
    operations = decoded_patch(client.review("/mutate", admission_review(obj)))
    assert operations == [
        {
            "op": "replace",
            "path": "/spec/containers/0/image",
            "value": f"{registry.host}/webhook/api@{signed[0]}",
        }
    ]
    pinned = jsonpatch.apply_patch(obj, operations)
    assert client.review("/validate", admission_review(pinned))["allowed"] is True
    assert decoded_patch(client.review("/mutate", admission_review(pinned))) is None


def test_an_image_signed_by_someone_else_is_denied(
    registry: RegistryServer, client: WebhookClient
) -> None:
    obj = pod(f"{registry.host}/{TESTIMAGE}@{SINGLE}")  # signed by alice, not release
    response = client.review("/validate", admission_review(obj))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert "[signed-images/release-key]" in message
    assert TESTIMAGE in message
    assert decoded_patch(client.review("/mutate", admission_review(obj))) is None


def test_an_unreachable_registry_fails_closed(client: WebhookClient) -> None:
    obj = pod("127.0.0.1:9/nothing/here:1.0")  # the discard port: nothing answers
    response = client.review("/validate", admission_review(obj))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403

"""`policy-webhook certs --render-webhooks`: the webhook configurations with the CA as caBundle,
and the deploy/overlays/generated-certs overlay that applies them with the Secret."""

from __future__ import annotations

import base64
import copy
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from tests.conftest import POLICIES, REPOSITORY
from tests.kustomize import JSONObject, by_kind, one, render
from webhook import tls
from webhook.cabundle import CABundleError, fill_ca_bundle
from webhook.cli import main

WEBHOOKS = REPOSITORY / "deploy" / "base" / "webhooks.yaml"
SERVICE = "policy-webhook"
NAMESPACE = "policy-webhook"
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def configuration(kind: str, *webhooks: JSONObject) -> JSONObject:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "example"},
        "webhooks": list(webhooks),
    }


def calling(name: str, namespace: str) -> JSONObject:
    return {
        "name": f"{name}.example.com",
        "clientConfig": {"service": {"name": name, "namespace": namespace, "path": "/validate"}},
    }


def test_fills_only_webhooks_calling_the_service() -> None:
    ours = calling(SERVICE, NAMESPACE)
    other_namespace = calling(SERVICE, "elsewhere")
    by_url = {"name": "url.example.com", "clientConfig": {"url": "https://example.com/"}}
    manifests = [
        configuration("ValidatingWebhookConfiguration", ours, other_namespace, by_url),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE}},
    ]
    original = copy.deepcopy(manifests)
    (rendered,) = fill_ca_bundle(manifests, ca_pem=PEM, service=SERVICE, namespace=NAMESPACE)
    assert manifests == original  # the input is not changed
    first, second, third = rendered["webhooks"]
    assert base64.b64decode(first["clientConfig"]["caBundle"]) == PEM
    assert "caBundle" not in second["clientConfig"]
    assert "caBundle" not in third["clientConfig"]


@pytest.mark.parametrize(
    "manifests",
    [
        [],
        [configuration("MutatingWebhookConfiguration", calling("other", NAMESPACE))],
        [{"apiVersion": "v1", "kind": "ConfigMap"}, None, "text"],
        [{**configuration("ValidatingWebhookConfiguration"), "webhooks": "none"}],
    ],
)
def test_no_webhook_calling_the_service_is_an_error(manifests: list[object]) -> None:
    with pytest.raises(CABundleError, match=f"{NAMESPACE}/{SERVICE}"):
        fill_ca_bundle(manifests, ca_pem=PEM, service=SERVICE, namespace=NAMESPACE)


def certs(out: Path, *extra: str) -> int:
    arguments = ["--service", SERVICE, "--namespace", NAMESPACE, "--out", str(out), *extra]
    return main(["certs", *arguments])


def verify_serving_certificate(out: Path, ca_bundle: str) -> None:
    """As the API server does: the serving certificate chains to caBundle for the Service name."""
    (ca,) = x509.load_pem_x509_certificates(base64.b64decode(ca_bundle))
    serving = x509.load_pem_x509_certificate((out / tls.CERT_FILE).read_bytes())
    for name in tls.service_names(SERVICE, NAMESPACE):
        verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName(name))
        verifier.verify(serving, [])


def test_certs_renders_the_webhook_configurations(tmp_path: Path) -> None:
    assert certs(tmp_path, "--render-webhooks", str(WEBHOOKS)) == 0
    rendered = list(yaml.safe_load_all((tmp_path / "webhooks.yaml").read_text()))
    source = list(yaml.safe_load_all(WEBHOOKS.read_text()))
    assert len(rendered) == len(source) == 2
    ca_pem = (tmp_path / tls.CA_FILE).read_bytes()
    for before, after in zip(source, rendered, strict=True):
        for webhook in after["webhooks"]:
            bundle = webhook["clientConfig"].pop("caBundle")
            assert base64.b64decode(bundle) == ca_pem
            verify_serving_certificate(tmp_path, bundle)
        assert after == before  # nothing else changes


def test_keep_existing_renders_with_the_kept_ca(tmp_path: Path) -> None:
    assert certs(tmp_path) == 0
    ca_pem = (tmp_path / tls.CA_FILE).read_bytes()
    assert certs(tmp_path, "--keep-existing", "--render-webhooks", str(WEBHOOKS)) == 0
    assert (tmp_path / tls.CA_FILE).read_bytes() == ca_pem
    for document in yaml.safe_load_all((tmp_path / "webhooks.yaml").read_text()):
        for webhook in document["webhooks"]:
            assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == ca_pem


def test_render_webhooks_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert certs(tmp_path / "a", "--render-webhooks", str(tmp_path / "missing.yaml")) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()  # nothing written for unreadable input
    unrelated = tmp_path / "service.yaml"
    unrelated.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")
    assert certs(tmp_path / "b", "--render-webhooks", str(unrelated)) == 2
    assert f"calling the Service {NAMESPACE}/{SERVICE}" in capsys.readouterr().err
    assert not (tmp_path / "b" / "webhooks.yaml").exists()


def test_generated_certs_overlay_applies_the_secret_and_the_ca_bundle(tmp_path: Path) -> None:
    # A copy of the repository's deploy/ and policies/: the overlay reads generated/ files.
    shutil.copytree(REPOSITORY / "deploy", tmp_path / "deploy")
    shutil.copytree(POLICIES, tmp_path / "policies")
    overlay = tmp_path / "deploy" / "overlays" / "generated-certs"
    generated = overlay / "generated"
    webhooks = tmp_path / "deploy" / "base" / "webhooks.yaml"
    assert certs(generated, "--render-webhooks", str(webhooks)) == 0
    objects = render(overlay)
    base = render(tmp_path / "deploy")

    secret = one(objects, "Secret")
    assert secret["type"] == "kubernetes.io/tls"
    volumes = one(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]
    (tls_volume,) = [volume for volume in volumes if volume["name"] == "tls"]
    assert tls_volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert secret["metadata"]["namespace"] == NAMESPACE
    for key in (tls.CERT_FILE, tls.KEY_FILE, tls.CA_FILE):
        assert base64.b64decode(secret["data"][key]) == (generated / key).read_bytes()

    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for webhook in one(objects, kind)["webhooks"]:
            verify_serving_certificate(generated, webhook["clientConfig"].pop("caBundle"))
    # Apart from the Secret and the caBundles, the overlay is the base.
    rest = [obj for obj in objects if obj["kind"] != "Secret"]
    assert sorted(map(yaml.safe_dump, rest)) == sorted(map(yaml.safe_dump, base))
    assert not by_kind(base, "Secret")

"""Webhook configurations with the CA bundle filled in (`policy-webhook certs --render-webhooks`).

Pure: manifests and the CA's PEM in, copies of the Mutating/ValidatingWebhookConfigurations out,
every webhook that calls the given Service carrying the CA as its `clientConfig.caBundle`.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable
from typing import Any

from webhook.errors import PolicyWebhookError

API_VERSION = "admissionregistration.k8s.io/v1"
KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

JSONObject = dict[str, Any]


class CABundleError(PolicyWebhookError):
    """The manifests hold no webhook configuration that calls the Service."""


def ca_bundle(ca_pem: bytes) -> str:
    """The `caBundle` value: the PEM bundle, base64-encoded."""
    return base64.b64encode(ca_pem).decode("ascii")


def _calls(webhook: Any, service: str, namespace: str) -> bool:
    if not isinstance(webhook, dict):
        return False
    client = webhook.get("clientConfig")
    target = client.get("service") if isinstance(client, dict) else None
    return (
        isinstance(target, dict)
        and target.get("name") == service
        and target.get("namespace") == namespace
    )


def fill_ca_bundle(
    manifests: Iterable[Any], *, ca_pem: bytes, service: str, namespace: str
) -> list[JSONObject]:
    """Copies of the webhook configurations in `manifests` with the CA filled in.

    Only webhooks whose `clientConfig.service` is `service` in `namespace` get the bundle;
    other objects are left out. Raises CABundleError when no webhook calls that Service.
    """
    bundle = ca_bundle(ca_pem)
    rendered: list[JSONObject] = []
    filled = 0
    for manifest in manifests:
        if not isinstance(manifest, dict):
            continue
        if manifest.get("apiVersion") != API_VERSION or manifest.get("kind") not in KINDS:
            continue
        configuration = copy.deepcopy(manifest)
        webhooks = configuration.get("webhooks")
        for webhook in webhooks if isinstance(webhooks, list) else []:
            if _calls(webhook, service, namespace):
                webhook["clientConfig"]["caBundle"] = bundle
                filled += 1
        rendered.append(configuration)
    if not filled:
        raise CABundleError(
            f"no {' or '.join(KINDS)} has a webhook calling the Service {namespace}/{service}"
        )
    return rendered

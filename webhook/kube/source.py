"""The namespace source of a worker: the Kubernetes API when one is configured and usable,
else the labels of the Namespaces the worker admits."""

from __future__ import annotations

import dataclasses
import logging

from webhook.errors import KubeConfigError
from webhook.kube.client import KubeClient, check_credentials
from webhook.kube.namespaces import ApiNamespaces
from webhook.metrics import Metrics
from webhook.namespaces import NamespaceLabels, NamespaceSource
from webhook.settings import Settings

LOG = logging.getLogger("policy_webhook.server")


def namespace_source(
    settings: Settings, metrics: Metrics
) -> tuple[NamespaceSource, KubeClient | None]:
    """Where the worker's namespace labels come from: the Kubernetes API when one is set
    (its client is closed by the worker), else the Namespaces the worker admits. Raises
    KubeConfigError when the token or the CA cannot be read."""
    if settings.kube_api is None:
        return NamespaceLabels(), None
    client = KubeClient(
        base_url=settings.kube_api, token_file=settings.kube_token, ca_file=settings.kube_ca
    )
    source = ApiNamespaces(client=client, deadline=settings.namespace_deadline, metrics=metrics)
    return source, client


def checked_kube_api(settings: Settings) -> Settings:
    """`settings`, after checking the Kubernetes API credentials once at the start; raises
    KubeConfigError. An API found only through KUBERNETES_SERVICE_HOST whose credentials are
    missing (no token mounted) is not used: namespace labels then come from admissions."""
    if settings.kube_api is None:
        return settings
    try:
        check_credentials(token_file=settings.kube_token, ca_file=settings.kube_ca)
    except KubeConfigError as error:
        if not settings.kube_api_detected:
            raise
        LOG.warning(
            "in a pod without service account credentials: namespace labels come only from "
            "the Namespaces this webhook admits (mount a token and grant get, list and watch "
            "on namespaces, or set --kube-api off to silence this)",
            extra={"fields": {"error": str(error)}},
        )
        return dataclasses.replace(settings, kube_api=None, kube_api_detected=False)
    return settings

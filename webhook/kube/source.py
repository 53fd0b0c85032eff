"""The namespace source of a worker: the Kubernetes API when one is configured and usable,
else the labels of the Namespaces the worker admits. The HTTP client is imported only when the
API is used."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from webhook.errors import KubeConfigError
from webhook.metrics import Metrics
from webhook.namespaces import NamespaceLabels, NamespaceSource
from webhook.settings import Settings

LOG = logging.getLogger("policy_webhook.server")


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerNamespaces:
    """A worker's namespace source, what runs beside it and what closes at the worker's end."""

    source: NamespaceSource
    run: Callable[[], Coroutine[Any, Any, None]] | None = None  # the API mirror (LIST + WATCH)
    close: Callable[[], Awaitable[None]] | None = None  # the API client's connections


def namespace_source(settings: Settings, metrics: Metrics) -> WorkerNamespaces:
    """Where the worker's namespace labels come from: the Kubernetes API when one is set,
    else the Namespaces the worker admits. Raises KubeConfigError when the token or the CA
    cannot be read."""
    if settings.kube_api is None:
        return WorkerNamespaces(NamespaceLabels())
    from webhook.kube.client import KubeClient
    from webhook.kube.namespaces import ApiNamespaces

    client = KubeClient(
        base_url=settings.kube_api, token_file=settings.kube_token, ca_file=settings.kube_ca
    )
    source = ApiNamespaces(client=client, deadline=settings.namespace_deadline, metrics=metrics)
    return WorkerNamespaces(source, run=source.run, close=client.aclose)


def checked_kube_api(settings: Settings) -> Settings:
    """`settings`, after checking the Kubernetes API credentials once at the start; raises
    KubeConfigError. An API found only through KUBERNETES_SERVICE_HOST whose credentials are
    missing (no token mounted) is not used: namespace labels then come from admissions."""
    if settings.kube_api is None:
        return settings
    from webhook.kube.client import check_credentials

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

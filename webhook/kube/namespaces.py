"""Namespace labels from the Kubernetes API: a LIST + WATCH mirror, and a GET on a miss.

`run` (a background task of each worker) lists every namespace, then watches from the list's
resourceVersion: ADDED/MODIFIED/DELETED update the mirror, BOOKMARK moves the version on, an
expired version (410, as an ERROR event or an HTTP status) lists again, and any other failure
reconnects after an exponential backoff with jitter. The mirror keeps serving what it knows
while the API is away. `labels` answers from the mirror; a miss (before the first list, or a
namespace newer than the last event) is one GET shared by concurrent requests, each waiting
for it no longer than the deadline; an answer older than the last event for that namespace is
not kept. Whatever cannot be answered in time is `UnknownLabels` with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Mapping

import httpx
import msgspec

from webhook.errors import ExpiredError, KubeApiError, KubeConfigError
from webhook.kube.client import KubeClient
from webhook.kube.objects import NAMESPACE, STATUS, WatchEvent
from webhook.metrics import Metrics
from webhook.policy.matching import UnknownLabels
from webhook.review import AdmissionRequest

LOG = logging.getLogger("policy_webhook.namespaces")
LIST_TIMEOUT = 30.0
WATCH_SECONDS = (300, 600)  # like client-go's reflectors: spread the reconnects
HEALTHY_WATCH_SECONDS = 10.0  # a watch that lasted this long resets the backoff
# A GET outlives the deadline of the requests waiting for it: a late answer still fills the
# mirror for the next requests (a slow API is not asked again and again).
FETCH_SECONDS = 5.0
# RFC 1123 labels: what a namespace name can be (and nothing that changes the GET's path).
NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def describe(error: Exception) -> str:
    """A short reason for logs and messages; never headers, so never the token."""
    if isinstance(error, httpx.TimeoutException):
        return f"no answer in time ({type(error).__name__})"
    if isinstance(error, httpx.HTTPError):
        return f"cannot reach the Kubernetes API ({type(error).__name__}: {error})"
    return str(error)


class Backoff:
    """Exponential delays with jitter between reconnects: base, 2 base, ... up to maximum."""

    def __init__(self, *, base: float = 0.5, maximum: float = 30.0) -> None:
        self.base = base
        self.maximum = maximum
        self.failures = 0

    def next(self) -> float:
        delay = min(self.maximum, self.base * 2.0**self.failures)
        self.failures = min(self.failures + 1, 32)
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0


class ApiNamespaces:
    """A NamespaceSource backed by the Kubernetes API (see the module docstring)."""

    def __init__(
        self,
        *,
        client: KubeClient,
        deadline: float,
        metrics: Metrics,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.deadline = deadline
        self.metrics = metrics
        self.backoff = backoff or Backoff()
        self._labels: dict[str, Mapping[str, str]] = {}
        self._listed = False
        self._problem = "listing the namespaces"
        # Events and lists are counted, so a GET answer older than an event is not stored.
        self._epoch = 0
        self._listed_at = 0
        self._touched: dict[str, int] = {}
        self._fetches: dict[str, asyncio.Task[Mapping[str, str]]] = {}

    def observe(self, request: AdmissionRequest) -> None:
        """Nothing: the watch, not an admission that may still fail, tells what exists."""

    def pending(self) -> str | None:
        if self._listed:
            return None
        return f"namespace labels not listed yet: {self._problem}"

    def known(self, namespace: str) -> Mapping[str, str] | None:
        """The labels the mirror holds for `namespace`, without a lookup; None when none."""
        return self._labels.get(namespace)

    async def labels(self, namespace: str) -> Mapping[str, str]:
        found = self._labels.get(namespace)
        if found is not None:
            self.metrics.namespace_lookups.labels("cache").inc()
            return found
        answer = await self._fetch(namespace)
        self.metrics.namespace_lookups.labels(
            "unknown" if isinstance(answer, UnknownLabels) else "api"
        ).inc()
        return answer

    async def _fetch(self, namespace: str) -> Mapping[str, str]:
        if not NAMESPACE_NAME.fullmatch(namespace):
            return UnknownLabels(namespace, "not a valid namespace name")
        task = self._fetches.get(namespace)
        if task is None:
            task = asyncio.create_task(self._get(namespace))
            self._fetches[namespace] = task
            task.add_done_callback(lambda _: self._fetches.pop(namespace, None))
        try:
            async with asyncio.timeout(self.deadline):
                return await asyncio.shield(task)
        except TimeoutError:
            return UnknownLabels(
                namespace, f"the Kubernetes API did not answer within {self.deadline:g}s"
            )

    async def _get(self, namespace: str) -> Mapping[str, str]:
        started = self._epoch
        try:
            found = await self.client.get_namespace(
                namespace, timeout=max(self.deadline, FETCH_SECONDS)
            )
        except (KubeApiError, KubeConfigError, httpx.HTTPError) as error:
            return UnknownLabels(namespace, f"looking it up failed: {describe(error)}")
        if found is None:
            return UnknownLabels(namespace, "the namespace does not exist")
        labels = found.labels
        if self._listed_at <= started and self._touched.get(namespace, -1) <= started:
            self._labels[namespace] = labels
        return labels

    async def run(self) -> None:
        """List and watch until cancelled; never raises otherwise."""
        version: str | None = None
        while True:
            began = time.monotonic()
            try:
                if version is None:
                    version = await self._list()
                version = await self._watch(version)
                if time.monotonic() - began >= HEALTHY_WATCH_SECONDS:
                    self.backoff.reset()
                    continue
                reason = "the watch ended at once"
            except ExpiredError as error:
                # Too old to resume: list again at once, unless that keeps happening.
                self.metrics.namespace_watch_errors.labels("expired").inc()
                LOG.info("namespace watch expired; listing again", extra=_fields(error))
                version = None
                if self.backoff.failures == 0:
                    self.backoff.failures = 1
                    continue
                reason = str(error)
            except (KubeApiError, KubeConfigError, httpx.HTTPError) as error:
                reason = describe(error)
                self.metrics.namespace_watch_errors.labels("error").inc()
                LOG.warning("namespace list or watch failed", extra=_fields(error))
            except Exception as error:  # a bug must not end the mirror's updates
                reason = f"{type(error).__name__}: {error}"
                self.metrics.namespace_watch_errors.labels("error").inc()
                LOG.exception("namespace list or watch failed")
            self._problem = reason
            await asyncio.sleep(self.backoff.next())

    async def _list(self) -> str:
        try:
            items, version = await self.client.list_namespaces(timeout=LIST_TIMEOUT)
        except Exception:
            self.metrics.namespace_lists.labels("failure").inc()
            raise
        self._epoch += 1
        self._listed_at = self._epoch
        self._touched.clear()
        self._labels = {item.name: item.labels for item in items if item.name}
        self.metrics.namespace_lists.labels("success").inc()
        self.metrics.namespaces_known.set(len(self._labels))
        if not self._listed:
            LOG.info("namespaces listed", extra={"fields": {"namespaces": len(self._labels)}})
        self._listed = True
        return version

    async def _watch(self, version: str) -> str:
        seconds = random.randint(*WATCH_SECONDS)
        async with self.client.watch_namespaces(
            resource_version=version, timeout_seconds=seconds
        ) as events:
            async for event in events:
                version = self._apply(event, version)
        return version

    def _apply(self, event: WatchEvent, version: str) -> str:
        """Apply one event; the resourceVersion to resume from. Raises ExpiredError (410) or
        KubeApiError for an ERROR event."""
        try:
            if event.type == "ERROR":
                status = STATUS.decode(event.object)
                error_type = ExpiredError if status.code == 410 else KubeApiError
                raise error_type(status.code, status.reason, status.message)
            namespace = NAMESPACE.decode(event.object)
        except msgspec.MsgspecError as error:
            raise KubeApiError(0, f"malformed {event.type} event", str(error)) from None
        name = namespace.name
        if event.type in ("ADDED", "MODIFIED") and name:
            self._labels[name] = namespace.labels
        elif event.type == "DELETED" and name:
            self._labels.pop(name, None)
        elif event.type != "BOOKMARK":
            LOG.info("unknown watch event type", extra={"fields": {"type": event.type}})
        if name:
            self._epoch += 1
            self._touched[name] = self._epoch
            self.metrics.namespaces_known.set(len(self._labels))
        return namespace.metadata.resourceVersion or version


def _fields(error: Exception) -> dict[str, dict[str, str]]:
    return {"fields": {"error": describe(error)}}

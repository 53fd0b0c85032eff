"""Reloading policies and the serving certificate when their files change, without a restart.

Files are polled (stat of every file, following symlinks), which also sees the `..data`
symlink swap of a mounted ConfigMap or Secret. A new policy set is loaded and validated in a
worker thread first; an invalid one is logged and counted, and the last good set stays. A new
certificate is loaded into a fresh SSLContext that new connections switch to during their
handshake; connections already open keep theirs, so no in-flight request fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from webhook.desired.serving import DesiredStateReloader
from webhook.errors import CertificateError, PolicySetError
from webhook.logs import log_exceptions
from webhook.metrics import Metrics
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set, policy_files
from webhook.store import PolicyStore
from webhook.tls import load_certificate, server_context

LOG = logging.getLogger("policy_webhook.reload")
Fingerprint = tuple[tuple[str, str, int, int, int] | tuple[str], ...]


def fingerprint(files: Sequence[Path]) -> Fingerprint:
    """What changes when any file changes: its resolved path, inode, size and mtime."""
    result: list[tuple[str, str, int, int, int] | tuple[str]] = []
    for file in files:
        try:
            stat = file.stat()
            result.append(
                (str(file), os.path.realpath(file), stat.st_ino, stat.st_size, stat.st_mtime_ns)
            )
        except OSError:
            result.append((str(file),))
    return tuple(result)


def policy_fingerprint(paths: Sequence[Path]) -> Fingerprint:
    """The fingerprint of the policy files under `paths` (and of the paths themselves)."""
    try:
        files = policy_files(paths)
    except Exception:  # a path vanished for a moment (symlink swap): compare what is there
        files = []
    return fingerprint([*paths, *files])


class PolicyReloader:
    """Replaces the store's policy set when the policy files change and the new set is valid."""

    def __init__(
        self,
        *,
        paths: Sequence[Path],
        store: PolicyStore,
        metrics: Metrics,
        seen: Fingerprint | None = None,
        prepare: Callable[[PolicySet], None] | None = None,
    ) -> None:
        """`seen`: the files' fingerprint when the store's set was loaded (default: now).
        `prepare(policies)` runs in the loading thread for every valid new set, before it is
        served (e.g. imports what its rules need)."""
        self.paths = tuple(paths)
        self.store = store
        self.metrics = metrics
        self.prepare = prepare
        self._seen = seen if seen is not None else self._fingerprint()

    def _fingerprint(self) -> Fingerprint:
        return policy_fingerprint(self.paths)

    def _load(self) -> PolicySet:
        policies = load_policy_set(self.paths)
        if self.prepare is not None:
            self.prepare(policies)
        return policies

    async def check(self) -> bool:
        """Reload when a file changed; True when a new set is being served."""
        before = await asyncio.to_thread(self._fingerprint)
        if before == self._seen:
            return False
        try:
            policies = await asyncio.to_thread(self._load)
        except PolicySetError as error:
            self._seen = before
            self.metrics.policy_reloads.labels("failure").inc()
            LOG.error(
                "policy reload rejected; still serving the last good set",
                extra={
                    "fields": {
                        "errors": [str(item) for item in error.errors],
                        "policies": len(self.store.current.policies),
                    }
                },
            )
            return False
        # Files that changed again while loading are loaded again at the next check.
        after = await asyncio.to_thread(self._fingerprint)
        self._seen = before if after == before else ()
        self.store.replace(policies)
        self.metrics.policy_reloads.labels("success").inc()
        self.metrics.policies_loaded.set(len(policies.policies))
        self.metrics.policy_set_timestamp.set(self.store.loaded_at)
        LOG.info(
            "policies reloaded",
            extra={
                "fields": {"policies": list(policies.names()), "generation": self.store.generation}
            },
        )
        log_exceptions(policies, datetime.now(UTC).date())
        return True


class CertificateReloader:
    """Owns the server's SSLContext; new handshakes switch to the newest certificate loaded."""

    def __init__(
        self, *, certfile: Path, keyfile: Path, metrics: Metrics, client_ca: Path | None = None
    ) -> None:
        self.certfile = certfile
        self.keyfile = keyfile
        self.client_ca = client_ca
        self.metrics = metrics
        self.expiry = 0.0
        self._seen = fingerprint(self._files())
        self.context = self._load()  # raises CertificateError: the server does not start
        self.context.sni_callback = self._select
        self.current = self.context

    def _files(self) -> list[Path]:
        """The files whose change reloads the context (the client CA too, when given)."""
        return [self.certfile, self.keyfile, *([self.client_ca] if self.client_ca else [])]

    def ready(self) -> bool:
        """A certificate is loaded and has not expired."""
        return time.time() < self.expiry

    def _load(self) -> ssl.SSLContext:
        context = server_context(self.certfile, self.keyfile, client_ca=self.client_ca)
        self.expiry = load_certificate(self.certfile).not_valid_after_utc.timestamp()
        self.metrics.certificate_expiry.set(self.expiry)
        return context

    def _select(
        self,
        connection: ssl.SSLObject | ssl.SSLSocket,
        server_name: str | None,
        base: ssl.SSLContext,
    ) -> None:
        """Called at every handshake (with or without SNI): use the newest context."""
        current = self.current
        if current is not base:
            connection.context = current

    def check(self) -> bool:
        """Load the files into a new context when they changed; True when it is now served."""
        before = fingerprint(self._files())
        if before == self._seen:
            return False
        try:
            context = self._load()
        except CertificateError as error:
            self._seen = before
            self.metrics.certificate_reloads.labels("failure").inc()
            LOG.error(
                "certificate reload failed; still serving the previous certificate",
                extra={"fields": {"reason": str(error)}},
            )
            return False
        after = fingerprint(self._files())
        self._seen = before if after == before else ()
        self.current = context
        self.metrics.certificate_reloads.labels("success").inc()
        LOG.info("certificate reloaded", extra={"fields": {"certificate": str(self.certfile)}})
        return True


async def watch(
    *,
    policies: PolicyReloader,
    certificates: CertificateReloader,
    interval: float,
    desired: DesiredStateReloader | None = None,
) -> None:
    """Check every `interval` seconds until cancelled; never dies of an error. The desired
    state (drift rules) is checked after the policies, so it follows a policy reload at once."""
    while True:
        await asyncio.sleep(interval)
        try:
            certificates.check()
            await policies.check()
            if desired is not None:
                await desired.check()
        except Exception:
            LOG.exception("reload check failed")

"""The HTTPS server: uvicorn (uvloop, httptools) with our own SSLContext, plus the reload loop.

`run` loads policies and the certificate first (a bad one stops the start with exit code 2),
then serves until SIGTERM/SIGINT, giving in-flight requests `shutdown_seconds` to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import uvicorn
import uvloop
from prometheus_client import disable_created_metrics

from webhook.app import create_app
from webhook.desired.serving import DesiredStateReloader, with_preloads
from webhook.engine import evaluate
from webhook.errors import CertificateError, PolicySetError
from webhook.lookups import SignatureLookup, lookup_deadline
from webhook.metrics import Metrics
from webhook.policy.loader import load_policy_set
from webhook.reload import CertificateReloader, PolicyReloader, watch
from webhook.settings import Settings
from webhook.signatures.verifier import RegistryVerifier, VerifierSettings
from webhook.store import PolicyStore

LOG = logging.getLogger("policy_webhook.server")
EXIT_OK = 0
EXIT_BAD_INPUT = 2


def build_server(
    settings: Settings,
) -> tuple[uvicorn.Server, PolicyReloader, CertificateReloader, DesiredStateReloader]:
    """The uvicorn server and the reloaders; raises PolicySetError or CertificateError.

    The desired state of drift rules is loaded here too; a directory that cannot be read does
    not stop the start (the rules report errors until it can, e.g. until git-sync cloned it).
    """
    if settings.tls_cert is None or settings.tls_key is None:
        raise CertificateError("--tls-cert and --tls-key are required (the webhook serves HTTPS)")
    metrics = Metrics()
    certificates = CertificateReloader(
        certfile=settings.tls_cert, keyfile=settings.tls_key, metrics=metrics
    )
    store = PolicyStore(load_policy_set(settings.policies), time.time())
    policies = PolicyReloader(paths=settings.policies, store=store, metrics=metrics)
    lookup = SignatureLookup(
        verifier=RegistryVerifier(
            settings=VerifierSettings(request_timeout=lookup_deadline(settings.timeout_seconds))
        ),
        budget=settings.timeout_seconds,
    )
    desired = DesiredStateReloader(policies=store, metrics=metrics)
    desired.load()
    app = create_app(
        settings=settings,
        policies=store,
        metrics=metrics,
        evaluate=with_preloads(evaluate, desired.lookups),
        ready=certificates.ready,
        lookup=lookup,
    )
    app.state.verifier = lookup.verifier
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        access_log=False,  # one decision line per review is logged instead
        log_config=None,
        server_header=False,
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=settings.shutdown_seconds,
        ssl_context_factory=lambda config, default: certificates.context,
    )
    return uvicorn.Server(config), policies, certificates, desired


async def _serve(
    server: uvicorn.Server,
    policies: PolicyReloader,
    certificates: CertificateReloader,
    desired: DesiredStateReloader,
    interval: float,
) -> None:
    watcher = asyncio.create_task(
        watch(policies=policies, certificates=certificates, desired=desired, interval=interval)
    )
    try:
        await server.serve()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        # The verifier's connections belong to this event loop: close them on it.
        verifier = getattr(getattr(server.config.app, "state", None), "verifier", None)
        if isinstance(verifier, RegistryVerifier):
            await verifier.aclose()


def run(settings: Settings) -> int:
    """Serve until stopped; 0 after a clean shutdown, 2 when policies or TLS files are bad."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        server, policies, certificates, desired = build_server(settings)
    except PolicySetError as error:
        for item in error.errors:
            LOG.error("invalid policy", extra={"fields": {"error": str(item)}})
        return EXIT_BAD_INPUT
    except CertificateError as error:
        LOG.error("cannot load the serving certificate", extra={"fields": {"error": str(error)}})
        return EXIT_BAD_INPUT
    LOG.info(
        "starting",
        extra={
            "fields": {
                "host": settings.host,
                "port": settings.port,
                "policies": list(policies.store.current.names()),
                "excluded_namespaces": sorted(settings.excluded),
                "failure_mode": settings.failure_mode.value,
            }
        },
    )
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(server, policies, certificates, desired, settings.reload_interval))
    except SystemExit:  # uvicorn exits when it cannot listen (address in use, bad host)
        return EXIT_BAD_INPUT
    return EXIT_OK if server.started else EXIT_BAD_INPUT

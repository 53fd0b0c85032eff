"""The HTTPS server: uvicorn (uvloop, httptools) with our own SSLContext, plus the reload loop.

`run` loads policies and the certificate first (a bad one stops the start with exit code 2),
then serves in `--workers` processes (see webhook.workers) until SIGTERM/SIGINT. On SIGTERM,
/readyz fails at once while requests are still served for `drain_seconds` (so the Service
stops routing first); then in-flight requests get `shutdown_seconds` to finish. Each worker
reloads policies and the certificate on its own when their files change.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import uvicorn
import uvloop
from prometheus_client import disable_created_metrics
from starlette.types import ASGIApp
from uvicorn.server import ServerState

from webhook.allocator import release_free_memory
from webhook.app import create_app
from webhook.desired.serving import DesiredStateReloader
from webhook.engine import evaluate
from webhook.errors import CertificateError, KubeConfigError, PolicySetError
from webhook.kube.source import checked_kube_api, namespace_source
from webhook.lookups import SignatureLookup, looks_up_images, lookup_deadline
from webhook.metrics import Metrics, shared_metrics, worker_exited
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.reload import (
    CertificateReloader,
    Fingerprint,
    PolicyReloader,
    policy_fingerprint,
    watch,
)
from webhook.settings import Settings
from webhook.signatures.ondemand import OnDemandRegistryVerifier, import_registry_verifier
from webhook.store import PolicyStore
from webhook.tls import server_context
from webhook.workers import listening_socket, supervise

LOG = logging.getLogger("policy_webhook.server")
EXIT_OK = 0
EXIT_BAD_INPUT = 2
# Young collections after this many new containers (CPython's default is 700): a review's
# containers are freed by reference counting, so fewer collections find no less garbage.
GC_THRESHOLDS = (20_000, 20, 20)
# How often a worker hands the free pages of its C heap back (under a millisecond each).
RELEASE_SECONDS = 10.0


def uvicorn_config(
    app: ASGIApp, settings: Settings, context: Callable[[], ssl.SSLContext]
) -> uvicorn.Config:
    """The uvicorn settings every server of the webhook uses (also the benchmark's floor)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        access_log=False,  # one decision line per review is logged instead
        log_config=None,
        proxy_headers=False,  # the API server calls the webhook directly
        server_header=False,
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=settings.shutdown_seconds,
        ssl_context_factory=lambda config, default: context(),
    )


@dataclass(slots=True)
class Drain:
    """Set when SIGTERM arrives: readiness fails while requests are still served."""

    since: float | None = None  # time.monotonic() of the SIGTERM

    @property
    def active(self) -> bool:
        return self.since is not None


@dataclass(slots=True)
class Worker:
    """What one worker process serves: the app, its TLS context, and what runs beside it."""

    app: ASGIApp
    context: Callable[[], ssl.SSLContext]
    background: Callable[[], Coroutine[Any, Any, None]] | None = None  # cancelled at the end
    close: Callable[[], Awaitable[None]] | None = None  # on the worker's loop, at the end
    drain: Drain = field(default_factory=Drain)  # what the app's readiness reads


class DrainingServer(uvicorn.Server):
    """uvicorn, with a drain on the first SIGTERM: it keeps accepting for `drain_seconds` (the
    app's /readyz fails meanwhile), then shuts down as uvicorn does. A second signal, or
    SIGINT, stops at once."""

    def __init__(self, config: uvicorn.Config, *, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.drain.active and self.drain_seconds > 0:
            self.drain.since = time.monotonic()
            LOG.info("draining", extra={"fields": {"seconds": self.drain_seconds}})
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        since = self.drain.since
        if since is not None and time.monotonic() - since >= self.drain_seconds:
            self.should_exit = True
        return await super().on_tick(counter)


# Builds a worker's app in the worker process; its argument tells how many requests that
# worker has in flight (read, not yet answered), for load shedding.
BuildWorker = Callable[[Callable[[], int]], Worker]


def build_worker(
    settings: Settings,
    *,
    initial: PolicySet,
    loaded_from: Fingerprint,
    in_flight: Callable[[], int],
) -> Worker:
    """The webhook in one worker: app, reloaders and verifier; raises CertificateError.

    The desired state of drift rules is loaded here too; a directory that cannot be read does
    not stop the start (the rules report errors until it can, e.g. until git-sync cloned it).
    """
    if settings.tls_cert is None or settings.tls_key is None:
        raise CertificateError("--tls-cert and --tls-key are required (the webhook serves HTTPS)")
    metrics = Metrics(multiprocess=settings.workers > 1)
    certificates = CertificateReloader(
        certfile=settings.tls_cert,
        keyfile=settings.tls_key,
        metrics=metrics,
        client_ca=settings.client_ca,
    )
    current = policy_fingerprint(settings.policies)
    if current != loaded_from:  # a replaced worker, started after the files changed
        with contextlib.suppress(PolicySetError):  # invalid now: the reload loop says so
            initial, loaded_from = load_policy_set(settings.policies), current
    store = PolicyStore(initial, time.time())
    prepare_lookups(initial)
    policies = PolicyReloader(
        paths=settings.policies,
        store=store,
        metrics=metrics,
        seen=loaded_from,
        prepare=prepare_lookups,
    )
    verifier = OnDemandRegistryVerifier(request_timeout=lookup_deadline(settings.signature_budget))
    lookup = SignatureLookup(verifier=verifier, budget=settings.signature_budget, metrics=metrics)
    desired = DesiredStateReloader(policies=store, metrics=metrics)
    desired.load()
    drain = Drain()
    namespaces = namespace_source(settings, metrics)
    app = create_app(
        settings=settings,
        policies=store,
        metrics=metrics,
        namespaces=namespaces.source,
        evaluate=evaluate,
        preloads=desired.lookups,
        ready=lambda: certificates.ready() and not drain.active,
        lookup=lookup,
        in_flight=in_flight,
    )

    async def background() -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(
                watch(
                    policies=policies,
                    certificates=certificates,
                    desired=desired,
                    interval=settings.reload_interval,
                )
            )
            if metrics.multiprocess:  # another worker may render: hand counts over periodically
                tasks.create_task(flush_loop(metrics, settings.reload_interval))
            if namespaces.run is not None:
                tasks.create_task(namespaces.run())

    async def close() -> None:
        # Their connections belong to the worker's event loop.
        await verifier.aclose()
        if namespaces.close is not None:
            await namespaces.close()

    return Worker(
        app=app,
        context=lambda: certificates.context,
        background=background,
        close=close,
        drain=drain,
    )


def prepare_lookups(policies: PolicySet) -> None:
    """Import the registry verifier before serving a set that looks images up, so that no
    request waits for the import (a set without such rules never imports it)."""
    if looks_up_images(policies):
        import_registry_verifier()


async def flush_loop(metrics: Metrics, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        metrics.flush()


def serve_app(settings: Settings, build: BuildWorker) -> int:
    """Serve what `build` makes in `settings.workers` processes until SIGTERM/SIGINT.

    0 after a clean shutdown, 2 when the address cannot be listened on.
    """
    try:
        if settings.workers == 1:
            sock = listening_socket(settings.host, settings.port, reuse_port=False)
            return _serve_worker(settings, build, sock)
        settle_garbage_collector()  # the workers inherit a frozen heap: no copies of its pages
        return supervise(
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            serve=lambda sock: _serve_worker(settings, build, sock),
            on_exit=worker_exited,
        )
    except OSError as error:
        LOG.error(
            "cannot listen",
            extra={"fields": {"host": settings.host, "port": settings.port, "error": str(error)}},
        )
        return EXIT_BAD_INPUT


def unfinished_counter(tasks: set[asyncio.Task[None]], limit: int) -> Callable[[], int]:
    """How many of `tasks` have not finished, counted exactly only past `limit`.

    A finished task leaves uvicorn's set one loop step later, so when a burst of requests
    arrives together and each is answered without suspending, every one of them would still
    count the whole burst as in flight and all would be shed.
    """

    def unfinished() -> int:
        count = len(tasks)
        if count <= limit:
            return count
        return sum(1 for task in tasks if not task.done())

    return unfinished


def _serve_worker(settings: Settings, build: BuildWorker, sock: socket.socket) -> int:
    state = ServerState()  # uvicorn's: its `tasks` are this worker's requests in flight
    worker = build(unfinished_counter(state.tasks, settings.max_in_flight))
    server = DrainingServer(
        uvicorn_config(worker.app, settings, worker.context),
        drain=worker.drain,
        drain_seconds=settings.drain_seconds,
    )
    server.server_state = state
    settle_garbage_collector()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(server, worker, sock))
    return EXIT_OK if server.started else EXIT_BAD_INPUT


async def _serve(server: uvicorn.Server, worker: Worker, sock: socket.socket) -> None:
    background = asyncio.create_task(worker.background()) if worker.background else None
    releases = asyncio.create_task(release_loop(RELEASE_SECONDS))
    try:
        await server.serve(sockets=[sock])
    finally:
        for task in (releases, background):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if worker.close is not None:
            await worker.close()


async def release_loop(interval: float) -> None:
    """Every `interval` seconds, return the C heap's free pages (what a burst of connections
    left) to the system."""
    while True:
        await asyncio.sleep(interval)
        release_free_memory()


def settle_garbage_collector() -> None:
    """Keep what is loaded at start out of garbage collections: a review decodes into
    thousands of containers, and each full collection would otherwise walk every module,
    model and compiled policy too (measured: most of the p99 latency)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(settings: Settings) -> int:
    """Serve until stopped; 0 after a clean shutdown, 2 when policies or TLS files are bad.

    Policies and the certificate are checked once before any worker starts; each worker then
    loads its own certificate and reloads both when their files change.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]
    if settings.tls_cert is None or settings.tls_key is None:
        LOG.error("cannot load the serving certificate", extra={"fields": {"error": "none given"}})
        return EXIT_BAD_INPUT
    try:
        loaded_from = policy_fingerprint(settings.policies)
        initial = load_policy_set(settings.policies)
        prepare_lookups(initial)  # before the workers fork: they share what it imports
        server_context(settings.tls_cert, settings.tls_key, client_ca=settings.client_ca)
        settings = checked_kube_api(settings)
    except KubeConfigError as error:
        LOG.error("cannot use the Kubernetes API", extra={"fields": {"error": str(error)}})
        return EXIT_BAD_INPUT
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
                "workers": settings.workers,
                "policies": list(initial.names()),
                "excluded_namespaces": sorted(settings.excluded),
                "failure_mode": settings.failure_mode.value,
                "namespace_labels": settings.kube_api or "admitted Namespaces only",
            }
        },
    )
    with shared_metrics(enabled=settings.workers > 1):
        return serve_app(
            settings,
            lambda in_flight: build_worker(
                settings, initial=initial, loaded_from=loaded_from, in_flight=in_flight
            ),
        )

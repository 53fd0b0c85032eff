"""A load generator that calls a webhook the way the API server does, as a module and a command.

TLS verified against a CA with the Service's DNS name as server name (SNI) while connecting to
a loopback address, HTTP/1.1, one keep-alive connection per concurrent caller (or a new
connection per request), each caller sending its next request when the last one is answered.
Requests are encoded once, up front. Each connection (bench.loadconnection) is a non-blocking
socket watched by the event loop (uvloop), TLS done by the ssl module on the socket itself; it
parses the answer from the bytes it reads and writes the next request from the same callback,
with one timer per connection for the timeout. A coroutine per caller only connects (and
reconnects after the server closed, or for each request with a new connection per request).
At one connection this costs what a blocking client in a thread of its own costs, and it keeps
the one event loop for hundreds of connections. Outcomes, latencies and the summary are
bench.loadresult's.

    generator = LoadGenerator(target, requests, connections=50, duration=10)
    result = generator.run()              # or: generator.start(); ...; result = generator.stop()
    result.summary()                      # throughput, p50/p99/max, errors, client CPU

Command line: `python -m bench.loadgen --port 8443 --ca certs/ca.crt --connections 50 --seconds 10`
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from bench.loadconnection import Connection, Wire, connect
from bench.loadresult import LoadResult, Outcome

SHED = Outcome.SHED

__all__ = [
    "DEFAULT_SERVER_NAME",
    "LoadGenerator",
    "LoadResult",
    "Outcome",
    "Request",
    "Target",
    "is_loopback",
    "main",
    "mix_requests",
]

DEFAULT_SERVER_NAME = "policy-webhook.policy-webhook.svc"
CONNECT_RETRY_SECONDS = 0.05
USER_AGENT = "kube-apiserver-admission"


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect, and what to verify: `ca_file` None means plain HTTP."""

    port: int
    host: str = "127.0.0.1"
    server_name: str = DEFAULT_SERVER_NAME
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if not is_loopback(self.host):
            raise ValueError(
                f"{self.host} is not a loopback address: load goes to this machine only"
            )

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.ca_file is None:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


@dataclass(frozen=True, slots=True)
class Request:
    """One request to send: a POST of `body` to `path`; `uid` must come back in the answer."""

    path: str
    body: bytes
    uid: str = ""
    label: str = ""


class LoadGenerator:
    """Closed-loop load: `connections` callers, each with its own connection, until `total`
    requests were sent or `duration` seconds passed (whichever comes first)."""

    def __init__(
        self,
        target: Target,
        requests: Sequence[Request],
        *,
        connections: int = 1,
        total: int | None = None,
        duration: float | None = None,
        new_connection_per_request: bool = False,
        timeout: float = 10.0,
    ) -> None:
        if not requests:
            raise ValueError("no requests to send")
        if total is None and duration is None:
            raise ValueError("give a total number of requests or a duration")
        self.target = target
        self.connections = connections
        self.total = total
        self.duration = duration
        self.timeout = timeout
        self.new_connection = new_connection_per_request
        self._context = target.ssl_context()
        self._server_name = target.server_name if self._context is not None else None
        self._address: tuple[socket.AddressFamily, tuple[Any, ...]] | None = None
        self._wire = [self._encode(request) for request in requests]
        self._next = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._result: LoadResult | None = None
        self._error: BaseException | None = None
        self.completed = 0  # live counters, readable from another thread while running
        self.failed = 0

    def _encode(self, request: Request) -> tuple[bytes, bytes]:
        head = (
            f"POST {request.path} HTTP/1.1\r\n"
            f"Host: {self.target.server_name}:{self.target.port}\r\n"
            f"User-Agent: {USER_AGENT}\r\n"
            "Content-Type: application/json\r\n"
            "Accept: application/json, */*\r\n"
            "Accept-Encoding: gzip\r\n"
            f"Content-Length: {len(request.body)}\r\n"
        )
        if self.new_connection:
            head += "Connection: close\r\n"
        return (head + "\r\n").encode("ascii") + request.body, request.uid.encode()

    # Running in the calling thread.

    def run(self) -> LoadResult:
        """Run to the end in a new event loop; returns the result."""
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(self.run_async())

    # Running in a background thread, for tests that do something while the load runs.

    def start(self) -> None:
        """Start the load in a background thread; `stop()` ends it and returns the result."""
        if self._thread is not None:
            raise RuntimeError("already started")

        def target() -> None:
            try:
                self._result = self.run()
            except BaseException as error:  # handed to stop()
                self._error = error

        self._thread = threading.Thread(target=target, name="loadgen", daemon=True)
        self._thread.start()

    def stop(self) -> LoadResult:
        """Stop sending (requests in flight are awaited) and return the result."""
        if self._thread is None:
            raise RuntimeError("not started")
        self._stopping = True
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def wait(self) -> LoadResult:
        """Wait until a started run reaches its total or duration; returns the result."""
        if self._thread is None:
            raise RuntimeError("not started")
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    async def run_async(self) -> LoadResult:
        """The run on the current event loop: connect every caller, then load."""
        result = LoadResult(connections=self.connections)
        run = _Run(self, result)
        connections: list[Connection | None] = [None] * self.connections
        if not self.new_connection:
            opened = await asyncio.gather(*(self._connect(run) for _ in range(self.connections)))
            connections = list(opened)
        cpu = time.thread_time()
        run.started = time.perf_counter()
        if self.duration is not None:
            run.deadline = run.started + self.duration
        await asyncio.gather(*(self._caller(run, connection) for connection in connections))
        result.elapsed = time.perf_counter() - run.started
        result.client_cpu_seconds = time.thread_time() - cpu
        return result

    async def _connect(self, run: _Run) -> Connection | None:
        try:
            async with asyncio.timeout(self.timeout):
                if self._address is None:
                    family, _, _, _, address = (
                        await asyncio.get_running_loop().getaddrinfo(
                            self.target.host, self.target.port, type=socket.SOCK_STREAM
                        )
                    )[0]
                    self._address = (family, address)
                return await connect(
                    run,
                    self._address,
                    self._context,
                    self._server_name,
                    timeout=self.timeout,
                    keep_alive=not self.new_connection,
                )
        except (OSError, ssl.SSLError, TimeoutError) as error:
            run.result.error_details[f"connect: {type(error).__name__}: {error}"[:120]] += 1
            return None

    async def _caller(self, run: _Run, connection: Connection | None) -> None:
        """One caller: connects when it has no connection, and hands the connection a request;
        the answers and the requests after them run in the connection's callbacks until the
        connection closes (the server closed it, it failed, or it is one per request)."""
        try:
            while (wire := run.take(begun := time.perf_counter())) is not None:
                if connection is None:
                    connection = await self._connect(run)
                    if connection is None:
                        await asyncio.sleep(CONNECT_RETRY_SECONDS)
                        run.record(Outcome.CONNECT_ERROR, begun)
                        continue
                connection.send(wire, begun)
                await connection.closed
                connection = None
        finally:
            if connection is not None:  # connected, never used
                connection.close()
                await connection.closed


class _Run:
    """One run's state shared by its connections: the next request, and the counts."""

    def __init__(self, generator: LoadGenerator, result: LoadResult) -> None:
        self.generator = generator
        self.result = result
        self.started = 0.0
        self.deadline = float("inf")
        self._total = generator.total
        self._wires = generator._wire
        self._record_latency = result.latencies.append
        self._record_end = result.ended_at.append
        self._record_outcome = result.outcomes.append

    def take(self, now: float) -> Wire | None:
        """The next request; None once stopping, past the deadline or at the total."""
        generator = self.generator
        index = generator._next
        if (
            generator._stopping
            or now >= self.deadline
            or (self._total is not None and index >= self._total)
        ):
            return None
        generator._next = index + 1
        return self._wires[index % len(self._wires)]

    def record(self, outcome: Outcome, begun: float) -> float:
        now = time.perf_counter()
        self._record_latency(now - begun)
        self._record_end(now - self.started)
        self._record_outcome(outcome)
        generator = self.generator
        generator.completed += 1
        if outcome > SHED:  # an error
            generator.failed += 1
        return now


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mix_requests(count: int, *, seed: int = 7, path: str = "/validate") -> list[Request]:
    """`count` requests of the benchmark's request mix (bench.mix)."""
    from bench.mix import build_mix

    return [
        Request(path=review.path, body=review.body, uid=review.uid, label=review.label)
        for review in build_mix(count, seed=seed, path=path)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drive a webhook like the API server does.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to connect to")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", type=Path, help="CA file to verify with; without it plain HTTP")
    parser.add_argument("--server-name", default=DEFAULT_SERVER_NAME, help="SNI and Host")
    parser.add_argument("--path", default="/validate")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--requests", type=int, help="stop after this many requests")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")
    parser.add_argument("--new-connections", action="store_true", help="one connection per request")
    parser.add_argument("--mix", type=int, default=2000, help="distinct reviews of the mix")
    parser.add_argument("--timeout", type=float, default=10.0)
    options = parser.parse_args(argv)
    if options.requests is None and options.seconds is None:
        options.seconds = 10.0
    if not is_loopback(options.host):
        parser.error("only loopback addresses are load-tested")
    generator = LoadGenerator(
        Target(
            port=options.port,
            host=options.host,
            server_name=options.server_name,
            ca_file=options.ca,
        ),
        mix_requests(options.mix, path=options.path),
        connections=options.connections,
        total=options.requests,
        duration=options.seconds,
        new_connection_per_request=options.new_connections,
        timeout=options.timeout,
    )
    result = generator.run()
    json.dump(result.summary(), sys.stdout, indent=2)
    print()
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

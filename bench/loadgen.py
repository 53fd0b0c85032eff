"""A load generator that calls a webhook the way the API server does, as a module and a command.

TLS verified against a CA with the Service's DNS name as server name (SNI) while connecting to
a loopback address, HTTP/1.1, one keep-alive connection per concurrent caller (or a new
connection per request), each caller sending its next request when the last one is answered.
Requests are encoded once, up front; the client is plain asyncio streams on uvloop, so one
core drives well over 10,000 requests per second.

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
import ssl
import sys
import threading
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import uvloop

from bench.stats import percentile

DEFAULT_SERVER_NAME = "policy-webhook.policy-webhook.svc"
CONNECT_RETRY_SECONDS = 0.05
CLOSE_SECONDS = 2.0
USER_AGENT = "kube-apiserver-admission"


class Outcome(IntEnum):
    OK = 0  # HTTP 200 with the request's uid in the body
    SHED = 1  # a clean "overloaded" answer: HTTP 429/503, or an AdmissionReview with code 429
    HTTP_ERROR = 2  # any other HTTP status
    BAD_RESPONSE = 3  # HTTP 200 without the request's uid, or an unparsable answer
    CONNECT_ERROR = 4  # no connection or no TLS handshake
    TIMEOUT = 5  # no complete answer within the timeout
    CLOSED = 6  # the server closed or reset the connection before answering

    @property
    def error(self) -> bool:
        return self not in (Outcome.OK, Outcome.SHED)


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


@dataclass(slots=True)
class LoadResult:
    """What a run measured; per request: when it ended (seconds from the start), its latency
    and outcome, in completion order."""

    connections: int
    elapsed: float = 0.0
    client_cpu_seconds: float = 0.0
    ended_at: array[float] = field(default_factory=lambda: array("d"))
    latencies: array[float] = field(default_factory=lambda: array("d"))
    outcomes: array[int] = field(default_factory=lambda: array("b"))
    statuses: Counter[int] = field(default_factory=Counter)
    denied: int = 0
    error_details: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.outcomes)

    def count(self, outcome: Outcome) -> int:
        return self.outcomes.count(outcome)

    @property
    def ok(self) -> int:
        return self.count(Outcome.OK)

    @property
    def shed(self) -> int:
        return self.count(Outcome.SHED)

    @property
    def errors(self) -> int:
        return self.requests - self.ok - self.shed

    @property
    def throughput(self) -> float:
        """Answered requests (OK or shed) per second."""
        return (self.ok + self.shed) / self.elapsed if self.elapsed else 0.0

    def latency(self, share: float, *, outcome: Outcome | None = Outcome.OK) -> float:
        """The `share` percentile of the latencies (seconds) of requests with `outcome`."""
        if outcome is None:
            return percentile(self.latencies, share)
        wanted = int(outcome)
        values = [
            lat for lat, out in zip(self.latencies, self.outcomes, strict=True) if out == wanted
        ]
        return percentile(values, share)

    def timeline(self, step: float = 1.0) -> list[dict[str, float]]:
        """Per `step` seconds: requests answered OK, shed and failed, and their p99 latency."""
        buckets: dict[int, list[tuple[float, int]]] = {}
        for ended, latency, outcome in zip(
            self.ended_at, self.latencies, self.outcomes, strict=True
        ):
            buckets.setdefault(int(ended // step), []).append((latency, outcome))
        rows = []
        for index in sorted(buckets):
            items = buckets[index]
            rows.append(
                {
                    "start": index * step,
                    "ok": sum(1 for _, out in items if out == Outcome.OK),
                    "shed": sum(1 for _, out in items if out == Outcome.SHED),
                    "errors": sum(1 for _, out in items if Outcome(out).error),
                    "p99_ms": percentile([lat for lat, _ in items], 0.99) * 1e3,
                }
            )
        return rows

    def summary(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "requests": self.requests,
            "ok": self.ok,
            "shed": self.shed,
            "errors": self.errors,
            "denied": self.denied,
            "seconds": round(self.elapsed, 3),
            "throughput": round(self.throughput, 1),
            "p50_ms": round(self.latency(0.50) * 1e3, 3),
            "p99_ms": round(self.latency(0.99) * 1e3, 3),
            "max_ms": round(max(self.latencies, default=0.0) * 1e3, 3),
            "client_cpu_seconds": round(self.client_cpu_seconds, 3),
            "client_cpu_per_1000": round(
                self.client_cpu_seconds / self.requests * 1000 if self.requests else 0.0, 4
            ),
            "statuses": dict(self.statuses),
            "error_details": dict(self.error_details.most_common(10)),
        }


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
        streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = [None] * (
            self.connections
        )
        if not self.new_connection:
            opened = await asyncio.gather(*(self._connect(result) for _ in range(self.connections)))
            streams = list(opened)
        cpu = time.thread_time()
        started = time.perf_counter()
        deadline = started + self.duration if self.duration is not None else None
        await asyncio.gather(
            *(
                self._caller(result, streams[index], started, deadline)
                for index in range(self.connections)
            )
        )
        result.elapsed = time.perf_counter() - started
        result.client_cpu_seconds = time.thread_time() - cpu
        return result

    async def _connect(
        self, result: LoadResult
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.open_connection(
                    self.target.host,
                    self.target.port,
                    ssl=self._context,
                    server_hostname=self._server_name,
                    limit=1 << 20,
                )
        except (OSError, ssl.SSLError, TimeoutError) as error:
            result.error_details[f"connect: {type(error).__name__}: {error}"[:120]] += 1
            return None

    def _take(self) -> tuple[bytes, bytes] | None:
        if self._stopping or (self.total is not None and self._next >= self.total):
            return None
        wire = self._wire[self._next % len(self._wire)]
        self._next += 1
        return wire

    async def _caller(
        self,
        result: LoadResult,
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
        started: float,
        deadline: float | None,
    ) -> None:
        clock = time.perf_counter
        record_latency, record_end, record_outcome = (
            result.latencies.append,
            result.ended_at.append,
            result.outcomes.append,
        )
        try:
            while deadline is None or clock() < deadline:
                wire = self._take()
                if wire is None:
                    break
                payload, uid = wire
                begun = clock()
                if stream is None:
                    stream = await self._connect(result)
                    if stream is None:
                        outcome = Outcome.CONNECT_ERROR
                        await asyncio.sleep(CONNECT_RETRY_SECONDS)
                        now = clock()
                        record_latency(now - begun)
                        record_end(now - started)
                        record_outcome(outcome)
                        self.completed += 1
                        self.failed += 1
                        continue
                outcome, keep = await self._exchange(result, stream, payload, uid)
                now = clock()
                record_latency(now - begun)
                record_end(now - started)
                record_outcome(outcome)
                self.completed += 1
                if outcome.error:
                    self.failed += 1
                if not keep or self.new_connection:
                    await _close(stream[1])
                    stream = None
        finally:
            if stream is not None:
                await _close(stream[1])

    async def _exchange(
        self,
        result: LoadResult,
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        payload: bytes,
        uid: bytes,
    ) -> tuple[Outcome, bool]:
        """Send one request and read its answer: (outcome, whether the connection is reusable)."""
        reader, writer = stream
        try:
            async with asyncio.timeout(self.timeout):
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                status, length, close = _parse_head(head)
                body = await reader.readexactly(length)
        except TimeoutError:
            result.error_details["timeout"] += 1
            return Outcome.TIMEOUT, False
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            result.error_details[f"closed: {type(error).__name__}"] += 1
            return Outcome.CLOSED, False
        except (OSError, ssl.SSLError, ValueError, asyncio.LimitOverrunError) as error:
            result.error_details[f"{type(error).__name__}: {error}"[:120]] += 1
            return Outcome.BAD_RESPONSE, False
        result.statuses[status] += 1
        if status in (429, 503):
            return Outcome.SHED, not close
        if status != 200:
            result.error_details[f"HTTP {status}: {body[:80]!r}"] += 1
            return Outcome.HTTP_ERROR, not close
        if uid and uid not in body:
            result.error_details["answer without the request's uid"] += 1
            return Outcome.BAD_RESPONSE, not close
        if b'"allowed":false' in body:
            if b'"code":429' in body:
                return Outcome.SHED, not close
            result.denied += 1
        return Outcome.OK, not close


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, content length, whether the server closes) of an HTTP/1.1 response head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    return status, length, close


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close with the TLS shutdown; abort when the server does not take part in time."""
    try:
        writer.close()
        async with asyncio.timeout(CLOSE_SECONDS):
            await writer.wait_closed()
    except Exception:
        writer.transport.abort()


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

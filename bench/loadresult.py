"""What a load generator run measured: the outcome of every request, its latency and when it
ended, HTTP statuses, denials and error details; percentiles, a per-second timeline, a summary."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from bench.stats import percentile


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

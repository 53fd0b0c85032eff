"""Load and faults on loopback: `policy-webhook serve` under the request mix, at rising
concurrency, then with faults injected while under load; bounded in count and time.

Faults: a policy reload with an invalid set (restored after a second), a certificate rotation,
a signature registry that is down, then stalls, then is down again (bench.registry_faults), and
SIGTERM (readiness fails first, requests are still answered for --drain-seconds, then the
server finishes what is in flight and exits). For each: requests failed (target zero), p99
latency before and during the fault, and the recovery time (from the fault to the first
quarter-second with no error and p99 within twice the baseline). A long run samples the
RSS of every worker, which must stay flat.

    python -m bench.faults [--levels 1 10 50 100] [--seconds 5] [--long-seconds 30]

`--soak` runs only the long run (no faults), e.g. five minutes of the `100` policy set at 50
connections on 2 workers, RSS sampled every 5 s, first and last minute compared:

    python -m bench.faults --soak --policies 100 --workers 2 --long-connections 50 \
        --long-seconds 300 --sample-seconds 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench import stats
from bench.loadgen import LoadGenerator, LoadResult, Outcome, Request, Target, mix_requests
from bench.policysets import SETS, write_policy_set
from bench.registry_faults import LOOKUP_SECONDS, registry_faults, write_signature_policy
from bench.registry_faults import free_port as registry_port
from bench.server_bench import MIB, NAMESPACE, SERVER_NAME, SERVICE, Server, started
from webhook import tls

STEP = 0.25  # seconds per timeline bucket
FAULT_CONNECTIONS = 20
DRAIN_SECONDS = 2
MINUTE = 60.0


def write_certificates(directory: Path) -> tls.Issued:
    """A CA and serving certificate; returns the CA, which issues the rotated certificate."""
    ca = tls.generate_ca(common_name="faults CA")
    tls.write_bundle(directory, ca=ca, serving=serving(ca))
    return ca


def serving(ca: tls.Issued) -> tls.Issued:
    return tls.generate_serving_certificate(
        ca, dns_names=tls.service_names(SERVICE, NAMESPACE), ip_addresses=tls.LOCAL_ADDRESSES
    )


def target(server: Server, certificates: Path) -> Target:
    return Target(port=server.port, server_name=SERVER_NAME, ca_file=certificates / tls.CA_FILE)


def rising(
    server: Server,
    requests: Sequence[Request],
    certificates: Path,
    levels: Sequence[int],
    seconds: float,
) -> list[dict[str, Any]]:
    rows = []
    for level in levels:
        result = LoadGenerator(
            target(server, certificates), requests, connections=level, duration=seconds
        ).run()
        rows.append(result.summary())
    return rows


def under_fault(
    server: Server,
    requests: Sequence[Request],
    certificates: Path,
    *,
    seconds: float,
    fault: Callable[[], None],
    new_connections: bool = False,
) -> dict[str, Any]:
    """Load for `seconds`; `fault` runs at a third of it. Figures split before/after the fault."""
    generator = LoadGenerator(
        target(server, certificates),
        requests,
        connections=FAULT_CONNECTIONS,
        duration=seconds,
        timeout=10.0,
        new_connection_per_request=new_connections,
    )
    generator.start()
    time.sleep(seconds / 3)
    started_at = time.monotonic()
    fault()
    fault_done = time.monotonic() - started_at
    result = generator.wait()
    return summarize(result, at=seconds / 3, fault_seconds=fault_done)


def summarize(result: LoadResult, *, at: float, fault_seconds: float) -> dict[str, Any]:
    rows = result.timeline(STEP)
    before = [row for row in rows if row["start"] + STEP <= at]
    after = [row for row in rows if row["start"] >= at]
    baseline = stats.median([row["p99_ms"] for row in before]) if before else 0.0
    recovered = None
    for row in after:
        if row["errors"] == 0 and row["p99_ms"] <= max(2 * baseline, baseline + 5):
            recovered = round(row["start"] - at, 2)
            break
    failed = sum(1 for outcome in result.outcomes if Outcome(outcome).error)
    return {
        "requests": result.requests,
        "failed": failed,
        "shed": result.shed,
        "error_details": dict(result.error_details),
        "p99_ms_before": round(baseline, 2),
        "p99_ms_during": round(max((row["p99_ms"] for row in after[:4]), default=0.0), 2),
        "max_ms": round(max(result.latencies, default=0.0) * 1e3, 2),
        "recovery_s": recovered,
        "fault_took_s": round(fault_seconds, 3),
        "throughput": round(result.throughput, 1),
    }


def invalid_reload(policies: Path) -> Callable[[], None]:
    def fault() -> None:
        victim = sorted(policies.rglob("*.yaml"))[0]
        good = victim.read_bytes()
        victim.write_text("apiVersion: policy-webhook.dev/v1alpha1\nkind: Policy\nspec: [\n")
        time.sleep(1.0)
        victim.write_bytes(good)

    return fault


def rotation(certificates: Path, ca: tls.Issued) -> Callable[[], None]:
    """A renewed serving certificate from the same CA, written as cert-manager would."""

    def fault() -> None:
        renewed = serving(ca)
        tls.write_atomically(certificates / tls.KEY_FILE, renewed.key_pem(), mode=0o600)
        tls.write_atomically(certificates / tls.CERT_FILE, renewed.certificate_pem())

    return fault


def sigterm(server: Server, certificates: Path, report: dict[str, Any]) -> Callable[[], None]:
    """SIGTERM, then poll /readyz: when did it fail, when did the process exit."""

    def fault() -> None:
        context = target(server, certificates).ssl_context()
        assert context is not None
        sent = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        with httpx.Client(verify=context, timeout=2) as client:
            while server.process.poll() is None and time.monotonic() - sent < 30:
                try:
                    status = client.get(
                        f"https://127.0.0.1:{server.port}/readyz",
                        extensions={"sni_hostname": SERVER_NAME},
                    ).status_code
                except httpx.TransportError:
                    status = 0
                if status != 200 and "readiness_failed_after_s" not in report:
                    report["readiness_failed_after_s"] = round(time.monotonic() - sent, 3)
                time.sleep(0.05)
        server.process.wait(timeout=30)
        report["exited_after_s"] = round(time.monotonic() - sent, 3)
        report["exit_code"] = server.process.returncode

    return fault


def long_run(
    server: Server,
    requests: Sequence[Request],
    certificates: Path,
    seconds: float,
    *,
    connections: int = FAULT_CONNECTIONS,
    sample_seconds: float = 1.0,
) -> dict[str, Any]:
    """Load for `seconds` while every worker's RSS is sampled: before the load, medians of the
    first and last minute (of the first and last quarter in runs shorter than two minutes)."""
    samples: list[tuple[float, list[int]]] = []  # (seconds since the start, RSS per worker)
    done = threading.Event()
    started_at = time.monotonic()

    def sample() -> None:
        while not done.wait(sample_seconds):
            try:
                rss = server.worker_rss()
            except OSError:  # a worker just ended: the next sample sees its replacement
                continue
            samples.append((time.monotonic() - started_at, rss))

    idle = server.worker_rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = LoadGenerator(
        target(server, certificates), requests, connections=connections, duration=seconds
    ).run()
    done.set()
    sampler.join()
    return {
        **{
            k: v
            for k, v in result.summary().items()
            if k in ("connections", "requests", "errors", "throughput", "p99_ms")
        },
        "rss_mib_before": [round(rss / MIB, 1) for rss in idle],
        **rss_figures(samples, seconds),
    }


def rss_figures(samples: Sequence[tuple[float, list[int]]], seconds: float) -> dict[str, Any]:
    """RSS per worker at the start and at the end of a run, its maximum, and a timeline."""
    span = MINUTE if seconds >= 2 * MINUTE else seconds / 4
    first = [rss for at, rss in samples if at <= span] or [rss for _, rss in samples[:1]]
    last = [rss for at, rss in samples if at >= seconds - span] or [rss for _, rss in samples[-1:]]
    workers = max((len(rss) for _, rss in samples), default=0)

    def medians(rows: Sequence[list[int]]) -> list[float]:
        return [
            round(stats.median(row[index] for row in rows if index < len(row)) / MIB, 1)
            for index in range(workers)
        ]

    every = max(1, len(samples) // 30)  # about 30 points
    return {
        "rss_span_s": round(span, 1),
        "rss_mib_first": medians(first),
        "rss_mib_last": medians(last),
        "rss_mib_max": [
            round(max((rss[index] for _, rss in samples if index < len(rss)), default=0) / MIB, 1)
            for index in range(workers)
        ],
        "rss_mib_timeline": [
            f"{at:.0f} s: " + "/".join(f"{value / MIB:.1f}" for value in rss)
            for at, rss in samples[::every]
        ],
    }


def run(options: argparse.Namespace) -> dict[str, Any]:
    chosen = vars(options)
    policy_set = chosen.get("policies", "pss")
    workers = chosen.get("workers", 1)
    soak = chosen.get("soak", False)
    requests = mix_requests(2000)
    report: dict[str, Any] = {"settings": {"policies": policy_set, "workers": workers}}
    with tempfile.TemporaryDirectory(prefix="policy-webhook-faults-") as scratch:
        root = Path(scratch)
        certificates = root / "certs"
        ca = write_certificates(certificates)
        policies = write_policy_set(policy_set, root / "policies")
        port = registry_port()
        if not soak:
            write_signature_policy(policies, port)
        arguments = [
            "serve",
            "--timeout-seconds",
            str(LOOKUP_SECONDS),
            "--policies",
            str(policies),
            "--reload-interval",
            "0.2",
            "--drain-seconds",
            str(DRAIN_SECONDS),
            "--workers",
            str(workers),
        ]
        with started("webhook", "webhook", arguments, certificates, root / "webhook.log") as server:
            if soak:
                report["long_run"] = long_run(
                    server,
                    requests,
                    certificates,
                    options.long_seconds,
                    connections=chosen.get("long_connections", FAULT_CONNECTIONS),
                    sample_seconds=chosen.get("sample_seconds", 1.0),
                )
                return report
            report["rising"] = rising(
                server, requests, certificates, options.levels, options.seconds
            )
            report["invalid_policy_reload"] = under_fault(
                server,
                requests,
                certificates,
                seconds=options.seconds,
                fault=invalid_reload(policies),
            )
            report["certificate_rotation"] = under_fault(
                server,
                requests,
                certificates,
                seconds=options.seconds,
                fault=rotation(certificates, ca),
                new_connections=True,  # every request a new handshake: most see the new one
            )
            report["registry"] = registry_faults(
                target(server, certificates),
                requests[:500],
                port,
                seconds=options.seconds,
                connections=FAULT_CONNECTIONS,
            )
            report["long_run"] = long_run(server, requests, certificates, options.long_seconds)
            shutdown: dict[str, Any] = {}
            # The load ends within the drain: by then a Service has stopped routing here.
            load = under_fault(
                server,
                requests,
                certificates,
                seconds=1.5 * (DRAIN_SECONDS - 0.5),
                fault=sigterm(server, certificates, shutdown),
            )
            report["sigterm"] = {**shutdown, "during_drain": load}
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50, 100])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--long-seconds", type=float, default=30.0)
    parser.add_argument("--long-connections", type=int, default=FAULT_CONNECTIONS)
    parser.add_argument("--sample-seconds", type=float, default=1.0, help="RSS sampling period")
    parser.add_argument("--policies", choices=SETS, default="pss")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--soak", action="store_true", help="only the long run, no faults")
    options = parser.parse_args(argv)
    report = run(options)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

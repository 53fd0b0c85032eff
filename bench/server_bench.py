"""Server benchmark: `policy-webhook serve` under the load generator, next to its allow-all floor.

Starts the webhook (the Pod Security set by default, 2 workers) and `bench.allow_all` on the
same server stack, both on 127.0.0.1 with a fresh CA, and drives each with the request mix at
every connection level in turn (keep-alive), then with a new TLS connection per request.
Reports throughput, p50/p99/max latency, errors and shed answers, server CPU seconds per 1,000
reviews (the server processes' CPU from /proc), the client's CPU, peak RSS per worker, and the
webhook's throughput as a share of the floor's; with --runs N, medians over N runs. The share is
taken within each run (the two servers are driven one after the other at each level, so a pair
sees the same noise) and reported as the median of the runs' shares, with their range.

    python -m bench.server_bench [--levels 1 10 50 200 500] [--seconds 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import stats
from bench.loadgen import LoadGenerator, Request, Target, mix_requests
from bench.policysets import SETS, write_policy_set
from webhook import tls

SERVICE = "policy-webhook"
NAMESPACE = "policy-webhook"
SERVER_NAME = f"{SERVICE}.{NAMESPACE}.svc"
REPOSITORY = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


@dataclass
class Server:
    """A server process tree under measurement."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    peak_rss: dict[int, int] = field(default_factory=dict)  # pid -> highest RSS sampled

    def pids(self) -> list[int]:
        return [self.process.pid, *stats.children(self.process.pid)]

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                total += stats.process_cpu_seconds(pid)
            except OSError:
                continue
        return total

    def sample_rss(self) -> None:
        for pid in self.pids():
            try:
                rss = stats.process_rss_bytes(pid)
            except OSError:
                continue
            self.peak_rss[pid] = max(rss, self.peak_rss.get(pid, 0))

    def worker_rss(self) -> list[int]:
        """Current RSS of the processes that serve (the workers, or the only process)."""
        workers = stats.children(self.process.pid) or [self.process.pid]
        return [stats.process_rss_bytes(pid) for pid in workers]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_certificates(directory: Path) -> None:
    ca = tls.generate_ca(common_name="benchmark CA")
    serving = tls.generate_serving_certificate(
        ca, dns_names=tls.service_names(SERVICE, NAMESPACE), ip_addresses=tls.LOCAL_ADDRESSES
    )
    tls.write_bundle(directory, ca=ca, serving=serving)


@contextmanager
def started(
    name: str, module: str, arguments: Sequence[str], certificates: Path, log: Path
) -> Iterator[Server]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        module,
        *arguments,
        "--tls-cert",
        str(certificates / tls.CERT_FILE),
        "--tls-key",
        str(certificates / tls.KEY_FILE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--namespace",
        NAMESPACE,
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLICY_WEBHOOK_")}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=REPOSITORY, stdout=output, stderr=subprocess.STDOUT, env=environment
        )
    server = Server(name=name, process=process, port=port)
    try:
        wait_ready(server, certificates, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(server: Server, certificates: Path, log: Path) -> None:
    import httpx

    context = Target(port=server.port, ca_file=certificates / tls.CA_FILE).ssl_context()
    assert context is not None
    deadline = time.monotonic() + 60
    with httpx.Client(verify=context, timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{log.read_text()[-3000:]}")
            try:
                answer = client.get(
                    f"https://127.0.0.1:{server.port}/readyz",
                    extensions={"sni_hostname": SERVER_NAME},
                )
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not become ready:\n{log.read_text()[-3000:]}")


def measure(
    server: Server,
    requests: Sequence[Request],
    certificates: Path,
    *,
    connections: int,
    seconds: float,
    new_connections: bool = False,
) -> dict[str, Any]:
    """One load level against `server`: the load generator's figures plus the server's."""
    target = Target(port=server.port, server_name=SERVER_NAME, ca_file=certificates / "ca.crt")
    generator = LoadGenerator(
        target,
        requests,
        connections=connections,
        duration=seconds,
        new_connection_per_request=new_connections,
    )
    cpu_before = server.cpu_seconds()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            server.sample_rss()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = generator.run()
    done.set()
    sampler.join()
    server_cpu = server.cpu_seconds() - cpu_before
    figures = result.summary()
    answered = max(1, result.ok + result.shed)
    figures["server_cpu_per_1000"] = round(server_cpu / answered * 1000, 4)
    figures["worker_rss_mib"] = [round(rss / MIB, 1) for rss in server.worker_rss()]
    figures["load_average"] = stats.load_average()
    return figures


def run_levels(
    servers: Sequence[Server],
    requests: Sequence[Request],
    certificates: Path,
    options: argparse.Namespace,
) -> dict[str, Any]:
    """Every level against every server, alternating servers so both see the same noise."""
    results: dict[str, Any] = {server.name: {} for server in servers}
    plan = [(str(level), level, False) for level in options.levels]
    plan += [(f"new-conn-{level}", level, True) for level in options.new_connection_levels]
    for label, connections, new in plan:
        for server in servers:
            figures = measure(
                server,
                requests,
                certificates,
                connections=connections,
                seconds=options.seconds,
                new_connections=new,
            )
            results[server.name][label] = figures
            print(
                f"{server.name:9} {label:>10}: {figures['throughput']:8.0f}/s "
                f"p50 {figures['p50_ms']:.2f} ms p99 {figures['p99_ms']:.2f} ms "
                f"errors {figures['errors']} shed {figures['shed']}",
                file=sys.stderr,
            )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50, 200, 500])
    parser.add_argument("--new-connection-levels", type=int, nargs="*", default=[1, 10])
    parser.add_argument("--seconds", type=float, default=10.0, help="per level and server")
    parser.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--policies", choices=SETS, default="pss")
    parser.add_argument("--mix", type=int, default=2000, help="distinct reviews in the mix")
    parser.add_argument("--log-level", default="info", help="the webhook's log level")
    parser.add_argument("--no-floor", action="store_true", help="skip the allow-all server")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="serve flags")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    options = parser.parse_args(argv)

    requests = mix_requests(options.mix)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        certificates = directory / "certs"
        write_certificates(certificates)
        policies = write_policy_set(options.policies, directory / "policies")
        common = ["--workers", str(options.workers)] if options.workers != 1 else []
        webhook_arguments = [
            "serve",
            "--policies",
            str(policies),
            "--log-level",
            options.log_level,
            *common,
            *options.extra,
        ]
        with started(
            "webhook", "webhook", webhook_arguments, certificates, directory / "webhook.log"
        ) as webhook:
            servers = [webhook]
            with _floor(options, common, certificates, directory) as floor:
                if floor is not None:
                    servers.append(floor)
                for server in servers:  # warm-up: imports, caches, connections
                    measure(server, requests, certificates, connections=10, seconds=2)
                for _ in range(options.runs):
                    runs.append(run_levels(servers, requests, certificates, options))
            webhook_peak = {pid: rss for pid, rss in webhook.peak_rss.items()}
    report = combine(runs)
    report["peak_rss_mib"] = {str(pid): round(rss / MIB, 1) for pid, rss in webhook_peak.items()}
    report["settings"] = {
        "workers": options.workers,
        "policies": options.policies,
        "seconds": options.seconds,
        "runs": options.runs,
        "cores": os.cpu_count(),
    }
    print(render(report))
    if options.json:
        options.json.write_text(json.dumps({"report": report, "runs": runs}, indent=2))
    return 0


@contextmanager
def _floor(
    options: argparse.Namespace, common: list[str], certificates: Path, directory: Path
) -> Iterator[Server | None]:
    if options.no_floor:
        yield None
        return
    with started(
        "allow-all", "bench.allow_all", common, certificates, directory / "allow-all.log"
    ) as floor:
        yield floor


KEYS = (
    "throughput",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "errors",
    "shed",
    "server_cpu_per_1000",
    "client_cpu_per_1000",
)


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of every figure, per server and level; and at each level the
    webhook's shares of the floor, one per run, with their median."""
    combined: dict[str, Any] = {}
    for name in runs[0]:
        combined[name] = {}
        for label in runs[0][name]:
            entries = [run[name][label] for run in runs]
            combined[name][label] = {
                key: stats.median(float(entry[key]) for entry in entries) for key in KEYS
            }
            combined[name][label]["worker_rss_mib"] = entries[-1]["worker_rss_mib"]
            combined[name][label]["load_average"] = entries[-1]["load_average"]
    for label, figures in combined.get("webhook", {}).items():
        shares = [
            run["webhook"][label]["throughput"] / run["allow-all"][label]["throughput"]
            for run in runs
            if run.get("allow-all", {}).get(label, {}).get("throughput")
        ]
        if shares:
            figures["floor_shares"] = shares
            figures["floor_share"] = stats.median(shares)
    return combined


def share_range(shares: Sequence[float]) -> str:
    """The lowest and highest of the runs' shares of the floor (`-` for fewer than two)."""
    if len(shares) < 2:
        return "-"
    return f"{min(shares):.0%}-{max(shares):.0%}"


def render(report: dict[str, Any]) -> str:
    webhook = report["webhook"]
    floor = report.get("allow-all", {})
    rows = []
    for label, figures in webhook.items():
        floor_figures = floor.get(label)
        rows.append(
            [
                label,
                figures["throughput"],
                figures["p50_ms"],
                figures["p99_ms"],
                figures["max_ms"],
                int(figures["errors"]),
                int(figures["shed"]),
                figures["server_cpu_per_1000"],
                figures["client_cpu_per_1000"],
                "/".join(f"{value:.0f}" for value in figures["worker_rss_mib"]),
                floor_figures["throughput"] if floor_figures else "-",
                f"{figures['floor_share']:.0%}" if "floor_share" in figures else "-",
                share_range(figures.get("floor_shares", [])),
                figures["load_average"].split()[0],
            ]
        )
    header = [
        "connections",
        "reviews/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "shed",
        "server CPU s/1000",
        "client CPU s/1000",
        "RSS MiB",
        "allow-all/s",
        "ratio",
        "ratio range",
        "load",
    ]
    settings = report["settings"]
    peak = ", ".join(f"{value:.0f}" for value in report["peak_rss_mib"].values())
    return "\n".join(
        [
            f"{settings['workers']} workers, policy set {settings['policies']}, "
            f"{settings['seconds']:g} s per level, median of {settings['runs']} run(s), "
            f"{settings['cores']} cores",
            stats.table(header, rows),
            f"peak RSS of the webhook's processes (MiB): {peak}",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())

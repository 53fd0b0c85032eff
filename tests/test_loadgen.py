"""The load generator against the benchmark's allow-all server: counts, outcomes, timeline."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.loadgen import LoadGenerator, Outcome, Target, mix_requests
from tests.webhook_server import REPOSITORY, free_port, write_certificates
from webhook import tls

SERVER_NAME = "policy-webhook.policy-webhook.svc"


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """`bench.allow_all` on a free port; (port, certificates directory)."""
    certificates = tmp_path_factory.mktemp("certs")
    write_certificates(certificates)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.allow_all",
            *("--tls-cert", str(certificates / tls.CERT_FILE)),
            *("--tls-key", str(certificates / tls.KEY_FILE)),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        cwd=REPOSITORY,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        target = Target(port=port, server_name=SERVER_NAME, ca_file=certificates / tls.CA_FILE)
        deadline = time.monotonic() + 30
        while LoadGenerator(target, mix_requests(1), total=1).run().ok != 1:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        yield port, certificates
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_keep_alive_load_counts_every_request(floor: tuple[int, Path]) -> None:
    port, certificates = floor
    target = Target(port=port, server_name=SERVER_NAME, ca_file=certificates / tls.CA_FILE)
    result = LoadGenerator(target, mix_requests(50), connections=5, total=200).run()
    assert (result.requests, result.ok, result.errors, result.shed) == (200, 200, 0, 0)
    assert result.statuses == {200: 200}
    assert 0 < result.latency(0.5) <= result.latency(0.99) <= max(result.latencies)
    assert sum(row["ok"] for row in result.timeline(0.05)) == 200
    summary = result.summary()
    assert summary["requests"] == 200 and summary["throughput"] > 0


def test_new_connection_per_request_and_duration(floor: tuple[int, Path]) -> None:
    port, certificates = floor
    target = Target(port=port, server_name=SERVER_NAME, ca_file=certificates / tls.CA_FILE)
    generator = LoadGenerator(
        target, mix_requests(10), connections=2, duration=0.5, new_connection_per_request=True
    )
    result = generator.run()
    assert result.requests > 0 and result.errors == 0
    assert 0.5 <= result.elapsed < 5


def test_start_and_stop_in_the_background(floor: tuple[int, Path]) -> None:
    port, certificates = floor
    target = Target(port=port, server_name=SERVER_NAME, ca_file=certificates / tls.CA_FILE)
    generator = LoadGenerator(target, mix_requests(10), connections=3, duration=60)
    generator.start()
    deadline = time.monotonic() + 20
    while generator.completed < 50:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    result = generator.stop()
    assert result.requests >= 50 and result.errors == 0
    assert result.elapsed < 30


def test_an_untrusted_server_is_a_connect_error(floor: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = floor
    write_certificates(tmp_path)  # another CA
    target = Target(port=port, server_name=SERVER_NAME, ca_file=tmp_path / tls.CA_FILE)
    result = LoadGenerator(target, mix_requests(5), connections=1, total=3).run()
    assert result.requests == 3
    assert result.count(Outcome.CONNECT_ERROR) == 3
    assert any("CERTIFICATE_VERIFY_FAILED" in text for text in result.error_details)


def test_only_loopback_addresses_are_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Target(port=443, host="10.0.0.1")

"""`serve --workers 2`: both workers answer, reload policies, share metrics; a dead worker is
replaced; SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPOSITORY
from tests.helpers import pod_spec, wrap
from tests.reviews import admission_review
from tests.webhook_server import WebhookServer, free_port, running_webhook, write_certificates

ENFORCED = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: baseline}
spec:
  mode: %s
  match: {kinds: [Pod]}
  rules:
    - {name: privileged, check: podSecurity/privileged}
"""
PRIVILEGED = wrap("Pod", pod_spec(securityContext={"privileged": True}))
ROUNDS = 24  # new connections land on a worker the kernel picks; enough to reach both


def workers(server: WebhookServer) -> list[int]:
    pid = server.process.pid
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [
            int(item) for item in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        ]
    return found


def verdicts(server: WebhookServer) -> set[bool]:
    """`allowed` of the privileged Pod, each time over a new connection."""
    seen = set()
    for _ in range(ROUNDS):
        with server.client() as client:
            seen.add(client.review("/validate", admission_review(PRIVILEGED))["allowed"])
    return seen


def wait_until(condition: object, *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_two_workers_serve_reload_and_share_metrics(tmp_path: Path) -> None:
    certificates = tmp_path / "certs"
    write_certificates(certificates)
    policy = tmp_path / "policies" / "baseline.yaml"
    policy.parent.mkdir()
    policy.write_text(ENFORCED % "enforce")
    with running_webhook(
        policies=[policy.parent],
        certificates=certificates,
        log=tmp_path / "webhook.log",
        extra=["--workers", "2"],
    ) as server:
        assert len(workers(server)) == 2
        assert verdicts(server) == {False}

        policy.write_text(ENFORCED % "audit")
        wait_until(lambda: verdicts(server) == {True})

        with server.client() as client:
            metrics = client.get("/metrics").text
        reviewed = sum(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("policy_webhook_requests_total{")
        )
        assert reviewed >= 2 * ROUNDS  # every worker's answers, whichever worker was asked
        reloads = [
            line
            for line in metrics.splitlines()
            if line.startswith('policy_webhook_policy_reloads_total{result="success"}')
        ]
        assert reloads and float(reloads[0].split()[-1]) == 2.0  # once in each worker

        first, second = workers(server)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len(workers(server)) == 2 and first not in workers(server))
        assert second in workers(server)
        assert verdicts(server) == {True}  # the new worker loaded the current files

        children = workers(server)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "Z"


def test_workers_answer_like_one_process(tmp_path: Path) -> None:
    """The same reviews get the same answers from one process and from two workers."""
    certificates = tmp_path / "certs"
    write_certificates(certificates)
    policy = tmp_path / "baseline.yaml"
    policy.write_text(ENFORCED % "enforce")
    reviews = [admission_review(PRIVILEGED), admission_review(wrap("Pod", pod_spec()))]
    answers = []
    for extra in ([], ["--workers", "2"]):
        with (
            running_webhook(
                policies=[policy],
                certificates=certificates,
                log=tmp_path / f"webhook{len(extra)}.log",
                extra=extra,
            ) as server,
            server.client() as client,
        ):
            answers.append([client.review("/validate", review)["allowed"] for review in reviews])
    assert answers == [[False, True], [False, True]]


FROZEN_PROBE = """
import gc, os, sys
from pathlib import Path
from webhook import tls
from webhook.server import Worker, serve_app
from webhook.settings import Settings

certificates, found = Path(sys.argv[1]), Path(sys.argv[2])
context = tls.server_context(certificates / tls.CERT_FILE, certificates / tls.KEY_FILE)

async def app(scope, receive, send):
    raise RuntimeError("not called")

def build(in_flight):
    # Runs in each worker before it settles its own collector: what the fork handed over.
    (found / str(os.getpid())).write_text(str(gc.get_freeze_count()))
    return Worker(app=app, context=lambda: context)

chosen = Settings(host="127.0.0.1", port=int(sys.argv[3]), workers=2, drain_seconds=0)
raise SystemExit(serve_app(chosen, build))
"""


def test_workers_inherit_the_loaded_heap_frozen(tmp_path: Path) -> None:
    # Objects loaded before the fork stay out of the workers' collections, which would
    # otherwise write to (and so copy) every page that holds one.
    certificates = tmp_path / "certs"
    write_certificates(certificates)
    found = tmp_path / "found"
    found.mkdir()
    command = [sys.executable, "-c", FROZEN_PROBE, str(certificates), str(found)]
    with subprocess.Popen([*command, str(free_port())], cwd=REPOSITORY) as process:
        try:
            wait_until(lambda: len(list(found.iterdir())) == 2)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    assert all(int(path.read_text()) > 10_000 for path in found.iterdir())


def test_every_decision_line_is_written_whole_by_the_time_workers_stop(tmp_path: Path) -> None:
    certificates = tmp_path / "certs"
    write_certificates(certificates)
    policy = tmp_path / "baseline.yaml"
    policy.write_text(ENFORCED % "enforce")
    log = tmp_path / "webhook.log"
    uids: list[str] = []
    with running_webhook(
        policies=[policy], certificates=certificates, log=log, extra=["--workers", "2"]
    ) as server:
        assert len(workers(server)) == 2
        for _ in range(ROUNDS):  # a new connection each time: both workers answer
            with server.client() as client:
                for _ in range(5):
                    review = admission_review(PRIVILEGED)
                    assert not client.review("/validate", review)["allowed"]
                    uids.append(review["request"]["uid"])
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    decisions = [
        line
        for line in (json.loads(text) for text in log.read_text().splitlines())
        if line["message"] == "decision"
    ]
    assert sorted(line["uid"] for line in decisions) == sorted(uids)
    assert {line["verdict"] for line in decisions} == {"denied"}

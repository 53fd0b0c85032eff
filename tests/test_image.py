"""The Dockerfile: its build stage run into a clean environment, and what the image then runs."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import POLICIES, REPOSITORY
from tests.image import Sandbox, Stage, env_pairs, exec_form, stages
from tests.kustomize import one, render
from tests.reviews import admission_review
from tests.webhook_server import NAMESPACE, SERVICE, WebhookServer, free_port
from tests.webhook_server import _wait_ready as wait_ready
from webhook.policy.loader import load_policy_set

RUNTIME_REQUIREMENTS = REPOSITORY / "requirements" / "runtime.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(path: Path = RUNTIME_REQUIREMENTS) -> dict[str, str]:
    """Package name (canonical) -> pinned version, from a pip-compile output file."""
    return {canonical(name): version for name, version in PIN.findall(path.read_text())}


@dataclass
class Image:
    """What the build stage produced, and how the runtime stage starts it."""

    sandbox: Sandbox
    runtime: Stage

    @property
    def user(self) -> tuple[int, int]:
        (value,) = self.runtime.values("USER")
        uid, _, gid = value.partition(":")
        return int(uid), int(gid or uid)

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {"PATH": "/usr/bin:/bin"}
        for value in self.runtime.values("ENV"):
            for key, item in env_pairs(value):
                env[key] = self.sandbox.path(item.replace("$PATH", env.get("PATH", "")))
        return env

    def entrypoint(self) -> list[str]:
        (value,) = self.runtime.values("ENTRYPOINT")
        return [self.sandbox.path(word) for word in exec_form(value)]

    def as_user(self, command: list[str]) -> list[str]:
        """`command` run as the image's USER: the tests drop root when they run as root, so
        nothing in the image is writable, as with a read-only root filesystem. (Where that
        user cannot reach this machine's Python, e.g. one under a private /root, the command
        runs as is, and `snapshot` alone shows that nothing was written.)"""
        if os.geteuid() != 0 or not self.user_reaches_python:
            return command
        return self._drop_root(command)

    def _drop_root(self, command: list[str]) -> list[str]:
        uid, gid = self.user
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]

    @functools.cached_property
    def user_reaches_python(self) -> bool:
        python = str(self.sandbox.root / "opt" / "venv" / "bin" / "python")
        probe = self._drop_root([python, "-c", "import asyncio, ssl, webhook.cli"])
        return subprocess.run(probe, capture_output=True, check=False, timeout=60).returncode == 0

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Every file under the image's folders with its modification time and size."""
        files = {}
        for top in ("opt", "etc"):
            for path in (self.sandbox.root / top).rglob("*"):
                info = path.lstat()
                files[str(path)] = (info.st_mtime_ns, info.st_size)
        return files


@pytest.fixture(scope="session")
def image() -> Iterator[Image]:
    build, runtime = stages()
    assert (build.name, runtime.name) == ("build", "runtime")
    # A world-readable folder (not pytest's private one): the image user must reach it.
    root = Path(tempfile.mkdtemp(prefix="policy-webhook-image-"))
    root.chmod(0o755)
    try:
        sandbox = Sandbox(root)
        sandbox.build(build)
        for value in runtime.values("COPY"):
            if not value.startswith("--from="):
                sandbox.copy(value, root)
        (root / "tmp").mkdir()
        (root / "tmp").chmod(stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO | stat.S_ISVTX)
        yield Image(sandbox=sandbox, runtime=runtime)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_dependencies_are_installed_only_from_hash_checked_pins() -> None:
    build, _ = stages()
    installs = [
        command
        for value in build.values("RUN")
        for command in value.split("&&")
        if re.search(r"\bpip\b.*\binstall\b", command)
    ]
    assert installs
    for command in installs:
        words = command.split()
        if "-r" in words:
            assert "--require-hashes" in words, command
            assert "--only-binary=:all:" in words, command
            assert words[words.index("-r") + 1].startswith("requirements/"), command
        else:  # the package's own wheel, built from the copied sources
            assert "--no-deps" in words and words[-1].startswith("/wheels/"), command


def test_runtime_stage_installs_nothing() -> None:
    _, runtime = stages()
    for value in runtime.values("RUN"):
        assert value.startswith("python -m pip uninstall"), value
    for value in runtime.values("COPY"):
        source = value.split()[-2]
        assert value.startswith("--from=build /opt/venv") or source == "policies/", value


def test_image_runs_as_the_deployments_numeric_non_root_user() -> None:
    _, runtime = stages()
    (user,) = runtime.values("USER")
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user)
    context = one(render(REPOSITORY / "deploy"), "Deployment")["spec"]["template"]["spec"]
    container = context["containers"][0]["securityContext"]
    assert user == f"{container['runAsUser']}:{container['runAsGroup']}"


def test_image_serves_with_the_deployments_arguments() -> None:
    _, runtime = stages()
    (entrypoint,) = runtime.values("ENTRYPOINT")
    assert exec_form(entrypoint) == ["/opt/venv/bin/policy-webhook", "serve"]
    (cmd,) = runtime.values("CMD")
    deployment = one(render(REPOSITORY / "deploy"), "Deployment")
    assert exec_form(cmd) == deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_image_environment_holds_only_the_runtime_dependencies(image: Image) -> None:
    python = image.sandbox.root / "opt" / "venv" / "bin" / "python"
    completed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m\n"
            "for d in m.distributions(): print(d.metadata['Name'], d.version)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = dict(line.split() for line in completed.stdout.splitlines())
    installed = {canonical(name): version for name, version in installed.items()}
    from webhook import __version__

    assert installed == {**pinned(), "policy-webhook": __version__}
    assert not {"pip", "setuptools", "pytest", "ruff", "mypy"} & installed.keys()


def test_image_checks_manifests_as_its_user_without_writing(image: Image) -> None:
    before = image.snapshot()
    # The same binary, another subcommand: the shipped policies as the image holds them.
    program, subcommand = image.entrypoint()
    assert subcommand == "serve"
    policies = image.sandbox.path("/etc/policy-webhook/policies")
    example = str(REPOSITORY / "examples" / "deployment.yaml")
    command = image.as_user([program, "check", "--policies", policies, example])
    completed = subprocess.run(
        command,
        env=image.env(),
        cwd=image.sandbox.path("/tmp"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 objects in 1 files: 0 with findings" in completed.stdout
    assert image.snapshot() == before


def test_runtime_requirements_pin_every_dependency_with_hashes() -> None:
    lines = RUNTIME_REQUIREMENTS.read_text().splitlines()
    text = "\n".join(line for line in lines if not line.startswith("#"))
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    assert len(blocks) == len(pinned()) > 0
    for block in blocks:
        assert PIN.match(block), block
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block
    versions = pinned()
    for line in tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]:
        requirement = Requirement(line)
        name = canonical(requirement.name)
        assert name in versions, f"{name} is not pinned: run `make requirements`"
        assert requirement.specifier.contains(versions[name]), f"{name}: run `make requirements`"


def test_sbom_lists_the_pinned_runtime_packages(image: Image, tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.cdx.json"
    environment = image.sandbox.root / "opt" / "venv"
    completed = subprocess.run(
        [
            "make",
            "--no-print-directory",
            # Reuse this environment and the image's: no set-up or install inside the test.
            f"--old-file={Path(sys.prefix) / 'bin' / 'policy-webhook'}",
            f"--old-file={environment / 'bin' / 'policy-webhook'}",
            "sbom",
            f"VENV={sys.prefix}",
            f"SBOM={sbom}",
            f"SBOM_ENV={environment}",
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document = json.loads(sbom.read_text())
    assert document["bomFormat"] == "CycloneDX"
    root = document["metadata"]["component"]
    from webhook import __version__

    assert (root["name"], root["version"]) == ("policy-webhook", __version__)
    components = {canonical(c["name"]): c for c in document["components"]}
    assert {name: c["version"] for name, c in components.items()} == pinned()
    for name, component in components.items():
        assert component["purl"] == f"pkg:pypi/{name}@{component['version']}"
    (graph,) = [entry for entry in document["dependencies"] if entry["ref"] == root["bom-ref"]]
    direct = {canonical(ref.partition("==")[0]) for ref in graph["dependsOn"]}
    declared = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    assert direct == {canonical(Requirement(line).name) for line in declared["dependencies"]}


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    completed = subprocess.run(
        [str(hadolint), "--no-color", str(REPOSITORY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_image_serves_over_tls_as_its_user_on_a_read_only_image(image: Image) -> None:
    # The certificates as the Secret volume holds them (readable by the pod's fsGroup).
    program, _ = image.entrypoint()
    tls_dir = Path(image.sandbox.path("/etc/policy-webhook/tls"))
    subprocess.run(
        [program, "certs", "--service", SERVICE, "--namespace", NAMESPACE, "--out", str(tls_dir)],
        env=image.env(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    for file in tls_dir.iterdir():
        file.chmod(0o444)
    before = image.snapshot()
    (cmd,) = image.runtime.values("CMD")
    arguments = exec_form(cmd)
    # Listen on loopback only, on a free port; every other argument is the image's own.
    arguments[arguments.index("--host") + 1] = "127.0.0.1"
    port = free_port()
    arguments[arguments.index("--port") + 1] = str(port)
    log = Path(image.sandbox.path("/tmp")) / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            image.as_user([*image.entrypoint(), *map(image.sandbox.path, arguments)]),
            env=image.env(),
            cwd=image.sandbox.path("/tmp"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = WebhookServer(process=process, port=port, certificates=tls_dir, log=log)
    try:
        wait_ready(server)
        if image.as_user(["x"]) != ["x"]:  # root was dropped: the server runs as the image user
            status = Path(f"/proc/{process.pid}/status").read_text()
            (uids,) = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
            assert {int(uid) for uid in uids} == {image.user[0]}
        with server.client() as client:
            assert client.get("/healthz").status_code == 200
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["policies"] == len(load_policy_set([POLICIES]).policies)
            root = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "root", "namespace": "team-a"},
                "spec": {"containers": [{"name": "app", "image": "reg.example.com/app:1.0"}]},
            }
            response = client.review("/validate", admission_review(root))
            assert response["allowed"] is False
            assert response["status"]["code"] == 403
    finally:
        process.terminate()
        returncode = process.wait(timeout=60)
    # A graceful stop: uvicorn drains, then ends by the signal it caught (exit code 143 in a pod).
    assert returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Finished server process" in log.read_text()
    assert image.snapshot() == before, "the server wrote into the image"

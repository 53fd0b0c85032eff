"""The pre-commit hook, run for real: `pre-commit try-repo` installs it from a copy of this
repository (pip, from the package index) and runs it on a repository with manifests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import POLICIES, REPOSITORY

PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
GIT_COMMIT = [*GIT, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify"]


def committed_copy(source: Path, target: Path) -> str:
    """Copy the working tree (tracked and new files, not ignored ones) into a one-commit repo."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        origin = source / name
        if origin.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / name)
    subprocess.run(["git", "init", "--quiet"], cwd=target, check=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    subprocess.run([*GIT_COMMIT, "-m", "snapshot"], cwd=target, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=target, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_hook_definition_runs_the_check_command() -> None:
    (hook,) = yaml.safe_load((REPOSITORY / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "policy-webhook-check"
    assert hook["language"] == "python"
    assert hook["entry"] == "policy-webhook check"
    assert set(hook["types_or"]) == {"yaml", "json"}


def test_try_repo_fails_on_a_denied_manifest_and_passes_a_good_one(tmp_path: Path) -> None:
    hook_repo = tmp_path / "hook-repo"
    hook_repo.mkdir()
    revision = committed_copy(REPOSITORY, hook_repo)
    project = tmp_path / "project"
    (project / "policies").mkdir(parents=True)
    (project / "manifests").mkdir()
    shutil.copy(POLICIES / "workloads" / "non-root.yaml", project / "policies")
    good = (REPOSITORY / "examples" / "deployment.yaml").read_text()
    assert "runAsUser: 10001" in good
    (project / "manifests" / "good.yaml").write_text(good)
    (project / "manifests" / "bad.yaml").write_text(
        good.replace("runAsUser: 10001", "runAsUser: 0")
    )
    subprocess.run(["git", "init", "--quiet"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run([*GIT_COMMIT, "-m", "manifests"], cwd=project, check=True)
    environment = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
    }

    def try_repo(*files: str) -> subprocess.CompletedProcess[str]:
        command = [*PRE_COMMIT, "try-repo", str(hook_repo), "policy-webhook-check"]
        return subprocess.run(
            [*command, "--ref", revision, "--files", *files],
            cwd=project,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )

    denied = try_repo("manifests/bad.yaml")
    assert denied.returncode == 1, denied.stdout + denied.stderr
    assert "policy-webhook check" in denied.stdout and "Failed" in denied.stdout
    assert "DENY [require-non-root/run-as-non-root]" in denied.stdout
    assert "manifests/bad.yaml" in denied.stdout
    passed = try_repo("manifests/good.yaml")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout

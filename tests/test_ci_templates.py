"""The GitHub Action (action.yml) and the GitLab CI template: their structure, the CLI options
they use, and their scripts run for real on a denied and a good manifest."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import DATA, POLICIES, REPOSITORY
from webhook.cli import build_parser

ACTION = yaml.safe_load((REPOSITORY / "action.yml").read_text())
GITLAB = yaml.safe_load((REPOSITORY / "ci" / "gitlab" / "policy-webhook.gitlab-ci.yml").read_text())
SARIF_SCHEMA = json.loads((DATA / "sarif" / "sarif-schema-2.1.0.json").read_text())
GITLAB_SCHEMA = json.loads((DATA / "gitlab" / "sast-report-requirements.schema.json").read_text())
BIN = str(Path(sys.executable).parent)
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise AssertionError("no subcommands")


def check_invocations(script: str) -> list[list[str]]:
    """The argument lists after `policy-webhook check` in a shell script."""
    joined = script.replace("\\\n", " ")
    invocations = []
    for line in joined.splitlines():
        if "policy-webhook check" in line:
            words = shlex.split(line.split("policy-webhook check", 1)[1], comments=True)
            invocations.append([w for w in words if not w.startswith(("|", ">"))])
    return invocations


def assert_known_options(script: str) -> None:
    check = subcommand("check")
    known = {option for action in check._actions for option in action.option_strings}
    outputs = next(a.choices for a in check._actions if "--output" in a.option_strings)
    assert outputs is not None
    invocations = check_invocations(script)
    assert invocations, "the script runs policy-webhook check"
    for words in invocations:
        for index, word in enumerate(words):
            if word.startswith("-") and not word.startswith("-$"):
                assert word in known, f"unknown option {word}"
            if word == "--output":
                assert words[index + 1] in outputs


def workspace(tmp_path: Path, *, bad: bool) -> Path:
    root = tmp_path / "repo"
    (root / "policies").mkdir(parents=True)
    (root / "rendered").mkdir()
    (root / "policies" / "non-root.yaml").write_text(
        (POLICIES / "workloads" / "non-root.yaml").read_text()
    )
    manifest = (REPOSITORY / "examples" / "deployment.yaml").read_text()
    if bad:
        manifest = manifest.replace("runAsUser: 10001", "runAsUser: 0")
    (root / "rendered" / "all.yaml").write_text(manifest)
    return root


# GitHub Action


def step(name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in ACTION["runs"]["steps"] if s.get("name") == name)
    return found


def test_action_is_composite_and_uploads_sarif() -> None:
    assert ACTION["runs"]["using"] == "composite"
    for item in ACTION["runs"]["steps"]:
        if "run" in item:
            assert item["shell"] == "bash"
    upload = step("Upload SARIF to code scanning")
    assert upload["uses"] == "github/codeql-action/upload-sarif@v3"
    assert upload["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    assert "always()" in upload["if"]
    referenced = set()
    for text in re.findall(EXPRESSION, (REPOSITORY / "action.yml").read_text()):
        referenced.update(re.findall(r"inputs\.([a-z-]+)", text))
    assert referenced == set(ACTION["inputs"])


def test_action_runs_check_with_options_the_cli_has() -> None:
    script = step("Check manifests")["run"]
    assert_known_options(script)
    assert [w for w in check_invocations(script)[1] if "sarif" in w or w == "--output"] == [
        "--output",
        "sarif",
    ]


def evaluate(value: str, inputs: dict[str, str], context: dict[str, str]) -> str:
    """Evaluate the `${{ inputs.X }}` and other plain lookups the action uses."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("inputs."):
            return inputs[name.removeprefix("inputs.")]
        return context[name]

    return EXPRESSION.sub(lookup, value)


def run_step(
    name: str, inputs: dict[str, str], context: dict[str, str], cwd: Path, output: Path
) -> subprocess.CompletedProcess[str]:
    item = step(name)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        **{key: evaluate(str(value), inputs, context) for key, value in item["env"].items()},
    }
    return subprocess.run(
        ["bash", "-e", "-c", item["run"]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("bad", [True, False])
def test_action_check_step_reports_and_keeps_the_exit_code(tmp_path: Path, bad: bool) -> None:
    root = workspace(tmp_path, bad=bad)
    inputs = {key: str(spec.get("default", "")) for key, spec in ACTION["inputs"].items()}
    inputs |= {"paths": "rendered/", "policies": "policies", "args": "--skip-signatures"}
    output = tmp_path / "github-output"
    done = run_step("Check manifests", inputs, {}, root, output)
    assert done.returncode == 0, done.stderr
    exit_code = "1" if bad else "0"
    assert output.read_text().splitlines() == [f"exit-code={exit_code}"]
    log = json.loads((root / inputs["sarif-file"]).read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    results = log["runs"][0]["results"]
    annotations = [line for line in done.stderr.splitlines() if line.startswith("::error ")]
    if bad:
        assert [r["ruleId"] for r in results] == ["require-non-root/run-as-non-root"]
        assert len(annotations) == 1  # one annotation per finding, not one per run
        assert "file=rendered/all.yaml" in annotations[0]
        assert "DENY [require-non-root/run-as-non-root]" in done.stdout
    else:
        assert results == [] and annotations == []
    context = {"steps.check.outputs.exit-code": exit_code}
    verdict = run_step("Verdict", inputs, context, root, output)
    assert verdict.returncode == int(exit_code)
    lenient = run_step("Verdict", inputs | {"fail-on-denials": "false"}, context, root, output)
    assert lenient.returncode == 0


def test_action_without_paths_reports_bad_input(tmp_path: Path) -> None:
    inputs = {key: str(spec.get("default", "")) for key, spec in ACTION["inputs"].items()}
    inputs["paths"] = "  "
    output = tmp_path / "github-output"
    done = run_step("Check manifests", inputs, {}, tmp_path, output)
    assert done.returncode == 0
    assert output.read_text().strip() == "exit-code=2"
    assert "::error::" in done.stdout


# GitLab CI


def test_gitlab_job_keeps_a_sast_report_artifact() -> None:
    job = GITLAB[".policy-webhook-check"]
    assert GITLAB["policy-webhook-check"] == {"extends": ".policy-webhook-check"}
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["sast"] == "gl-sast-report.json"
    script = "\n".join(job["script"])
    assert_known_options(script)
    assert "--output gitlab-sast" in script and "> gl-sast-report.json" in script


def run_gitlab_job(root: Path, path: str, **variables: str) -> subprocess.CompletedProcess[str]:
    job = GITLAB[".policy-webhook-check"]
    env = {
        **os.environ,
        **{key: str(value) for key, value in job["variables"].items()},
        "PATH": path,
        **variables,
    }
    script = "\n".join(["set -e", *job["script"]])
    return subprocess.run(
        ["sh", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("bad", [True, False])
def test_gitlab_job_script_writes_a_valid_report(tmp_path: Path, bad: bool) -> None:
    root = workspace(tmp_path, bad=bad)
    done = run_gitlab_job(
        root,
        f"{BIN}{os.pathsep}{os.environ['PATH']}",
        POLICY_WEBHOOK_PATHS="rendered/",
        POLICY_WEBHOOK_ARGS="--skip-signatures",
    )
    assert done.returncode == (1 if bad else 0), done.stderr
    report = json.loads((root / "gl-sast-report.json").read_text())
    jsonschema.Draft7Validator(GITLAB_SCHEMA).validate(report)
    rules = [v["identifiers"][0]["value"] for v in report["vulnerabilities"]]
    assert rules == (["require-non-root/run-as-non-root"] if bad else [])
    if bad:
        assert report["vulnerabilities"][0]["location"]["file"] == "rendered/all.yaml"


def test_gitlab_job_without_the_command_or_a_package_says_so(tmp_path: Path) -> None:
    done = run_gitlab_job(tmp_path, "/usr/bin:/bin")
    assert done.returncode == 2
    assert "set POLICY_WEBHOOK_PACKAGE" in done.stderr

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reporting import NON_ROOT, bad_deployment, write_manifests, write_policies
from webhook.cli import main
from webhook.report.github import escape_data, escape_property, workflow_command


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("50% done", "50%25 done", "50%25 done"),
        ("a\nb\r\n", "a%0Ab%0D%0A", "a%0Ab%0D%0A"),
        ("key: a, b", "key: a, b", "key%3A a%2C b"),
        ("%0A", "%250A", "%250A"),
        ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
    ],
)
def test_escaping_follows_the_actions_toolkit(text: str, data: str, prop: str) -> None:
    assert escape_data(text) == data
    assert escape_property(text) == prop


def test_workflow_command_shape() -> None:
    assert (
        workflow_command("warning", "x\ny", file="a,b.yaml", line=3, title="p/r: Pod x")
        == "::warning file=a%2Cb.yaml,line=3,title=p/r%3A Pod x::x%0Ay"
    )
    assert workflow_command("notice", "m", file=None, line=4, title="t") == "::notice title=t::m"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


def test_output_github_points_at_the_field_line(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "manifests").mkdir()
    (workspace / "manifests" / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: root\n  namespace: shop\nspec:\n"
        "  containers:\n    - name: app\n      image: reg.example.com/app:1\n"
        "      securityContext:\n        runAsUser: 0\n"
    )
    code = main(["check", "--policies", str(NON_ROOT), "-o", "github", "manifests"])
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "::error file=manifests/pod.yaml,line=11,"
        "title=require-non-root/run-as-non-root%3A Pod shop/root::"
    )
    assert "runAsUser" in lines[0]
    assert lines[-1].startswith("1 objects in 1 files")


def test_modes_map_to_error_warning_and_notice(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifests(workspace / "a.yaml", bad_deployment())
    main(["check", *write_policies(workspace / "p"), "-o", "github", "a.yaml"])
    commands = [line.split(" ", 1)[0] for line in capsys.readouterr().out.splitlines()[:-1]]
    assert commands == ["::error", "::warning", "::notice"]


def test_in_github_actions_annotations_go_to_stderr_beside_the_report(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_manifests(workspace / "a.yaml", bad_deployment())
    (workspace / "broken.yaml").write_text("kind: [unclosed\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["check", "--policies", str(NON_ROOT), "-o", "json", "."]) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout stays a clean JSON document
    assert len(report["findings"]) == 1
    annotations = captured.err.splitlines()
    assert annotations[0].startswith(
        "::error file=broken.yaml,line=2,title=policy-webhook%3A invalid manifest::invalid YAML"
    )
    assert annotations[1].startswith("::error file=a.yaml,line=")


def test_outside_github_actions_there_are_no_annotations(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifests(workspace / "a.yaml", bad_deployment())
    assert main(["check", "--policies", str(NON_ROOT), "a.yaml"]) == 1
    captured = capsys.readouterr()
    assert "::error" not in captured.out + captured.err

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import pod_spec, wrap
from webhook.cli import main
from webhook.impact.markdown import MAX_ROWS, escape

NON_ROOT = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: non-root}
spec:
  mode: enforce
  match: {kinds: [Pod]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
"""

TEAM_LABEL = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: team-label}
spec:
  mode: MODE
  match: {kinds: [Deployment]}
  rules:
    - name: has-team
      expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
      message: "{kind} {name} needs a metadata.labels.team"
"""

EXCEPTION = """
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: legacy}
spec:
  policies: [{name: non-root}]
  match: {kinds: [Deployment], namespaces: [shop], names: [legacy]}
  owner: team-shop
  reason: vendor image, SHOP-7
  expires: 2999-01-01
"""

SAFE = pod_spec(securityContext={"runAsNonRoot": True})


def policies(tmp_path: Path, name: str, *texts: str) -> str:
    directory = tmp_path / name
    directory.mkdir()
    for index, text in enumerate(texts):
        (directory / f"p{index}.yaml").write_text(textwrap.dedent(text))
    return str(directory)


def manifests(tmp_path: Path, *objects: object) -> str:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    return str(path)


def diff(*args: str) -> int:
    return main(["diff", *args])


def test_new_enforce_policy_newly_denies_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = policies(tmp_path, "base", NON_ROOT)
    head = policies(tmp_path, "head", NON_ROOT, TEAM_LABEL.replace("MODE", "enforce"))
    target = manifests(
        tmp_path,
        wrap("Deployment", SAFE, name="web", namespace="shop"),
        wrap("Deployment", SAFE, name="api", namespace="shop", labels={"team": "shop"}),
    )
    assert diff("--base", base, "--head", head, "-o", "json", target) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["newlyDenied"] == 1
    assert report["summary"]["deniedByBase"] == 0
    assert report["summary"]["deniedByHead"] == 1
    (change,) = report["changes"]
    assert change["change"] == "newly-denied"
    assert change["object"]["name"] == "web"
    assert change["allowed"] == {"base": True, "head": False}
    assert [(d["policy"], d["rule"]) for d in change["newDenials"]] == [("team-label", "has-team")]
    assert change["liftedDenials"] == change["newWarnings"] == []


def test_new_warn_policy_newly_warns_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = policies(tmp_path, "base", NON_ROOT)
    head = policies(tmp_path, "head", NON_ROOT, TEAM_LABEL.replace("MODE", "warn"))
    target = manifests(tmp_path, wrap("Deployment", SAFE, name="web", namespace="shop"))
    assert diff("--base", base, "--head", head, target) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"newly warned: Deployment shop/web ({target}:1)"
    assert out[1].startswith("  + WARN [team-label/has-team] Deployment web needs")
    assert out[-1].startswith(
        "0 newly denied, 0 newly admitted, 1 newly warned, 0 denied by other rules; 1 objects"
    )


def test_exception_and_relaxed_rule_newly_admit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = policies(tmp_path, "base", NON_ROOT)
    head = policies(tmp_path, "head", NON_ROOT, EXCEPTION)
    target = manifests(
        tmp_path,
        wrap("Deployment", pod_spec(), name="legacy", namespace="shop"),
        wrap("Deployment", pod_spec(), name="other", namespace="shop"),
    )
    assert diff("--base", base, "--head", head, "-o", "json", target) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["newlyAdmitted"] == 1
    (change,) = report["changes"]
    assert change["change"] == "newly-admitted"
    assert change["object"]["name"] == "legacy"
    (lifted,) = change["liftedDenials"]
    assert lifted["rule"] == "run-as-non-root"
    assert lifted["path"].endswith("/securityContext/runAsNonRoot")


def test_new_rule_on_an_already_denied_object_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = policies(tmp_path, "base", TEAM_LABEL.replace("MODE", "enforce"))
    head = policies(tmp_path, "head", TEAM_LABEL.replace("MODE", "enforce"), NON_ROOT)
    target = manifests(
        tmp_path,
        wrap("Deployment", pod_spec(), name="root", namespace="shop"),
        wrap("Deployment", SAFE, name="safe", namespace="shop"),
    )
    assert diff("--base", base, "--head", head, target) == 0  # denied before and after
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"still denied, by other rules: Deployment shop/root ({target}:1)"
    assert out[1].startswith('  + DENY [non-root/run-as-non-root] container "app"')
    assert not any("shop/safe" in line for line in out)
    assert ", 1 denied by other rules; 2 objects" in out[-1]


def test_identical_policies_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = policies(tmp_path, "base", NON_ROOT)
    target = manifests(tmp_path, wrap("Deployment", pod_spec(), name="web", namespace="shop"))
    assert diff("--base", base, "--head", base, "-o", "markdown", target) == 0
    out = capsys.readouterr().out
    assert "No object is denied, admitted or warned differently." in out
    assert "(denied: 1 by base, 1 by head)" in out


def test_markdown_is_a_pr_comment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = policies(tmp_path, "base", TEAM_LABEL.replace("MODE", "warn"))
    head = policies(tmp_path, "head", NON_ROOT, TEAM_LABEL.replace("MODE", "enforce"))
    objects = [
        wrap("Deployment", pod_spec(), name=f"app-{index}", namespace="shop")
        for index in range(MAX_ROWS + 5)
    ]
    target = manifests(tmp_path, *objects)
    assert diff("--base", base, "--head", head, "-o", "markdown", target) == 1
    out = capsys.readouterr().out
    assert out.startswith("### Policy change impact\n")
    assert f"#### Newly denied ({MAX_ROWS + 5})" in out
    rows = [line for line in out.splitlines() if line.startswith("| Deployment shop/app")]
    assert len(rows) == MAX_ROWS
    assert "| denies | non-root/run-as-non-root |" in rows[0]
    assert f"… and {2 * (MAX_ROWS + 5) - MAX_ROWS} more rows" in out
    assert "_This change denies objects that are admitted today._" in out


def test_markdown_cells_carry_no_markup() -> None:
    hostile = "a|b <img src=x onerror=alert(1)> @octocat **bold** [link](http://x)\nsecond line"
    cell = escape(hostile)
    assert "\n" not in cell
    assert "@" not in cell
    for char in "|<>*[]":
        assert char not in cell.replace(f"\\{char}", "")
    assert len(escape("x" * 1000)) < 400


def test_bad_policies_or_manifests_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = policies(tmp_path, "base", NON_ROOT)
    head = policies(tmp_path, "head", NON_ROOT.replace("nonRoot", "nonroot"))
    target = manifests(tmp_path, wrap("Deployment", SAFE, name="web", namespace="shop"))
    assert diff("--base", base, "--head", head, target) == 2
    assert "error: invalid head policy:" in capsys.readouterr().err
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    assert diff("--base", base, "--head", base, target, str(tmp_path / "broken.yaml")) == 2
    assert "error: " in capsys.readouterr().out
    assert diff("--head", base, target) == 2  # --base is required


@given(st.text(max_size=400))
def test_any_text_becomes_one_table_cell(text: str) -> None:
    cell = escape(text)
    assert "\n" not in cell and "\r" not in cell
    unescaped_pipes = [i for i, char in enumerate(cell) if char == "|" and cell[i - 1 : i] != "\\"]
    assert unescaped_pipes == []

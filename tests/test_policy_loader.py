from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from webhook.errors import PolicySetError
from webhook.findings import Mode
from webhook.policy.loader import load_policy_set

VALID = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata:
  name: sample
spec:
  mode: warn
  match: {kinds: [Pod]}
  rules:
    - name: non-root
      check: nonRoot
    - name: team-label
      mode: enforce
      expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
      message: "{kind} {name} needs a team label"
"""


def load_error(path: Path) -> str:
    with pytest.raises(PolicySetError) as caught:
        load_policy_set([path])
    return str(caught.value)


def test_valid_policy_compiles_with_rule_modes(write_policy: Callable[[str], Path]) -> None:
    policies = load_policy_set([write_policy(VALID)])
    (policy,) = policies.policies
    assert [rule.name for rule in policy.rules] == ["non-root", "team-label"]
    assert [rule.mode for rule in policy.rules] == [Mode.WARN, Mode.ENFORCE]


@pytest.mark.parametrize(
    ("replace", "by", "line", "reason"),
    [
        ("mode: warn", "mode: block", 6, "spec.mode"),
        ("      check: nonRoot", "      check: nonRoot\n      colour: red", 11, "colour"),
        ("check: nonRoot", "check: nonroot", 10, "unknown check 'nonroot'"),
        ("'team' in object.metadata.labels", "'team' in object.metadata.labels &&", 13, "CEL"),
        ('message: "{kind} {name} needs a team label"', "", 11, "message"),
        ("  rules:", "  rules: []\n  unused:", 10, "unused"),
    ],
)
def test_errors_name_file_line_and_reason(
    write_policy: Callable[[str], Path], replace: str, by: str, line: int, reason: str
) -> None:
    path = write_policy(VALID.replace(replace, by))
    message = load_error(path)
    assert f"{path}:{line}:" in message
    assert reason in message


def test_empty_rule_list_is_invalid(write_policy: Callable[[str], Path]) -> None:
    text = VALID.split("  rules:")[0] + "  rules: []\n"
    assert "at least one rule" in load_error(write_policy(text))


def test_bad_check_parameters_are_reported(write_policy: Callable[[str], Path]) -> None:
    text = VALID.replace("check: nonRoot", "check: resources\n      with: {requests: cpu}")
    message = load_error(write_policy(text))
    assert "resources" in message and "requests" in message


def test_duplicate_policy_names_across_files(write_policy: Callable[[str], Path]) -> None:
    first = write_policy(VALID)
    second = write_policy(VALID)
    with pytest.raises(PolicySetError) as caught:
        load_policy_set([first, second])
    assert "duplicate policy name 'sample'" in str(caught.value)
    assert str(first) in str(caught.value)


def test_invalid_yaml_names_the_line(write_policy: Callable[[str], Path]) -> None:
    path = write_policy(VALID.replace("match: {kinds: [Pod]}", "match: {kinds: [Pod]"))
    message = load_error(path)
    assert f"{path}:" in message and "invalid YAML" in message


def test_alias_bomb_is_rejected(write_policy: Callable[[str], Path]) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    path = write_policy("\n".join(lines) + "\n")
    assert "alias" in load_error(path)


def test_every_error_is_reported_not_only_the_first(write_policy: Callable[[str], Path]) -> None:
    broken = VALID.replace("mode: warn", "mode: block")
    text = broken + "---\n" + broken.replace("name: sample", "name: other")
    with pytest.raises(PolicySetError) as caught:
        load_policy_set([write_policy(text)])
    assert len(caught.value.errors) == 2


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    assert "no such file" in load_error(tmp_path / "missing")

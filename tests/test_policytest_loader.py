"""Loading PolicyTest suites: every mistake is reported with its file, its line and why."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook.errors import SuiteError
from webhook.policytest.loader import load_suites

HEAD = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyTest
metadata: {name: suite}
spec:
  policies: [../policy.yaml]
  cases:
"""
POD = "{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: []}}"
EXPECT = "[{policy: p, rule: r, result: pass}]"


def write_suite(tmp_path: Path, cases: str, head: str = HEAD) -> Path:
    folder = tmp_path / "tests"
    folder.mkdir(exist_ok=True)
    suite = folder / "suite.yaml"
    suite.write_text(head + textwrap.indent(textwrap.dedent(cases).strip("\n"), "    ") + "\n")
    return suite


@pytest.mark.parametrize(
    ("cases", "line", "reason"),
    [
        (f"- name: a\n  object: {POD}\n  expect: {EXPECT}\n  colour: red", 10, "colour: Extra"),
        (f"- name: a\n  expect: {EXPECT}", 7, "exactly one of `object`, `file` or `review`"),
        (
            f"- name: a\n  object: {POD}\n  file: x.yaml\n  expect: {EXPECT}",
            7,
            "exactly one of `object`, `file` or `review`",
        ),
        (
            f"- name: a\n  review: r.json\n  operation: UPDATE\n  expect: {EXPECT}",
            7,
            "operation: a `review` file already carries",
        ),
        (f"- name: a\n  object: {POD}", 7, "a case checks nothing"),
        (
            f"- name: a\n  object: {POD}\n  expect: [{{policy: p, result: maybe}}]",
            9,
            "spec.cases.0.expect.0.result: Input should be 'pass', 'fail'",
        ),
        (
            f"- name: a\n  object: {POD}\n  expect: [{{policy: p, result: pass, message: x}}]",
            9,
            "`message` and `paths` need a result of fail",
        ),
        (
            f"- name: a\n  object: {POD}\n  expect: [{{policy: p, result: fail, paths: [spec]}}]",
            9,
            "'spec' is not a JSON Pointer",
        ),
        (
            f"- name: a\n  object: {POD}\n  operation: DELETE\n  oldObject: {POD}\n"
            f"  expect: {EXPECT}",
            7,
            "a DELETE case gives the deleted object as `object` or `file`",
        ),
        (
            f"- name: a\n  object: {{kind: Pod}}\n  expect: {EXPECT}",
            8,
            "object: needs apiVersion and kind",
        ),
        (
            f"- name: a\n  file: objects/missing.yaml\n  expect: {EXPECT}",
            8,
            "does not exist",
        ),
    ],
)
def test_invalid_cases_name_the_line(tmp_path: Path, cases: str, line: int, reason: str) -> None:
    suite = write_suite(tmp_path, cases)
    result = load_suites([tmp_path])
    assert result.suites == []
    (error,) = result.errors
    assert (error.file, error.line) == (str(suite), line), error
    assert reason in error.reason


def test_every_bad_case_is_reported_not_only_the_first(tmp_path: Path) -> None:
    write_suite(tmp_path, f"- name: a\n  expect: {EXPECT}\n- name: b\n  object: {POD}")
    errors = load_suites([tmp_path]).errors
    assert [error.line for error in errors] == [7, 9]


def test_duplicate_case_names(tmp_path: Path) -> None:
    case = f"- name: same\n  object: {POD}\n  expect: {EXPECT}\n"
    write_suite(tmp_path, case + case)
    (error,) = load_suites([tmp_path]).errors
    assert "duplicate case names: same" in error.reason


def test_fixture_files_must_hold_one_object(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, f"- name: a\n  file: objects/two.yaml\n  expect: {EXPECT}")
    (suite.parent / "objects").mkdir()
    (suite.parent / "objects" / "two.yaml").write_text(f"{POD}\n---\n{POD}\n")
    (error,) = load_suites([tmp_path]).errors
    assert error.line == 8 and "holds 2 objects, expected one" in error.reason


def test_object_file_with_bad_yaml_names_both_files(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, f"- name: a\n  file: objects/bad.yaml\n  expect: {EXPECT}")
    (suite.parent / "objects").mkdir()
    (suite.parent / "objects" / "bad.yaml").write_text("kind: [unclosed\n")
    (error,) = load_suites([tmp_path]).errors
    assert error.file == str(suite) and error.line == 8
    assert "bad.yaml:2: invalid YAML" in error.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "body is not valid JSON"),
        ('{"apiVersion": "v1", "kind": "Pod", "request": null}', "invalid AdmissionReview"),
        (
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "UPDATE"},
                }
            ),
            "a UPDATE request has no object",
        ),
    ],
)
def test_bad_review_files(tmp_path: Path, content: str, reason: str) -> None:
    suite = write_suite(tmp_path, f"- name: a\n  review: reviews/r.json\n  expect: {EXPECT}")
    (suite.parent / "reviews").mkdir()
    (suite.parent / "reviews" / "r.json").write_text(content)
    (error,) = load_suites([tmp_path]).errors
    assert error.line == 8 and reason in error.reason, error


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "- name: [unclosed\n")
    (error,) = load_suites([tmp_path]).errors
    assert error.file == str(suite) and error.line == 8 and "invalid YAML" in error.reason


def test_other_kinds_in_a_tests_folder_are_errors(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "pod.yaml").write_text(POD + "\n")
    (error,) = load_suites([tmp_path]).errors
    assert error.line == 1 and "'Pod' is not PolicyTest" in error.reason
    assert "subfolder such as tests/objects/" in error.reason


def test_top_level_fields_are_checked(tmp_path: Path) -> None:
    write_suite(tmp_path, "[]", head=HEAD.replace("metadata: {name: suite}", "metadata: {}"))
    reasons = sorted(error.reason for error in load_suites([tmp_path]).errors)
    assert reasons[0].startswith("metadata.name: Field required")
    assert any(
        reason.startswith("spec.cases: List should have at least 1 item") for reason in reasons
    )


def test_discovery_and_missing_paths(tmp_path: Path) -> None:
    assert "no test suites found" in load_suites([tmp_path]).errors[0].reason
    assert load_suites([tmp_path / "nowhere"]).errors[0].reason == "no such file or directory"
    suite = write_suite(tmp_path, f"- name: a\n  object: {POD}\n  expect: {EXPECT}")
    fixtures = suite.parent / "objects"
    fixtures.mkdir()
    (fixtures / "pod.yaml").write_text(POD + "\n")  # fixtures below tests/ are not suites
    (tmp_path / ".hidden" / "tests").mkdir(parents=True)
    (tmp_path / ".hidden" / "tests" / "x.yaml").write_text("not: a suite\n")
    result = load_suites([tmp_path])
    assert result.errors == []
    assert [(s.name, s.file, s.cases[0].line) for s in result.suites] == [("suite", str(suite), 7)]
    assert result.suites[0].policies == (tmp_path / "policy.yaml",)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["name", "object", "file", "review", "expect", "policy", "result", "x"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases=JSON_VALUES, policies=JSON_VALUES)
def test_any_document_loads_or_fails_with_suite_errors(
    tmp_path: Path, cases: object, policies: object
) -> None:
    document = {
        "apiVersion": "policy-webhook.dev/v1alpha1",
        "kind": "PolicyTest",
        "metadata": {"name": "fuzz"},
        "spec": {"policies": policies, "cases": cases},
    }
    folder = tmp_path / "tests"
    folder.mkdir(exist_ok=True)
    (folder / "fuzz.yaml").write_text(yaml.safe_dump(document))
    result = load_suites([tmp_path])
    assert all(isinstance(error, SuiteError) and error.line for error in result.errors)
    assert len(result.suites) + len(result.errors) >= 1

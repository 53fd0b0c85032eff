"""`check` over files that are not Kubernetes YAML: one clear error per file, the rest checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import POLICIES
from tests.helpers import pod_spec, wrap
from webhook.cli import main
from webhook.yamlbuild import MAX_DEPTH

NON_ROOT = POLICIES / "workloads" / "non-root.yaml"
HELM_TEMPLATE = b"""\
{{- if .Values.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "chart.fullname" . }}
{{- end }}
"""
BOMB = b"a: &a [x,x,x,x,x,x,x,x,x,x]\n" + b"".join(
    b"b%d: &b%d [%s]\n"
    % (level, level, b",".join([b"*a" if level == 0 else b"*b%d" % (level - 1)] * 10))
    for level in range(8)
)

# file name -> (content, the reason its error gives, the line it names or None)
BAD_FILES: dict[str, tuple[bytes, str, int | None]] = {
    "helm-template.yaml": (HELM_TEMPLATE, "an unrendered template", 1),
    "helm-value.yaml": (
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\n",
        "an unrendered template",
        4,
    ),
    "no-kind.yaml": (b"apiVersion: v1\nmetadata: {name: a}\n", "it has no kind", 1),
    "kind-not-a-string.yaml": (b"apiVersion: v1\nkind: 5\n", "it has no kind", 1),
    "scalar.yaml": (b"just some text\n", "not a Kubernetes object: a str", 1),
    "list-item.yaml": (
        b"apiVersion: v1\nkind: List\nitems:\n  - 3\n",
        "items[0] is not a Kubernetes object",
        4,
    ),
    "binary.yaml": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file", None),
    "latin1.yaml": (b"apiVersion: v1\nkind: ConfigMap\ndata: {a: caf\xe9}\n", "not UTF-8", None),
    "broken.json": (b'{"apiVersion": "v1", "kind": ', "invalid YAML", None),
    "alias-bomb.yaml": (BOMB, "aliases counted as what they expand to", None),
    "deep.yaml": (
        b"".join(b"  " * depth + b"a:\n" for depth in range(MAX_DEPTH + 2)),
        f"nests deeper than {MAX_DEPTH}",
        MAX_DEPTH + 1,
    ),
    "deep.json": (
        b"\n\n" + b"[" * 100_000 + b"]" * 100_000,
        f"nests deeper than {MAX_DEPTH}",
        3,
    ),
    "bad-int-read-to-metadata.yaml": (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: 0b_\n",
        "invalid value: invalid literal for int() with base 2",
        5,
    ),
    "bad-int-built.yaml": (
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  x: 1\n  y: !!int zz\n",
        "invalid value: invalid literal for int() with base 10: 'zz'",
        6,
    ),
}


def write_tree(root: Path) -> None:
    for name, (content, _, _) in BAD_FILES.items():
        (root / name).write_bytes(content)
    objects: list[Any] = [
        wrap("Pod", pod_spec(), name="root-pod"),
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    ]
    (root / "good.yaml").write_text(yaml.safe_dump_all(objects))
    (root / "empty.yaml").write_text("")
    (root / "comments.yaml").write_text("# nothing here\n---\n")


def test_each_bad_file_gets_its_own_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path)
    assert main(["check", "--policies", str(NON_ROOT), "-o", "json", str(tmp_path)]) == 2
    document = json.loads(capsys.readouterr().out)
    errors = {Path(error["file"]).name: error for error in document["errors"]}
    assert set(errors) == set(BAD_FILES)
    for name, (_, reason, line) in BAD_FILES.items():
        assert reason in errors[name]["reason"], name
        if line is not None:
            assert errors[name]["line"] == line, name
    # The good file beside them is still checked: its root Pod fails, its Widget is evaluated.
    assert document["summary"]["objects"] == 2
    assert [finding["object"]["name"] for finding in document["findings"]] == ["root-pod"]


def test_text_report_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "helm-value.yaml").write_bytes(BAD_FILES["helm-value.yaml"][0])
    assert main(["check", "--policies", str(NON_ROOT), str(tmp_path)]) == 2
    assert f"{tmp_path / 'helm-value.yaml'}:4" in capsys.readouterr().out

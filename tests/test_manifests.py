"""Reading manifests: real files, every input shape `check` accepts, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DATA
from webhook.manifests import manifest_files, parse_source, read_source

MANIFESTS = DATA / "manifests"

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"containers": [{"name": "app", "image": "reg.example.com/app:1"}]},
}


def test_real_manifests_are_read_and_the_template_is_an_error() -> None:
    sources = [read_source(file) for file in manifest_files([str(MANIFESTS)])]
    objects = [manifest for source in sources for manifest in source.manifests]
    errors = [error for source in sources for error in source.errors]
    assert len(sources) == 17
    assert len(objects) == 68
    [error] = errors
    assert error.file.endswith("newrelic-config-template.yaml")
    assert error.line == 7
    assert "unhashable key" in error.reason
    assert "unrendered template" in error.reason
    kinds = {manifest.object["kind"] for manifest in objects}
    assert {"Deployment", "DaemonSet", "HelmRelease", "Kustomization", "Secret"} <= kinds


def test_multi_document_output_keeps_document_indexes_and_lines() -> None:
    [source] = [
        read_source(
            str(MANIFESTS / "kubernetes+ingress-nginx/deploy/static/provider/kind/deploy.yaml")
        )
    ]
    assert not source.errors
    lines = source.manifests[0].line, source.manifests[1].line
    text = (
        MANIFESTS / "kubernetes+ingress-nginx/deploy/static/provider/kind/deploy.yaml"
    ).read_text()
    assert [m.document for m in source.manifests] == list(range(len(source.manifests)))
    for manifest, line in zip(source.manifests[:2], lines, strict=True):
        assert text.splitlines()[line - 1].startswith("apiVersion:")
        assert manifest.line == line


@pytest.mark.parametrize(
    ("text", "reason", "line"),
    [
        (
            "apiVersion: v1\nkind: Pod\n---\nname: x\n",
            "document 2 is not a Kubernetes object: it has no apiVersion and no kind",
            4,
        ),
        (
            "kind: Pod\nmetadata: {name: a}\n",
            "document 1 is not a Kubernetes object: it has no apiVersion",
            1,
        ),
        ("apiVersion: v1\nkind: ''\n", "document 1 is not a Kubernetes object: it has no kind", 1),
        ("- a\n- b\n", "document 1 is not a Kubernetes object: a list, not a mapping", 1),
        ("just text\n", "document 1 is not a Kubernetes object: a str, not a mapping", 1),
        ("a: [unclosed\n", "invalid YAML: while parsing a flow sequence", 2),
        (
            '{"apiVersion": "v1", "kind": "Pod"}\n{"apiVersion": "v1",\n "kind": }',
            "invalid JSON: Expecting value",
            3,
        ),
        # not JSON, so read as the flow-style YAML it also is
        (
            '{"apiVersion": "v1",\n "kind": }',
            "document 1 is not a Kubernetes object: it has no kind",
            1,
        ),
        ("{apiVersion: v1, kind: Pod}\n---\n[1]\n", "document 2 is not a Kubernetes object", 3),
        (
            "data:\n  {{ .Values.x }}: 1\n",
            "invalid YAML: while constructing a mapping found unhashable key (this looks like an "
            "unrendered template",
            2,
        ),
    ],
)
def test_bad_documents_name_the_document_line_and_reason(text: str, reason: str, line: int) -> None:
    source = parse_source("f.yaml", text)
    [error] = source.errors
    assert error.reason.startswith(reason)
    assert error.line == line


def test_a_bad_document_does_not_hide_the_good_ones() -> None:
    text = yaml.safe_dump_all([POD, {"just": "config"}, {**POD, "metadata": {"name": "second"}}])
    source = parse_source("f.yaml", text)
    assert [m.object["metadata"]["name"] for m in source.manifests] == ["web", "second"]
    assert [m.document for m in source.manifests] == [0, 2]
    assert len(source.errors) == 1


@pytest.mark.parametrize("text", ["", "---\n", "---\n---\n...\n", "# only a comment\n", "\n\n"])
def test_empty_documents_are_no_objects_and_no_errors(text: str) -> None:
    source = parse_source("f.yaml", text)
    assert source.manifests == () and source.errors == ()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary file, not YAML or JSON"),
        ("kind: Pod\n".encode("utf-16"), "binary file, not YAML or JSON"),
        (b"kind: \xff\xfe Pod\n", "not UTF-8 text"),
    ],
)
def test_files_that_are_not_text(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    [error] = read_source(str(path)).errors
    assert error.reason.startswith(reason)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    [error] = read_source(str(tmp_path / "nope.yaml")).errors
    assert error.reason == "cannot read: No such file or directory"


def test_kubectl_json_export_gives_field_lines() -> None:
    export = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [POD, POD]}
    text = json.dumps(export, indent=4)
    source = parse_source("export.json", text)
    assert len(source.manifests) == 2
    second = source.manifests[1]
    line = second.line_of("/spec/containers/0/image")
    assert '"image": "reg.example.com/app:1"' in text.splitlines()[line - 1]
    assert second.line_of("/spec/containers/0/securityContext") == line - 2  # the container


def test_typed_lists_give_their_items_kind_and_api_version() -> None:
    items = [{"metadata": {"name": "a"}, "spec": POD["spec"]}]
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "PodList", "items": items})
    [manifest] = parse_source("pods.yaml", text).manifests
    assert (manifest.object["apiVersion"], manifest.object["kind"]) == ("v1", "Pod")


def test_a_json_stream_is_several_documents() -> None:
    second = {**POD, "metadata": {"name": "second"}}
    text = json.dumps(POD) + "\n" + json.dumps(second, indent=2) + "\n"
    source = parse_source("stream.json", text)
    assert [m.object["metadata"]["name"] for m in source.manifests] == ["web", "second"]
    assert source.manifests[1].line == 2
    assert source.manifests[1].line_of("/metadata/name") == 6  # `"name": "second"`


def test_tab_indented_json_is_read_with_field_lines() -> None:
    text = json.dumps(POD, indent="\t")
    [manifest] = parse_source("tabs.json", text).manifests
    assert manifest.object == POD
    line = manifest.line_of("/spec/containers/0/image")
    assert '"image": "reg.example.com/app:1"' in text.splitlines()[line - 1]


def test_scalars_are_read_as_kubernetes_reads_them() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
        "  creationTimestamp: 2024-01-02T03:04:05Z\n"
        "data:\n  day: 2024-01-02\n  op: =\n  on: yes\n  port: 8080\n"
    )
    [manifest] = parse_source("c.yaml", text).manifests
    assert manifest.object["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert manifest.object["data"] == {"day": "2024-01-02", "op": "=", True: True, "port": 8080}


def test_kinds_no_policy_wants_are_read_to_their_metadata_only() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com"},
    }
    text = yaml.safe_dump_all([crd, POD])
    source = parse_source("f.yaml", text, wanted=lambda kind: kind == "Pod")
    assert source.manifests[0].object == {
        key: crd[key] for key in ("apiVersion", "kind", "metadata")
    }
    assert source.manifests[1].object == POD
    # what is not built must still fail as it would when built
    broken = text.replace("group: example.com", "group: !include group.yaml")
    [error] = parse_source("f.yaml", broken, wanted=lambda kind: kind == "Pod").errors
    assert "could not determine a constructor for the tag '!include'" in error.reason


def test_an_alias_bomb_is_an_error() -> None:
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata: {name: bomb}",
        "data:",
        "  l0: &l0 [x, x]",
    ]
    for level in range(1, 40):
        previous, name = f"l{level - 1}", f"l{level}"
        lines.append(f"  {name}: &{name} [*{previous}, *{previous}, *{previous}]")
    for wanted in (None, lambda kind: False):
        [error] = parse_source("bomb.yaml", "\n".join(lines) + "\n", wanted=wanted).errors
        assert "aliases" in error.reason


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200)
@given(st.lists(values, min_size=1, max_size=3))
def test_values_are_built_as_pyyaml_builds_them(documents: list[object]) -> None:
    text = yaml.safe_dump_all(documents)
    expected = [d for d in yaml.safe_load_all(text) if d is not None]
    from webhook.yamldoc import load_documents

    assert [d.value for d in load_documents(text)] == expected


@settings(max_examples=300)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_input_gives_objects_or_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("any") / "f.yaml"
    path.write_bytes(data)
    source = read_source(str(path))
    for manifest in source.manifests:
        assert manifest.line >= 1
    for error in source.errors:
        assert error.reason


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1]\nb: *x\n",
        "- &x 1\n- *x\n",
        "a: !!seq &x [1]\nb: *x\n",
        "a: [&x 1, *x]\n",
        "? &k a\n: *k\n",
        "--- &x\nb: 1\n",
    ],
)
def test_every_anchor_is_noticed(text: str) -> None:
    # Bounds on aliases are only enforced where anchors were noticed: none may be missed.
    from webhook.yamlbuild import has_anchors

    assert has_anchors(text)
    assert not has_anchors("command: [sh, -c, 'a && b']\nurl: http://x?a=1&b=2\nx: a && b\n")


def test_the_first_error_of_a_document_is_reported_whether_built_or_not() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n"
        "  selector:\n    {{app}}: x\n  ports:\n    - {{port}}: 1\n"
    )
    for wanted in (None, lambda kind: False):
        [error] = parse_source("s.yaml", text, wanted=wanted).errors
        assert error.line == 6

"""Documents read only to their metadata skip the walk that looks for values that cannot be
built, when their composition showed there are none (`Builder.plain`). That shortcut must
never hide such a value."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.yamlbuild import has_tags
from webhook.yamldoc import YAMLDocumentError, iter_nodes

CRD = (
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
    "metadata: {name: things.example.com}\n"
    "spec:\n  group: example.com\n  versions:\n  - name: v1\n    served: true\n"
    "    schema:\n      openAPIV3Schema:\n        type: object\n"
    "        properties: {replicas: {type: integer, minimum: 1, maximum: 1.5e+3}}\n"
    "        x-kubernetes-validations:\n        - rule: '!has(self.x) || self.x != 0'\n"
    "          message: a != b, 'c' !~ d\n"
)


def _plain(text: str) -> list[bool]:
    return [builder.plain for _, _, builder in iter_nodes(text, kubernetes=True)]


def test_an_ordinary_document_is_plain() -> None:
    assert _plain(CRD) == [True]
    assert _plain(CRD + "---\n" + CRD) == [True, True]


@pytest.mark.parametrize(
    "text",
    [
        "a: !!binary aGk=\n",
        "- !custom x\n",
        "--- !!map\na: 1\n",
        "a: [x, !!str 1]\n",
        "{a: !t b}\n",
        "? !!str a\n: b\n",
        "a:\t!t b\n",
        "a:\n  !!set\n  ? b\n",
    ],
)
def test_every_tag_is_noticed(text: str) -> None:
    assert has_tags(text)
    assert _plain(text) == [False]


def test_exclamation_marks_inside_scalars_are_no_tags() -> None:
    assert not has_tags(CRD)
    assert not has_tags("expr: a != b\nq: 'x{a!=\"\"}'\nlone: ! text\n")


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n<<: {b: 2}\n",
        "? [a]\n: b\n",
        "[a]: b\n",
        "{[a]: b}\n",
        "a:\n  {b: 1}: c\n",
        "a: 0b_\n",
        "a: 0x_\n",
        "a: &x [1]\nb: *x\n",
        "a: &x !!int 1\n",  # a tag after an anchor: the anchor is noticed
    ],
)
def test_unusual_documents_are_walked(text: str) -> None:
    assert _plain(text) == [False]


def test_an_unusual_value_is_noticed_every_time_it_appears() -> None:
    # Tags of plain scalars are cached across files; unusual ones must not be.
    for _ in range(3):
        assert _plain("a: 1\n<<: {b: 2}\n---\nc: d\n") == [False, True]


SCALARS = st.sampled_from(
    [
        "x",
        "1",
        "-2",
        "0b_",
        "0x_",
        "0_",
        "1_000",
        "0o7",
        "0x1F",
        "1.5e+3",
        "1_.5",
        ".inf",
        ".NaN",
        "1:30",
        "190:20:30.15",
        "yes",
        "~",
        "",
        "2027-02-30",
        "=",
        "'q'",
        '"d"',
        "!!binary aGk=",
        '!!binary "@@"',
        '!!int "zz"',
        "!custom x",
        "!!str 1",
        "!!float x",
        "! 12",
        "[a, 1]",
        "{a: 0b_}",
    ]
)
KEYS = st.sampled_from(["a", "b", "1", "yes", "<<", "[k]", "{k: 1}", "? [k]\n", "'<<'"])


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        lines.append(f"{draw(KEYS)}: {draw(SCALARS)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=400)
@given(st.lists(documents(), min_size=1, max_size=3))
def test_a_plain_document_has_nothing_the_walk_would_find(texts: list[str]) -> None:
    text = "---\n".join(texts)
    plain = []
    try:
        for _, node, builder in iter_nodes(text, kubernetes=True):
            if builder.plain:
                plain.append((node, builder))
    except YAMLDocumentError:
        pass  # the rest of the text does not compose: it is not read
    for node, builder in plain:
        builder.plain = False
        builder.check(node)  # must not raise

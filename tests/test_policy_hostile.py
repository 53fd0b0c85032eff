"""Hostile policy files are rejected with a clear error, in bounded memory (traced, not timed)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from webhook.errors import PolicySetError
from webhook.policy.loader import MAX_POLICY_FILE_BYTES, MAX_POLICY_NODES, load_policy_set
from webhook.policy.matching import _glob
from webhook.yamlbounds import MAX_DOCUMENTS
from webhook.yamlbuild import MAX_ALIASES, MAX_DEPTH

HEAD = """\
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: hostile}
spec:
  rules:
"""
MEMORY_BOUND = 64 * 1024 * 1024  # bytes of Python allocations while loading one file


def rule(expression: str) -> str:
    return HEAD + f"    - name: r\n      expression: {expression!r}\n      message: m\n"


def laughs(levels: int, fan_out: int) -> str:
    """A policy whose params hold `fan_out ** levels` strings through a handful of aliases."""
    lines = [
        HEAD + "    - {name: r, check: nonRoot}\n  params:",
        f"    a0: &a0 {['lol'] * fan_out}",
    ]
    for level in range(1, levels):
        lines.append(f"    a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * fan_out)}]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion-laughs": (laughs(9, 10), "aliases counted as what they expand to"),
    "few-aliases-big-expansion": (laughs(4, 40), "aliases counted as what they expand to"),
    "many-aliases": (
        "a: &a x\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n",
        f"more than {MAX_ALIASES} aliases",
    ),
    "recursive-alias": ("a: &a [1, *a]\n", "alias *a refers to itself"),
    "gigantic-file": ("a: " + "x" * MAX_POLICY_FILE_BYTES + "\n", "larger than"),
    "too-many-nodes": (
        "a: [" + ",".join(["1"] * MAX_POLICY_NODES) + "]\n",
        f"more than {MAX_POLICY_NODES} nodes",
    ),
    "deep-flow-nesting": ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nest"),
    "deep-block-nesting": (
        "".join("  " * depth + "a:\n" for depth in range(MAX_DEPTH + 5)),
        f"nests deeper than {MAX_DEPTH} levels",
    ),
    "deep-anchored-nesting": ("a: &a " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "deeper"),
    "many-documents": ("---\n" * (MAX_DOCUMENTS + 1), f"more than {MAX_DOCUMENTS} documents"),
    "not-utf8": ("\udcff", "not UTF-8"),
    "cel-syntax-error": (rule("object.metadata.name =="), "invalid CEL expression"),
    "cel-unknown-function": (rule("object.frobnicate()"), "invalid CEL expression"),
    "cel-not-bool": (rule("'a string'"), "a rule needs a bool"),
    "cel-too-long": (rule("true && " * 1000 + "true"), "longer than"),
    "cel-deep-nesting": (rule("(" * 300 + "true" + ")" * 300), "invalid CEL expression"),
}


@pytest.mark.parametrize(("text", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_policy_file_is_rejected_in_bounded_memory(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    tracemalloc.start()
    try:
        with pytest.raises(PolicySetError) as caught:
            load_policy_set([path])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason in str(caught.value)
    assert str(path) in str(caught.value)
    assert peak < MEMORY_BOUND


def test_alias_within_bounds_still_loads(write_policy: Callable[[str], Path]) -> None:
    policies = load_policy_set([write_policy(laughs(3, 10))])
    assert [policy.name for policy in policies.policies] == ["hostile"]


def test_glob_with_many_stars_matches_in_linear_time() -> None:
    # fnmatch compiles each star to an atomic group, so no backtracking can explode: were it
    # not so, this match would run for years and the suite's timeout would fail the test.
    pattern = _glob(["*a" * 30 + "*b", "a*" * 50 + "b"])
    assert pattern is not None
    assert pattern.fullmatch("a" * 100_000) is None
    assert pattern.fullmatch("a" * 100 + "b") is not None

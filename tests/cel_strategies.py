"""Hypothesis strategies for CEL rules: expressions over `object` and `oldObject` that select,
index, test presence, iterate, compare and concatenate, and small JSON objects whose keys are
the ones the expressions select, so most selections find a value."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

KEYS = ["a", "b", "items", "name"]
LITERALS = ["null", "true", "1", "'x'", "[]", "{}"]
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "a"])
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=4)
        | st.lists(st.dictionaries(st.sampled_from(KEYS), children, max_size=3), max_size=3)
    ),
    max_leaves=16,
)
objects: st.SearchStrategy[Any] = (
    st.dictionaries(st.sampled_from(KEYS), values, max_size=4) | values
)
variables = st.sampled_from(["object", "oldObject"])


@st.composite
def paths(draw: st.DrawFn, root: str | None = None) -> str:
    """A chain of selections and indexes from a variable (or from `root`)."""
    text = root or draw(variables)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(KEYS))
        text += draw(st.sampled_from([f".{key}", f"['{key}']", "[0]"]))
    return text


@st.composite
def conditions(draw: st.DrawFn, loop: str | None = None) -> str:
    """One condition on a path: presence, comparison, membership, a macro, a whole use."""
    path = draw(paths(root=loop))
    key = draw(st.sampled_from(KEYS))
    choice = draw(st.integers(0, 15))
    if choice == 0:
        return f"has({path}.{key})"
    if choice == 1:
        return f"{path} == {draw(st.sampled_from(LITERALS))}"
    if choice == 2:
        return f"'{key}' in {path}"
    if choice == 3:
        return f"size({path}) > 1"
    if choice == 4 and loop is None:
        macro = draw(st.sampled_from(["all", "exists", "exists_one"]))
        return f"{path}.{macro}(e, {draw(conditions(loop='e'))})"
    if choice == 5 and loop is None:
        return f"{path}.map(e, {draw(paths(root='e'))}).size() > 0"
    if choice == 6 and loop is None:
        return f"{path}.filter(e, {draw(conditions(loop='e'))}) == []"
    if choice == 7:
        return f"type({path}) == map"
    if choice == 8:
        return f"{path}.{key}"
    if choice == 9:
        return f"dyn({path}) != null"
    if choice == 10:
        return f"string({path}) + {draw(paths())}.{key} == 'xa'"
    if choice == 11:
        return f"[{path}, {draw(paths())}, 1].size() == {{'k': {path}}}.size()"
    if choice == 12:
        return f"string({path}).contains('x') || string({path}).matches('^a')"
    return f"{path} != 1"


@st.composite
def expressions(draw: st.DrawFn, condition: st.SearchStrategy[str] | None = None) -> str:
    """Up to three conditions (of `condition`, default `conditions()`) joined by && and ||,
    some negated."""
    parts = draw(st.lists(conditions() if condition is None else condition, min_size=1, max_size=3))
    text = parts[0]
    for part in parts[1:]:
        joiner = draw(st.sampled_from([" && ", " || "]))
        text = f"({text}){joiner}{'!' if draw(st.booleans()) else ''}({part})"
    return text

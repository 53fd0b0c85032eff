"""CEL rules have a cost limit: what would stall the webhook is refused before it runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cel_strategies import expressions, objects
from tests.helpers import pod_spec, request, wrap
from webhook.cel import VARIABLES, CELCompileError, CELEvaluationError, compile_expression
from webhook.celbound import upper_bound
from webhook.celcost import MAX_COST, Size, estimate, measure
from webhook.decision import decide
from webhook.engine import evaluate
from webhook.errors import PolicySetError
from webhook.findings import Result
from webhook.policy.compiled import PolicySet

ITEMS = list(range(9_999))
LONG = "a" * 100_000
ANNOTATED = {  # a Pod with a big annotation elsewhere must not make its other rules expensive
    "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": LONG * 2}},
    "spec": {"containers": [{"name": f"c{i}", "env": [{"name": "A"}] * 50} for i in range(50)]},
}


def run(source: str, obj: Any) -> bool:
    variables = dict.fromkeys(VARIABLES)
    variables["object"] = obj
    return compile_expression(source).evaluate(variables)


# Each ran for seconds and grew the process by gigabytes before the limit (measured: 10 s and
# 1.6 GB for the map, 22 s and 3.5 GB for the concatenations, 4.7 s for the regexes).
EXPENSIVE = {
    "map-over-a-huge-list": ("object.items.map(x, x).size() > 0", {"items": ITEMS}),
    "filter-over-a-huge-list": ("object.items.filter(x, true).size() > 0", {"items": ITEMS}),
    "concatenation-per-item": (
        "object.items.map(x, object.s + object.s).size() > 0",
        {"items": ITEMS, "s": LONG},
    ),
    "regex-per-item": (
        "object.items.all(x, object.s.matches('^a+$'))",
        {"items": ITEMS[:1000], "s": LONG},
    ),
    "nested-loops": (
        "object.items.all(x, object.items.exists(y, x + y == -1))",
        {"items": ITEMS[:2000]},
    ),
}


@pytest.mark.parametrize(("source", "obj"), EXPENSIVE.values(), ids=EXPENSIVE.keys())
def test_expensive_rule_is_refused_before_it_runs(source: str, obj: Any) -> None:
    compile_expression(source)  # cheap for small objects: it loads
    with pytest.raises(CELEvaluationError, match=r"estimated cost .* is over the limit"):
        run(source, obj)


CHEAP = {
    "all-over-a-huge-list": ("object.items.all(x, x >= 0)", {"items": ITEMS}),
    "one-regex-over-a-long-string": ("object.s.matches('^a+$')", {"s": LONG * 10}),
    "map-over-a-long-list": ("object.items.map(x, x).size() > 0", {"items": ITEMS[:1000]}),
    "nested-loops-beside-a-big-annotation": (
        "object.spec.containers.all(c, c.env.all(e, e.name.startsWith('A')))",
        ANNOTATED,
    ),
}


@pytest.mark.parametrize(("source", "obj"), CHEAP.values(), ids=CHEAP.keys())
def test_reasonable_rule_on_big_object_still_runs(source: str, obj: Any) -> None:
    assert run(source, obj) is True


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("[" + ",".join(["1"] * 2000) + "].map(x, x).size() > 0", "even for an empty object"),
        ("'a'.matches('(a)\\\\1')", "invalid escape sequence"),
        ("'a'.matches('(?=a)')", "invalid perl operator"),
        ("'a'.matches('[')", "missing ]"),
    ],
    ids=["literal-map", "backreference", "lookahead", "unclosed-class"],
)
def test_rule_that_can_never_run_well_does_not_load(source: str, reason: str) -> None:
    with pytest.raises(CELCompileError, match=reason):
        compile_expression(source)


def test_iteration_budget_stops_nested_loops_on_literals() -> None:
    ten = "[" + ",".join(str(i) for i in range(10)) + "]"
    nested = "true"
    for variable in "abcde":  # 10**5 steps, each cheap: within the cost, over the budget
        nested = f"{ten}.all({variable}, {nested})"
    with pytest.raises(CELEvaluationError, match="budget"):
        run(nested, {})


def test_regular_expressions_run_in_linear_time() -> None:
    # RE2 has no backtracking: with Python's re this would run for longer than the universe.
    assert run("object.s.matches('^(a+)+$')", {"s": "a" * 100 + "!"}) is False


def test_estimate_is_an_upper_bound_of_steps() -> None:
    tree = compile_expression("object.items.map(x, x).size() > 0").tree
    assert estimate(tree, {"object": {"items": ITEMS[:100]}}) >= 100
    assert measure({"a": [1, 2, 3], "b": "x" * 100}).items == 3


def test_refused_rule_fails_closed_with_the_reason(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(
        """
        apiVersion: policy-webhook.dev/v1alpha1
        kind: Policy
        metadata: {name: costly}
        spec:
          match: {kinds: [Pod]}
          rules:
            - name: every-env
              expression: "object.spec.containers.all(c, c.env.map(e, e.name).size() < 100000)"
              message: "{kind} {name} has too many variables"
        """
    )
    env = [{"name": f"V{i}", "value": "x"} for i in range(5_000)]
    (finding,) = evaluate(request(wrap("Pod", pod_spec(env=env))), policies)
    assert finding.result is Result.ERROR
    assert "estimated cost" in finding.message and f"{MAX_COST:,}" in finding.message
    assert not decide([finding]).allowed
    small = evaluate(request(wrap("Pod", pod_spec(env=env[:10]))), policies)
    assert [f.result for f in small] == [Result.PASS]


def test_invalid_regex_in_a_policy_names_file_and_rule(
    policy_set: Callable[[str], PolicySet],
) -> None:
    with pytest.raises(PolicySetError, match="rule 'names': invalid CEL expression: invalid"):
        policy_set(
            """
            apiVersion: policy-webhook.dev/v1alpha1
            kind: Policy
            metadata: {name: regex}
            spec:
              rules:
                - name: names
                  expression: "object.metadata.name.matches('(a')"
                  message: bad name
            """
        )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions(), obj=objects, old=objects, bound_only=st.booleans())
def test_upper_bound_is_never_under_the_estimate(
    source: str, obj: Any, old: Any, bound_only: bool
) -> None:
    try:
        tree = compile_expression(source).tree
    except CELCompileError:
        return  # not every generated text type-checks; those are no rules
    bound = upper_bound(tree)
    assert bound is not None
    # Also with variables left unbound (as when a test passes only `object`).
    variables = {"object": obj} if bound_only else {**dict.fromkeys(VARIABLES), "object": obj}
    variables["oldObject"] = old
    assert bound.value(variables, {}) >= estimate(tree, variables)


@pytest.mark.parametrize(
    ("source", "obj"),
    [
        ("object.s + object.s == object.t", {"s": "a" * 1000, "t": "b" * 10}),
        ("object.items.all(x, x.name.startsWith('a'))", {"items": [{"name": "a" * 90}] * 20}),
    ],
)
def test_upper_bound_is_close_to_the_estimate(source: str, obj: Any) -> None:
    tree = compile_expression(source).tree
    bound = upper_bound(tree)
    assert bound is not None
    variables = {"object": obj}
    assert estimate(tree, variables) <= bound.value(variables, {}) <= 3 * estimate(tree, variables)


def test_bound_over_the_limit_leaves_the_verdict_to_the_estimate() -> None:
    # The bound takes each integer to be as large as the list; the estimate measures them.
    source = "object.items.all(x, x + x >= 0)"
    bound = upper_bound(compile_expression(source).tree)
    assert bound is not None and bound.value({"object": {"items": ITEMS}}, {}) > MAX_COST
    assert run(source, {"items": ITEMS}) is True


class _Text(str):
    pass


class _Map(dict[Any, Any]):
    pass


def _longest(value: Any) -> tuple[int, int]:
    """(longest list or map, longest string) in `value`, by the definition."""
    if isinstance(value, str | bytes):
        return 0, len(value)
    children: list[Any] = []
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple):
        children = list(value)
    else:
        return 0, 0
    found = [_longest(child) for child in children]
    return max([len(value), *(f[0] for f in found)]), max([0, *(f[1] for f in found)])


measured_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.binary(max_size=30)
    | st.text(max_size=30).map(_Text),
    lambda children: (
        st.lists(children, max_size=6)
        | st.lists(children, max_size=6).map(tuple)
        | st.dictionaries(st.text(max_size=20) | st.integers() | st.binary(max_size=20), children)
        | st.dictionaries(st.text(max_size=20).map(_Text), children).map(_Map)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=measured_values)
def test_measure_is_the_longest_collection_and_string(value: Any) -> None:
    items, text = _longest(value)
    assert measure(value) == Size(float(items), text / 10)

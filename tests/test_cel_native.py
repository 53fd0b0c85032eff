"""CEL rules of simple shapes are evaluated natively with CEL's results: whenever the native
evaluation answers, CEL answers the same; errors, messages and every other case are CEL's."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cel_strategies import expressions, objects
from tests.helpers import pod_spec, wrap
from tests.strategies import kubernetes_objects
from webhook.cel import (
    VARIABLES,
    Activation,
    CELCompileError,
    CELEvaluationError,
    CELProgram,
    compile_expression,
)
from webhook.celnative import MAX_STEPS, holdable
from webhook.celpaths import Need, union

Outcome = tuple[str, object]


def outcome(program: CELProgram, activation: Activation) -> Outcome:
    try:
        return "value", program.evaluate(activation)
    except CELEvaluationError as error:
        return "error", str(error)


def by_cel(program: CELProgram) -> CELProgram:
    return dataclasses.replace(program, native=None)


def variables(obj: Any, old: Any = None) -> dict[str, Any]:
    return {**dict.fromkeys(VARIABLES), "object": obj, "oldObject": old}


def compared(
    source: str, obj: Any, old: Any = None, *, shared: bool = True
) -> tuple[Outcome, Outcome, bool | None]:
    """The outcome with native evaluation, the outcome by CEL alone, and the native answer."""
    program = compile_expression(source)
    values = variables(obj, old)
    native = None
    if program.native is not None:
        activation = program.activation(values, shared=shared)
        if activation.holds(program.reads):
            native = program.native(activation.shown)
    return (
        outcome(program, program.activation(values, shared=shared)),
        outcome(by_cel(program), program.activation(values, shared=shared)),
        native,
    )


def check(source: str, obj: Any, old: Any = None) -> bool | None:
    try:
        compile_expression(source)
    except CELCompileError:
        return None  # not every generated text type-checks; those are no rules
    with_native, cel_alone, native = compared(source, obj, old)
    assert with_native == cel_alone
    if native is not None:
        assert cel_alone == ("value", native)
    return native


# The shapes of the generated rules of the benchmark's `100` set and the common ones.
DECIDED = [
    ("has(object.metadata.labels) && 'team' in object.metadata.labels", True),
    ("!has(object.data) || object.data.size() <= 200", True),
    ("!has(object.type) || object.type != 'kubernetes.io/basic-auth'", True),
    ("object.spec.type != 'NodePort'", False),
    ("object.spec.type != 'LoadBalancer' || object.metadata.namespace == 'edge'", True),
    ("has(object.spec.tls) && object.spec.tls.size() > 0", False),
    ("object.spec.rules.all(r, has(r.host) && r.host.endsWith('.example.com'))", False),
    ("object.spec.replicas >= 2 || object.metadata.namespace == 'batch'", True),
    ("object.rules.all(r, !r.verbs.exists(v, v == '*'))", False),
    ("object.roleRef.name != 'cluster-admin'", True),
    ("object.spec.maxReplicas <= 50", True),
    ("!has(object.spec.hostAliases)", True),
    ("object.metadata.name.size() <= 253", True),
    ("object.metadata.labels['app'] == 'web'", True),
    ("object.spec.containers[0].image.startsWith('registry.example.com/')", True),
    ("object.spec.containers.exists(c, c.name.contains('side'))", False),
    ("has(object.spec.paused) ? object.spec.paused == false : true", True),
    ("object.metadata.labels.all(k, k != '')", True),
]
OBJECT = {
    "metadata": {"name": "web", "namespace": "batch", "labels": {"team": "a", "app": "web"}},
    "data": {"k": "v"},
    "type": "Opaque",
    "spec": {
        "type": "NodePort",
        "tls": [],
        "rules": [{"host": "a.example.com"}, {"host": "b.example.org"}],
        "replicas": 3,
        "maxReplicas": 10,
        "containers": [{"name": "app", "image": "registry.example.com/app:1"}],
    },
    "rules": [{"verbs": ["get"]}, {"verbs": ["get", "*"]}],
    "roleRef": {"name": "view"},
}


@pytest.mark.parametrize(("source", "expected"), DECIDED)
def test_common_rules_are_decided_natively(source: str, expected: bool) -> None:
    assert compile_expression(source).native is not None
    assert check(source, OBJECT) is expected


@pytest.mark.parametrize(
    "source",
    [
        "object.metadata.name.matches('^a')",  # RE2 is CEL's own
        "object.spec.containers.map(c, c.name).size() > 0",
        "object.spec.replicas + 1 > 2",
        "object.spec.ratio > 0.5",
        "type(object.spec) == map",
        "object.spec.containers == []",
    ],
)
def test_other_shapes_are_left_to_cel(source: str) -> None:
    assert compile_expression(source).native is None


@pytest.mark.parametrize(
    ("source", "obj"),
    [
        ("object.spec.type != 'NodePort'", {"spec": {}}),  # no such key
        ("object.spec.type != 'NodePort'", {"spec": None}),
        ("has(object.spec.x)", {"spec": []}),
        ("object.spec.replicas >= 2", {"spec": {"replicas": 2.5}}),  # an int and a double
        ("object.spec.replicas >= 2", {"spec": {"replicas": "2"}}),  # no such overload
        ("object.spec.replicas >= 2", {"spec": {"replicas": 2**63}}),  # a uint
        ("object.spec.replicas == 2", {"spec": {"replicas": 2.0}}),
        ("object.spec.x", {"spec": {"x": "yes"}}),  # not a bool
        ("!object.spec.x", {"spec": {"x": 1}}),
        ("object.spec.x && false", {"spec": {"x": 1}}),
        ("object.items.all(x, x)", {"items": [True, 1, False]}),
        ("object.items[3] == 1", {"items": [1]}),
        ("object.name.size() > 1", {"name": 7}),
        ("1 in object.items", {"items": [[1], 1.0]}),  # an int compared with a double
        ("object.items.all(x, true)", {"items": list(range(MAX_STEPS + 1))}),
        ("object.items.all(x, true)", {"items": list(range(20_000))}),  # CEL's budget: error
    ],
)
def test_uncertain_steps_leave_the_result_to_cel(source: str, obj: Any) -> None:
    assert compile_expression(source).native is not None
    assert check(source, obj) is None


@pytest.mark.parametrize(
    ("source", "obj", "expected"),
    [
        ("false && object.spec.type == 1", {"spec": {}}, False),  # CEL stops at false
        ("true || object.items.all(x, true)", {"items": list(range(20_000))}, True),
        ("object.items.exists(x, x == 3)", {"items": [1, "a", None, 3, 2.5]}, True),
        ("object.items.all(x, x != 'b')", {"items": [1, "a", None, [], {}]}, True),
        ("object.m.all(k, k.size() == 1)", {"m": {"a": 1, "bb": 2}}, False),
        ("object.s.size() == 3", {"s": "h\u00e9\U0001f600"}, True),
        ("object.s < 'b'", {"s": "\U0001f600"}, False),
        ("'\\uffff' < object.s", {"s": "\U0001f600"}, True),
        ("object.n == null && object.b != 1", {"n": None, "b": True}, True),
    ],
)
def test_native_answers(source: str, obj: Any, expected: bool) -> None:
    assert check(source, obj) is expected


@pytest.mark.parametrize(
    "value",
    [2**64, -(2**63) - 1, "a\x00b", "\ud800", {"\ud800": 1}, {1: "a"}, (1, 2), b"x", 1j],
    ids=repr,
)
def test_values_cel_cannot_hold_are_left_to_cel(value: Any) -> None:
    assert not holdable({"spec": {"x": value}})
    assert check("object.spec.x == 1", {"spec": {"x": value}}) is None


def test_a_value_another_rule_reads_fails_as_it_does_in_cel() -> None:
    # Rules sharing an activation read one copy holding what each reads: as CEL converts it
    # whole, a value it cannot hold fails each of them, natively evaluable or not.
    program = compile_expression("object.spec.type != 'NodePort'")
    other = compile_expression("object.spec.big == 1")
    reads = {"object": union(program.reads["object"], other.reads["object"])}
    values = variables({"spec": {"type": "ClusterIP", "big": 2**64}})
    native = outcome(program, Activation.of(values, reads))
    assert native == outcome(by_cel(program), Activation.of(values, reads))
    assert native[0] == "error" and "out of range" in str(native[1])
    alone = Activation.of(values, program.reads)
    assert outcome(program, alone) == ("value", True)


def test_cost_limit_is_checked_before_native_evaluation() -> None:
    text = "a" * 100_000
    source = "object.items.all(x, x.startsWith(object.s))"
    program = compile_expression(source)
    assert program.native is not None
    with pytest.raises(CELEvaluationError, match="estimated cost"):
        program.evaluate(variables({"items": [text] * 2_000, "s": text}))


# Expressions in the shapes evaluated natively, over values of every JSON type and some that
# CEL cannot hold.
KEYS = ["a", "b", "name", "items"]
COMMON = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["", "a", "b", "ab", "\u00e9", "\U0001f600", "1"])
)
RARE = st.sampled_from([2**63 - 1, 2**63, -(2**63), 2**64, 1.0, 0.5, -0.0, "a\x00", "\ud800"])
SCALARS = st.one_of(COMMON, COMMON, COMMON, RARE)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=4)
        | st.fixed_dictionaries(dict.fromkeys(KEYS, children))  # every selection finds a value
    ),
    max_leaves=12,
)
NATIVE_OBJECTS = st.fixed_dictionaries(dict.fromkeys(KEYS, VALUES)) | VALUES
LITERALS = ["null", "true", "false", "0", "1", "2", "-1", "'a'", "'b'", "''", "'\\u00e9'"]
LITERALS += ["9223372036854775807", "-9223372036854775808"]


@st.composite
def native_paths(draw: st.DrawFn, root: str | None = None) -> str:
    text = root or draw(st.sampled_from(["object", "oldObject"]))
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(KEYS))
        text += draw(st.sampled_from([f".{key}", f"['{key}']", "[0]", "[1]"]))
    return text


@st.composite
def native_operands(draw: st.DrawFn, loop: str | None = None) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(LITERALS))
    path = draw(native_paths(root=loop if loop and draw(st.booleans()) else None))
    return f"{path}.size()" if draw(st.integers(0, 4)) == 0 else path


@st.composite
def native_conditions(draw: st.DrawFn, loop: str | None = None, depth: int = 0) -> str:
    left, right = draw(native_operands(loop)), draw(native_operands(loop))
    key = draw(st.sampled_from(KEYS))
    choice = draw(st.integers(0, 11))
    if choice <= 2:
        operator = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{left} {operator} {right}"
    if choice == 3:
        return f"has({draw(native_paths(root=loop))}.{key})"
    if choice == 4:
        return f"{left} in {draw(native_paths(root=loop))}"
    if choice == 5:
        function = draw(st.sampled_from(["startsWith", "endsWith", "contains"]))
        return f"{left}.{function}({right})"
    if choice == 6 and depth < 2:
        macro = draw(st.sampled_from(["all", "exists"]))
        variable = draw(st.sampled_from(["e", "object"]))  # a loop variable may hide one
        inner = draw(native_conditions(loop=variable, depth=depth + 1))
        return f"{draw(native_paths(root=loop))}.{macro}({variable}, {inner})"
    if choice == 7 and depth < 2:
        condition = draw(native_conditions(loop, depth + 1))
        return f"({condition}) ? {left} : {right}"
    if choice == 8:
        return draw(native_paths(root=loop))  # a value used as a bool
    if choice == 9:
        return "!" + draw(native_paths(root=loop))
    return f"{left} != {right}"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions(native_conditions()), obj=NATIVE_OBJECTS, old=NATIVE_OBJECTS)
def test_native_evaluation_equals_cel(source: str, obj: Any, old: Any) -> None:
    check(source, obj, old)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions(), obj=objects, old=objects)
def test_native_evaluation_equals_cel_on_any_rule(source: str, obj: Any, old: Any) -> None:
    check(source, obj, old)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from([source for source, _ in DECIDED]),
    obj=kubernetes_objects(kind="Pod") | st.just(wrap("Pod", pod_spec())),
    shared=st.booleans(),
)
def test_native_evaluation_equals_cel_on_kubernetes_objects(
    source: str, obj: dict[str, Any], shared: bool
) -> None:
    with_native, cel_alone, native = compared(source, obj, shared=shared)
    assert with_native == cel_alone
    if native is not None:
        assert cel_alone == ("value", native)


def test_presence_only_reads_are_decided_on_the_pruned_copy() -> None:
    program = compile_expression("!has(object.spec.hostAliases)")
    assert program.reads["object"] is not Need.WHOLE
    pod = wrap("Pod", pod_spec())
    activation = program.activation(variables(pod))
    assert activation.shown["object"] == {"spec": {}}
    assert program.native is not None and program.native(activation.shown) is True

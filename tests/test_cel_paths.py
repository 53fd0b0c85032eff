"""CEL programs see only the parts of `object` and `oldObject` they can read, with the same
results as on the whole objects: values, errors, `has()` and the cost limit alike."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.cel_strategies import expressions, objects
from tests.helpers import pod_spec, request, wrap
from tests.strategies import kubernetes_objects
from webhook.cel import (
    VARIABLES,
    Activation,
    CELCompileError,
    CELEvaluationError,
    CELProgram,
    compile_expression,
)
from webhook.celpaths import Need, describe, prune, reaches
from webhook.engine import evaluate
from webhook.findings import Result

POD = wrap("Pod", pod_spec())
POD["metadata"]["managedFields"] = [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]
POD["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}


def outcome(program: CELProgram, activation: Activation) -> tuple[str, object]:
    try:
        return "value", program.evaluate(activation)
    except CELEvaluationError as error:
        return "error", str(error)


WHOLE_READ = compile_expression("object == object")


def representable(value: Any) -> bool:
    """Whether CEL can hold `value`: no integer past 64 bits, no two keys equal up to a NUL."""
    return outcome(WHOLE_READ, Activation.of({"object": value}))[0] == "value"


def both(source: str, obj: Any, old: Any = None) -> tuple[Any, Any]:
    """The outcome on the whole variables and on the pruned ones."""
    program = compile_expression(source)
    variables = {**dict.fromkeys(VARIABLES), "object": obj, "oldObject": old}
    return outcome(program, Activation.of(variables)), outcome(
        program, program.activation(variables)
    )


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("object.metadata.name.size() <= 253", "{'metadata':{'name':*}}"),
        ("!has(object.spec.hostAliases)", "{'spec':{'hostAliases':?}}"),
        (
            "has(object.metadata.labels) && 'team' in object.metadata.labels",
            "{'metadata':{'labels':*}}",
        ),
        ("object.metadata.labels['app'] == 'web'", "{'metadata':{'labels':{'app':*}}}"),
        ("object.metadata['labels'].app == 'web'", "{'metadata':{'labels':{'app':*}}}"),
        ("object.spec.containers[0].image != ''", "{'spec':{'containers':*}}"),
        (
            "object.spec.containers.all(c, has(c.resources.limits))",
            "{'spec':{'containers':{}[{'resources':{'limits':?}}]}}",
        ),
        (
            "object.spec.containers.all(c, c.ports.all(p, p.containerPort > 80))",
            "{'spec':{'containers':{}[{'ports':{}[{'containerPort':*}]}]}}",
        ),
        ("object.spec.containers.all(c, true)", "{'spec':{'containers':{}[?]}}"),
        # The element is the result of `filter`: the elements are read whole.
        (
            "object.spec.containers.filter(c, c.name == 'a').size() == 1",
            "{'spec':{'containers':*}}",
        ),
        (
            "object.spec.containers.map(c, c.name).size() == 1",
            "{'spec':{'containers':{}[{'name':*}]}}",
        ),
        # A loop variable named like a variable hides it in the loop, not in the range.
        (
            "object.spec.containers.exists(object, object.name == 'a')",
            "{'spec':{'containers':{}[{'name':*}]}}",
        ),
        ("[1, 2].all(object, object > 0) && object.kind == 'Pod'", "{'kind':*}"),
        ("dyn(object).kind == 'Pod'", "*"),
        ("object == oldObject", "*"),
        ("object.metadata.labels.all(k, k != '')", "{'metadata':{'labels':*}}"),
        ("has(object.metadata.name) && object.metadata.name != ''", "{'metadata':{'name':*}}"),
        ("request.operation == 'CREATE'", "?"),  # not referred to
    ],
)
def test_what_a_program_reads_of_the_object(source: str, reads: str) -> None:
    program = compile_expression(source)
    assert describe(program.reads.get("object", Need.PRESENT)) == reads


def test_old_object_is_read_on_its_own() -> None:
    program = compile_expression("object.spec.replicas >= oldObject.spec.replicas")
    assert describe(program.reads["oldObject"]) == "{'spec':{'replicas':*}}"
    assert describe(program.reads["object"]) == "{'spec':{'replicas':*}}"


def test_only_the_variables_referred_to_are_bound() -> None:
    program = compile_expression("request.userInfo.username != 'bob' && params.max > 1")
    assert list(program.reads) == ["request", "params"]
    assert program.reads_key == "request={'userInfo':{'username':*}};params={'max':*}"
    assert compile_expression("true").reads == {}


def test_pruned_pod_leaves_out_managed_fields_and_status() -> None:
    program = compile_expression("object.metadata.name.size() <= 253")
    pruned = prune(POD, program.reads["object"])
    assert pruned == {"metadata": {"name": POD["metadata"]["name"]}}
    assert prune(POD, Need.WHOLE) is POD


def test_presence_keeps_the_key_not_the_value() -> None:
    program = compile_expression("has(object.spec.containers) && !has(object.spec.hostAliases)")
    assert prune(POD, program.reads["object"]) == {"spec": {"containers": None}}
    assert both("has(object.spec.containers) && !has(object.spec.hostAliases)", POD) == (
        ("value", True),
        ("value", True),
    )


@pytest.mark.parametrize(
    "source",
    [
        "object.metadata.missing == 'x'",
        "object.spec.containers.name == 'x'",
        "has(object.spec.containers.name)",
        "object.spec.containers[7].image == 'x'",
        "object.metadata.labels['absent'] == 'x'",
        "object.status.conditions.exists(c, c.reason == 'x')",
        "dyn(object.metadata.name.size())",
        "has(object.metadata.name.first)",
    ],
)
def test_errors_are_those_of_the_whole_object(source: str) -> None:
    whole, pruned = both(source, POD)
    assert whole[0] == "error"
    assert pruned == whole


@pytest.mark.parametrize(
    ("unrepresentable", "reason"),
    [({"time": 2**64}, "out of range"), ({"": 1, "\x00": 2}, "duplicate key")],
    ids=["integer-past-64-bits", "keys-equal-up-to-a-nul"],
)
def test_value_cel_cannot_hold_fails_only_the_rules_that_read_it(
    unrepresentable: dict[str, Any], reason: str
) -> None:
    obj = {"metadata": {"name": "a", "managedFields": [unrepresentable]}}
    assert not representable(obj)
    whole, pruned = both("object.metadata.name == 'a'", obj)
    assert whole[0] == "error" and reason in str(whole[1])
    assert pruned == ("value", True)
    kind, message = both("size(object.metadata.managedFields) == 1", obj)[1]
    assert kind == "error" and reason in str(message)


def test_cost_limit_sees_the_whole_values() -> None:
    # The estimate prices what the program reads; the pruned copy changes none of it.
    obj = {"items": list(range(9_999))}
    whole, pruned = both("object.items.map(x, x).size() > 0", obj)
    assert whole == pruned
    assert whole[0] == "error" and "estimated cost" in str(whole[1])


CEL_POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: cel}
spec:
  match: {kinds: [Pod]}
  rules:
    - name: named
      expression: "object.metadata.name.size() <= 253"
      message: "{kind} {name}: long name"
    - name: no-host-aliases
      expression: "!has(object.spec.hostAliases)"
      message: "{kind} {name}: hostAliases"
    - name: limits
      expression: "object.spec.containers.all(c, has(c.resources) && has(c.resources.limits))"
      message: "{kind} {name}: limits"
    - name: whole
      expression: "dyn(object).spec.containers.size() > 0"
      message: "{kind} {name}: no containers"
    - name: labelled
      expression: "object.metadata.labels['app'] == 'web'"
      message: "{kind} {name}: app label"
"""


def test_rules_with_different_reads_on_one_request(policy_set: Any) -> None:
    findings = evaluate(request(POD), policy_set(CEL_POLICY))
    assert [(f.rule, f.result) for f in findings] == [
        ("named", Result.PASS),
        ("no-host-aliases", Result.PASS),
        ("limits", Result.FAIL),
        ("whole", Result.PASS),
        ("labelled", Result.ERROR),
    ]
    assert 'Key not found in map : "labels"' in findings[-1].message


# Random expressions over random objects: the pruned evaluation equals the whole one.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions(), obj=objects, old=objects)
def test_pruned_evaluation_equals_whole_evaluation(source: str, obj: Any, old: Any) -> None:
    try:
        compile_expression(source)
    except CELCompileError:
        return  # not every generated text type-checks; those are no rules
    assume(representable(obj) and representable(old))
    whole, pruned = both(source, obj, old)
    assert pruned == whole


# Rules as people write them, over Pods with every shape of container the engine meets.
POD_RULES = [
    "object.spec.containers.all(c, !has(c.securityContext)"
    " || !has(c.securityContext.privileged) || c.securityContext.privileged == false)",
    "object.spec.containers.all(c, has(c.resources) && has(c.resources.limits)"
    " && 'memory' in c.resources.limits)",
    "object.spec.containers.exists(c, c.image.endsWith(':latest'))",
    "!has(object.spec.hostNetwork) || object.spec.hostNetwork == false",
    "has(object.metadata.labels) && object.metadata.labels['app'] != ''",
    "object.spec.containers.all(c, !has(c.ports) || c.ports.all(p, p.hostPort == 0))",
    "object.spec.containers.map(c, c.image).all(i, i.startsWith('reg.example.com/'))",
    "object.spec.containers.filter(c, has(c.securityContext)).size() <= 1",
    "has(object.spec.initContainers) ? object.spec.initContainers.all(c, c.name != '') : true",
    "object.spec.containers.exists_one(c, c.name == 'app')",
    "object.metadata.name.matches('^[a-z0-9-]*$') && object.kind == 'Pod'",
    "object.spec.containers[0].image == oldObject.spec.containers[0].image",
    "object.spec.containers.all(c, c.env.all(e, e.name != 'DEBUG'))",
    "object.status.phase != 'Failed' || size(object.metadata.managedFields) > 0",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(POD_RULES),
    obj=kubernetes_objects(kind="Pod"),
    old=kubernetes_objects(kind="Pod"),
    status=st.booleans(),
)
def test_pruned_rules_on_pods_equal_whole_rules(
    source: str, obj: dict[str, Any], old: dict[str, Any], status: bool
) -> None:
    obj["metadata"]["managedFields"] = POD["metadata"]["managedFields"]
    if status:
        obj["status"] = POD["status"]
    assume(representable(obj) and representable(old))
    whole, pruned = both(source, obj, old)
    assert pruned == whole


@pytest.mark.parametrize(
    ("source", "reached"),
    [
        ("object.metadata.name == 'a'", False),
        ("has(object.metadata) && has(object.metadata.labels)", False),
        ("object.spec.containers.all(c, has(c.securityContext))", False),
        ("oldObject.metadata.managedFields.size() > 0", False),
        ("has(object.metadata.managedFields)", True),
        ("size(object.metadata.managedFields) > 0", True),
        ("object.metadata.managedFields[0].manager == 'kubelet'", True),
        ("object.metadata['managedFields'] != []", True),
        ("object.metadata.all(key, key != 'x')", True),
        ("object.metadata.exists(key, true)", True),
        ("size(object.metadata) > 2", True),
        ("object == oldObject", True),
        ("[object].all(o, has(o.metadata.name))", True),
    ],
)
def test_whether_a_program_can_read_managed_fields(source: str, reached: bool) -> None:
    reads = compile_expression(source).reads
    assert reaches(reads.get("object", Need.PRESENT), ("metadata", "managedFields")) is reached


def without(value: Any, keys: tuple[str, ...]) -> Any:
    """A copy of `value` without what lies at `keys` (map keys), if anything does."""
    if not isinstance(value, dict) or keys[0] not in value:
        return value
    if len(keys) == 1:
        return {key: item for key, item in value.items() if key != keys[0]}
    return {**value, keys[0]: without(value[keys[0]], keys[1:])}


# Random expressions over random objects: a value the expression cannot reach can be left out.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions(), obj=objects, old=objects, keys=st.sampled_from([("a", "b"), ("a",)]))
def test_a_value_out_of_reach_can_be_left_out(
    source: str, obj: Any, old: Any, keys: tuple[str, ...]
) -> None:
    try:
        program = compile_expression(source)
    except CELCompileError:
        return
    assume(representable(obj) and representable(old))
    if reaches(program.reads.get("object", Need.PRESENT), keys):
        return
    variables = {**dict.fromkeys(VARIABLES), "oldObject": old}
    whole = outcome(program, Activation.of({**variables, "object": obj}))
    assert outcome(program, Activation.of({**variables, "object": without(obj, keys)})) == whole

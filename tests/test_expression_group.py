"""The CEL rules of a policy set that may run on one request share one activation holding the
union of what they read, with the results each rule has on its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import pod_spec, request, wrap
from webhook.cel import compile_expression
from webhook.celpaths import Need, describe, union
from webhook.checks.base import EvaluationContext
from webhook.checks.expression import expression_check
from webhook.checks.expression_group import ExpressionGroup
from webhook.engine import build_context, evaluate
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set

POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: %(name)s}
spec:
  match: {kinds: [%(kinds)s]}
  rules:
%(rules)s
"""
RULE = """\
    - name: r%(index)d
      expression: "%(expression)s"
      message: "{kind} {name} r%(index)d"
"""


def policy(name: str, kinds: str, *expressions: str) -> str:
    rules = "".join(
        RULE % {"index": index, "expression": text} for index, text in enumerate(expressions)
    )
    return POLICY % {"name": name, "kinds": kinds, "rules": rules}


def activations(context: EvaluationContext) -> list[Any]:
    return [key for key in context.memo if isinstance(key, tuple) and key[0] == "cel"]


def run_all(policies: PolicySet, obj: dict[str, Any]) -> tuple[list[Any], EvaluationContext]:
    """Every rule of `policies` run on one context, as the engine runs them."""
    context = build_context(request(obj))
    results = [rule.check.run(context) for compiled in policies.policies for rule in compiled.rules]
    return results, context


@pytest.mark.parametrize(
    ("first", "second", "both"),
    [
        (
            "object.metadata.name == ''",
            "has(object.metadata.labels)",
            "{'metadata':{'labels':?,'name':*}}",
        ),
        ("has(object.spec.x)", "object.spec.x.y == 1", "{'spec':{'x':{'y':*}}}"),
        (
            "object.spec.c.all(c, c.a == 1)",
            "object.spec.c.all(c, c.b == 1)",
            "{'spec':{'c':{}[{'a':*,'b':*}]}}",
        ),
        ("object.spec.c.all(c, c.a == 1)", "size(object.spec.c) > 1", "{'spec':{'c':*}}"),
        (
            "object.spec.c.all(c, c.a == 1)",
            "object.spec.c.x == 1",
            "{'spec':{'c':{'x':*}[{'a':*}]}}",
        ),
        ("object.kind == ''", "dyn(object) != null", "*"),
    ],
)
def test_union_of_what_two_rules_read(first: str, second: str, both: str) -> None:
    one, other = (compile_expression(text).reads["object"] for text in (first, second))
    assert describe(union(one, other)) == both
    assert union(Need.PRESENT, one) == one


def test_rules_on_one_kind_share_one_activation(policy_set: Callable[[str], PolicySet]) -> None:
    policies = policy_set(
        policy("a", "Pod", "object.metadata.name != ''", "!has(object.spec.hostAliases)")
        + "---\n"
        + policy("b", "Pod", "object.spec.containers.all(c, c.image != '')")
    )
    results, context = run_all(policies, wrap("Pod", pod_spec()))
    assert results == [[], [], []]
    assert len(activations(context)) == 1


def test_rule_reading_the_whole_object_keeps_its_own(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(
        policy("a", "Pod", "object.metadata.name != ''", "dyn(object).kind == 'Pod'")
    )
    results, context = run_all(policies, wrap("Pod", pod_spec()))
    assert results == [[], []]
    assert len(activations(context)) == 2


def test_pod_rules_on_a_workload_share_one_and_workload_rules_another(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(
        policy("pods", "Pod", "object.kind == 'Pod'", "!has(object.spec.hostAliases)")
        + "---\n"
        + policy("deployments", "apps/Deployment", "object.kind == 'Deployment'")
        + "---\n"
        + policy("services", "Service", "object.spec.type != 'NodePort'")
    )
    results, context = run_all(policies, wrap("Deployment", pod_spec()))
    assert results[:3] == [[], [], []]
    keys = activations(context)
    # The Pod view, the Deployment, and the Service rule, run here though its policy does not
    # select Deployments (the engine would skip it), on its own.
    assert len(keys) == 3
    assert sorted(key[1] for key in keys) == [False, True, True]


# Any rules on any object: each result is the one the rule has alone in its policy set.
RULES = [
    "object.metadata.name.startsWith('d')",
    "has(object.metadata.labels) && 'app' in object.metadata.labels",
    "object.spec.containers.all(c, has(c.securityContext))",
    "object.spec.containers.exists(c, c.image.endsWith(':1.0'))",
    "!has(object.spec.hostNetwork) || object.spec.hostNetwork == false",
    "object.spec.containers.map(c, c.name).all(n, n != '')",
    "dyn(object).kind != ''",
    "object.spec.replicas >= 2",
    "request.operation == 'CREATE' && object.metadata.namespace == 'default'",
    "params.limit > 1",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chosen=st.lists(
        st.tuples(st.sampled_from(RULES), st.sampled_from(["Pod", "apps/Deployment", "'*'"])),
        min_size=1,
        max_size=5,
    ),
    kind=st.sampled_from(["Pod", "Deployment"]),
    labels=st.none() | st.just({"app": "web"}),
)
def test_shared_results_equal_results_alone(
    chosen: list[tuple[str, str]], kind: str, labels: dict[str, str] | None, tmp_path_factory: Any
) -> None:
    directory = tmp_path_factory.mktemp("policies")
    texts = []
    for index, (expression, kinds) in enumerate(chosen):
        text = policy(f"p{index}", kinds, expression)
        text = text.replace("  rules:", "  params: {limit: 3}\n  rules:")
        texts.append(text)
        (directory / f"p{index}.yaml").write_text(text)
    together = load_policy_set([directory])
    obj = wrap(kind, pod_spec(), labels=labels)
    shared = [(f.policy, f.result, f.message) for f in evaluate(request(obj), together)]
    alone: list[tuple[str, Any, str]] = []
    for index in range(len(texts)):
        single = load_policy_set([directory / f"p{index}.yaml"])
        alone.extend((f.policy, f.result, f.message) for f in evaluate(request(obj), single))
    assert shared == alone


def test_a_rule_added_after_a_request_widens_what_the_activation_holds() -> None:
    # `check` and the policy tests may evaluate rules while a set is still being built: what
    # a rule remembered of its activation per kind is forgotten when another rule joins.
    group = ExpressionGroup()
    pod = wrap("Pod", pod_spec(), labels={"team": "a"})
    first = expression_check(compile_expression("object.metadata.name != ''"), "m", (), {}, group)
    context = build_context(request(pod))
    assert first.run(context) == []
    assert activations(context) == [("cel", False, None, "object={'metadata':{'name':*}}")]
    second = expression_check(
        compile_expression("'team' in object.metadata.labels"), "m", (), {}, group
    )
    context = build_context(request(pod))
    assert first.run(context) == second.run(context) == []
    assert activations(context) == [
        ("cel", False, None, "object={'metadata':{'labels':*,'name':*}}")
    ]


@pytest.mark.parametrize(
    ("source", "free"),
    [
        ("!has(object.spec.hostAliases)", True),
        ("!has(object.data) || object.data.size() <= 200", True),
        ("object.spec.type != 'NodePort'", False),  # the string compared may be long
        ("object.spec.c.all(c, has(c.a))", False),  # the list may be long
    ],
)
def test_rules_whose_cost_bound_is_a_constant_skip_the_check(source: str, free: bool) -> None:
    assert compile_expression(source).cost_free is free

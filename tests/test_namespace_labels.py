"""Namespace labels in the engine: selectors on known labels, and what unknown labels decide."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import DATA
from tests.helpers import pod_spec, request, wrap
from webhook.decision import decide
from webhook.engine import build_context, evaluate, plan_lookups
from webhook.findings import Mode, Result
from webhook.mutation import apply_mutations
from webhook.policy.compiled import PolicySet
from webhook.policy.matching import Match, UnknownLabels, compile_match
from webhook.policy.model import LabelSelector, MatchBlock

UNKNOWN = UnknownLabels("shop", "the Kubernetes API did not answer within 0.5s")
READ_ONLY = {"securityContext": {"readOnlyRootFilesystem": True}}


def policy(mode: str, selector: str, *, where: str = "match") -> str:
    return f"""
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {{name: scoped}}
spec:
  mode: {mode}
  match: {{kinds: [Pod]}}
  {where}: {{kinds: [Pod], namespaceSelector: {selector}}}
  rules:
    - {{name: read-only-root, check: readOnlyRootFilesystem}}
"""


def results(findings: list) -> list[Result]:  # type: ignore[type-arg]
    return [finding.result for finding in findings]


def pod(*, compliant: bool = False, namespace: str = "shop") -> dict:  # type: ignore[type-arg]
    return wrap("Pod", pod_spec(**(READ_ONLY if compliant else {})), namespace=namespace)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("{matchLabels: {env: prod}}", {"env": "prod"}, [Result.FAIL]),
        ("{matchLabels: {env: prod}}", {"env": "dev"}, []),
        ("{matchExpressions: [{key: team, operator: Exists}]}", {"team": "a"}, [Result.FAIL]),
        ("{matchExpressions: [{key: team, operator: Exists}]}", {}, []),
        (
            "{matchExpressions: [{key: env, operator: In, values: [a, b]}]}",
            {"env": "b"},
            [Result.FAIL],
        ),
        ("{matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}", {}, [Result.FAIL]),
        ("{matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}", {"env": "dev"}, []),
        ("{matchExpressions: [{key: team, operator: DoesNotExist}]}", {}, [Result.FAIL]),
        ("{matchExpressions: [{key: team, operator: DoesNotExist}]}", {"team": "a"}, []),
    ],
)
def test_selectors_on_known_labels(
    policy_set: Callable[[str], PolicySet],
    selector: str,
    labels: dict[str, str],
    expected: list[Result],
) -> None:
    findings = evaluate(
        request(pod()), policy_set(policy("enforce", selector)), namespace_labels=labels
    )
    assert results(findings) == expected


SELECTORS = [
    "{matchLabels: {env: prod}}",
    "{matchExpressions: [{key: team, operator: Exists}]}",
    "{matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}",
    "{matchExpressions: [{key: team, operator: DoesNotExist}]}",
]


@pytest.mark.parametrize("selector", SELECTORS)
def test_unknown_labels_deny_in_enforce_mode_only_when_the_rule_fails(
    policy_set: Callable[[str], PolicySet], selector: str
) -> None:
    policies = policy_set(policy("enforce", selector))
    failing = evaluate(request(pod()), policies, namespace_labels=UNKNOWN)
    (finding,) = failing
    assert finding.result is Result.ERROR
    assert finding.message.startswith(
        "cannot tell whether this rule applies: the labels of namespace shop are unknown "
        "(the Kubernetes API did not answer within 0.5s); if it applies, it fails: "
    )
    assert "readOnlyRootFilesystem" in finding.message
    assert finding.path.endswith("/readOnlyRootFilesystem")
    assert decide(failing).allowed is False
    # Applying or not, a compliant Pod is admitted: the labels do not matter.
    passing = evaluate(request(pod(compliant=True)), policies, namespace_labels=UNKNOWN)
    assert results(passing) == [Result.PASS]
    assert decide(passing).allowed is True


@pytest.mark.parametrize(("mode", "effect"), [("warn", "warnings"), ("audit", "audits")])
def test_unknown_labels_warn_or_audit_in_those_modes(
    policy_set: Callable[[str], PolicySet], mode: str, effect: str
) -> None:
    findings = evaluate(
        request(pod()), policy_set(policy(mode, SELECTORS[0])), namespace_labels=UNKNOWN
    )
    decision = decide(findings)
    assert decision.allowed is True
    (finding,) = getattr(decision, effect)
    assert (finding.mode, finding.result) == (Mode(mode), Result.ERROR)
    assert "labels of namespace shop are unknown" in finding.message


def test_an_exclude_that_depends_on_unknown_labels_fails_closed(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(policy("enforce", "{matchLabels: {tier: sandbox}}", where="exclude"))
    assert results(evaluate(request(pod()), policies, namespace_labels={"tier": "sandbox"})) == []
    assert results(evaluate(request(pod()), policies, namespace_labels={})) == [Result.FAIL]
    assert results(evaluate(request(pod()), policies, namespace_labels=UNKNOWN)) == [Result.ERROR]


def test_other_criteria_decide_without_the_labels(policy_set: Callable[[str], PolicySet]) -> None:
    text = policy("enforce", SELECTORS[0]).replace(
        "match: {kinds: [Pod], namespaceSelector",
        "match: {kinds: [Pod], namespaces: [team-*], namespaceSelector",
    )
    findings = evaluate(request(pod(namespace="shop")), policy_set(text), namespace_labels=UNKNOWN)
    assert findings == []  # the namespace name already rules the policy out


def test_an_empty_selector_needs_no_labels(policy_set: Callable[[str], PolicySet]) -> None:
    policies = policy_set(policy("enforce", "{}"))
    assert results(evaluate(request(pod()), policies, namespace_labels=UNKNOWN)) == [Result.FAIL]
    assert policies.needs_namespace_labels("Pod", "CREATE") is False


def test_policies_without_selectors_ignore_unknown_labels(
    policy_set: Callable[[str], PolicySet],
) -> None:
    text = policy("enforce", "{}").replace(", namespaceSelector: {}", "")
    policies = policy_set(text)
    assert results(evaluate(request(pod()), policies, namespace_labels=UNKNOWN)) == [Result.FAIL]


RULE_LEVEL = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: rule-level}
spec:
  match: {kinds: [Pod]}
  rules:
    - name: read-only-root
      check: readOnlyRootFilesystem
      match: {namespaceSelector: {matchLabels: {env: prod}}}
    - {name: run-as-non-root, check: nonRoot}
"""


def test_a_rule_level_selector_makes_only_that_rule_undecided(
    policy_set: Callable[[str], PolicySet],
) -> None:
    findings = evaluate(request(pod()), policy_set(RULE_LEVEL), namespace_labels=UNKNOWN)
    assert [(f.rule, f.result) for f in findings] == [
        ("read-only-root", Result.ERROR),
        ("run-as-non-root", Result.FAIL),
    ]


NAMESPACE_CEL = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: cel}
spec:
  match: {kinds: [ConfigMap]}
  rules:
    - name: team-matches
      expression: "object.metadata.labels.team == namespaceObject.metadata.labels.team"
      message: "{kind} {name} needs the team label of its namespace"
    - name: has-labels
      expression: "has(object.metadata.labels)"
      message: "{kind} {name} needs labels"
"""


def test_cel_reading_namespace_object_is_an_error_with_unknown_labels(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(NAMESPACE_CEL)
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop", "labels": {"team": "a"}},
    }
    known = evaluate(request(config), policies, namespace_labels={"team": "a"})
    assert results(known) == [Result.PASS, Result.PASS]
    unknown = evaluate(request(config), policies, namespace_labels=UNKNOWN)
    assert results(unknown) == [Result.ERROR, Result.PASS]
    assert unknown[0].message == (
        "ConfigMap c needs the team label of its namespace (not evaluated: "
        "the labels of namespace shop are unknown (the Kubernetes API did not answer within 0.5s))"
    )
    assert policies.needs_namespace_labels("ConfigMap", "CREATE") is True
    assert policies.needs_namespace_labels("ConfigMap", "DELETE") is False  # no candidate


EXCEPTIONS = """
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: by-selector}
spec:
  policies: [{name: scoped}]
  match: {kinds: [Pod], namespaceSelector: {matchLabels: {legacy: "true"}}}
  owner: team-a
  reason: legacy namespaces
  expires: 2099-01-01
---
apiVersion: policy-webhook.dev/v1alpha1
kind: PolicyException
metadata: {name: by-name}
spec:
  policies: [{name: scoped}]
  match: {kinds: [Pod], names: [waived-*]}
  owner: team-a
  reason: a known case
  expires: 2099-01-01
"""


def test_exceptions_waive_only_what_they_certainly_cover(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(policy("enforce", SELECTORS[0]) + "---" + EXCEPTIONS)
    today = date(2030, 1, 1)
    plain = evaluate(request(pod()), policies, namespace_labels=UNKNOWN, today=today)
    assert results(plain) == [Result.ERROR]  # the selector exception may not apply
    known = evaluate(
        request(pod()), policies, namespace_labels={"env": "prod", "legacy": "true"}, today=today
    )
    assert results(known) == [Result.WAIVED]
    named = wrap("Pod", pod_spec(), name="waived-1", namespace="shop")
    by_name = evaluate(request(named), policies, namespace_labels=UNKNOWN, today=today)
    assert results(by_name) == [Result.WAIVED]
    assert policies.needs_namespace_labels("Pod", "CREATE") is True


MUTATING = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: prod-defaults}
spec:
  match: {kinds: [Pod], namespaceSelector: {matchLabels: {env: prod}}}
  rules:
    - {name: read-only-root, check: readOnlyRootFilesystem}
  mutate:
    - name: read-only
      defaults: {containers: {securityContext: {readOnlyRootFilesystem: true}}}
"""


@pytest.mark.parametrize(
    ("labels", "applied"),
    [({"env": "prod"}, ["prod-defaults/read-only"]), ({}, []), (UNKNOWN, [])],
)
def test_defaults_are_set_only_where_the_policy_certainly_applies(
    policy_set: Callable[[str], PolicySet], labels: Mapping[str, str], applied: list[str]
) -> None:
    _, names = apply_mutations(request(pod()), policy_set(MUTATING), namespace_labels=labels)
    assert names == applied


def test_lookups_are_planned_for_rules_that_may_apply(
    policy_set: Callable[[str], PolicySet],
) -> None:
    key = json.dumps((DATA / "cosign" / "keys" / "bob.pub").read_text())
    policies = policy_set(
        f"""
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {{name: signed}}
spec:
  match: {{kinds: [Pod], namespaceSelector: {{matchLabels: {{env: prod}}}}}}
  rules:
    - name: signed
      check: imageSignatures
      with: {{keys: [{{name: bob, pem: {key}}}]}}
"""
    )
    for labels, planned in (({"env": "prod"}, 1), ({}, 0), (UNKNOWN, 1)):
        context = build_context(request(pod()), namespace_labels=labels)
        assert len(plan_lookups(context, policies)) == planned


@pytest.mark.parametrize(
    ("first", "second", "both"),
    [
        (Match.YES, Match.YES, Match.YES),
        (Match.YES, Match.NO, Match.NO),
        (Match.NO, Match.UNKNOWN, Match.NO),
        (Match.UNKNOWN, Match.YES, Match.UNKNOWN),
        (Match.UNKNOWN, Match.UNKNOWN, Match.UNKNOWN),
    ],
)
def test_match_states_combine_like_three_valued_logic(
    first: Match, second: Match, both: Match
) -> None:
    assert first & second is both
    assert second & first is both
    assert ~~first is first


LABEL_KEYS = st.sampled_from(["env", "team", "tier"])
LABEL_VALUES = st.sampled_from(["a", "b", "prod"])
REQUIREMENTS = st.builds(
    lambda key, operator, values: {
        "key": key,
        "operator": operator,
        "values": values if operator in ("In", "NotIn") else [],
    },
    LABEL_KEYS,
    st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
    st.lists(LABEL_VALUES, min_size=1, max_size=2),
)
SELECTOR_DOCUMENTS = st.fixed_dictionaries(
    {
        "matchLabels": st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2),
        "matchExpressions": st.lists(REQUIREMENTS, max_size=3),
    }
)


@given(
    selector=SELECTOR_DOCUMENTS,
    labels=st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=3),
    namespaced=st.booleans(),
)
def test_unknown_labels_never_give_an_answer_real_labels_could_contradict(
    selector: dict[str, Any], labels: dict[str, str], namespaced: bool
) -> None:
    block = MatchBlock(kinds=["Pod"], namespaceSelector=LabelSelector.model_validate(selector))
    matcher = compile_match(block, policy_level=True, expand_pods=False)
    subject = request(pod(namespace="shop" if namespaced else ""))
    known = matcher.decide(subject, "", "Pod", labels)
    assert known is not Match.UNKNOWN
    unknown = matcher.decide(subject, "", "Pod", UNKNOWN)
    assert unknown in (known, Match.UNKNOWN)
    if unknown is Match.UNKNOWN:
        assert namespaced and (selector["matchLabels"] or selector["matchExpressions"])

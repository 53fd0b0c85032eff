from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import pod_spec, request, wrap
from webhook.engine import evaluate
from webhook.errors import PolicySetError
from webhook.findings import Finding
from webhook.policy.compiled import PolicySet

POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: resources}
spec:
  match: {kinds: [Pod]}
  rules:
    - name: r
      check: resources
      with: WITH
"""


def failed(policies: PolicySet, resources: dict[str, dict[str, str]]) -> list[Finding]:
    spec = pod_spec(resources=resources)
    spec["initContainers"] = [
        {"name": "migrate", "image": "reg.example.com/migrate:2", "resources": resources}
    ]
    return [f for f in evaluate(request(wrap("Deployment", spec)), policies) if f.failed]


@pytest.mark.parametrize(
    ("params", "resources", "messages"),
    [
        (
            "{requests: [cpu, ephemeral-storage], limits: [ephemeral-storage]}",
            {"requests": {"cpu": "100m"}},
            ["no request for ephemeral-storage", "no limit for ephemeral-storage"],
        ),
        (
            "{requests: [], limits: [], max: {memory: 1Gi}}",
            {"limits": {"memory": "2Gi"}},
            ["limits memory 2Gi, more than the maximum 1Gi"],
        ),
        (
            "{requests: [], limits: [], max: {cpu: '2'}}",
            {"requests": {"cpu": "2500m"}},
            ["requests cpu 2500m, more than the maximum 2"],
        ),
        (
            "{requests: [], limits: [], maxLimitRequestRatio: {cpu: '4'}}",
            {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
            ["cpu limit is 10x its request, more than the maximum ratio 4"],
        ),
        (
            "{requests: [], limits: [], maxLimitRequestRatio: {cpu: '4'}}",
            {"requests": {"cpu": "0"}, "limits": {"cpu": "1"}},
            ["cpu limit is unbounded (its request is 0)"],
        ),
        (
            "{requests: [], limits: [], maxLimitRequestRatio: {memory: '2'}}",
            {"limits": {"memory": "1Gi"}},  # the request defaults to the limit
            [],
        ),
        (
            "{requests: [nvidia.com/gpu], limits: [hugepages-2Mi]}",
            {"requests": {"nvidia.com/gpu": "1"}, "limits": {"hugepages-2Mi": "64Mi"}},
            [],
        ),
    ],
)
def test_resource_rules(
    policy_set: Callable[[str], PolicySet],
    params: str,
    resources: dict[str, dict[str, str]],
    messages: list[str],
) -> None:
    found = failed(policy_set(POLICY.replace("WITH", params)), resources)
    # Init containers are held to the same rules as containers.
    assert sorted({str(f.container) for f in found}) == (["app", "migrate"] if messages else [])
    for message in messages:
        assert any(message in f.message for f in found if f.container == "migrate"), found


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ("{requests: [memroy]}", "'memroy' is not a resource name"),
        ("{maxLimitRequestRatio: {cpu: '0.5'}}", "below 1 can never be met"),
        ("{max: {memory: lots}}", "memory: 'lots' is not a quantity"),
        ("{max: {memory: '0'}}", "must be greater than zero"),
        ("{requests: [], limits: []}", "nothing to check"),
    ],
)
def test_bad_parameters_fail_to_load(
    policy_set: Callable[[str], PolicySet], params: str, reason: str
) -> None:
    with pytest.raises(PolicySetError) as caught:
        policy_set(POLICY.replace("WITH", params))
    assert reason in str(caught.value)
    assert "rule 'r' (resources)" in str(caught.value)


def test_a_missing_extended_resource_is_pointed_at_with_its_slash_escaped(
    policy_set: Callable[[str], PolicySet],
) -> None:
    policies = policy_set(POLICY.replace("WITH", "{requests: [example.com/gpu], limits: []}"))
    found = failed(policies, {"requests": {"cpu": "1"}})
    assert sorted(f.path for f in found) == [
        "/spec/template/spec/containers/0/resources/requests/example.com~1gpu",
        "/spec/template/spec/initContainers/0/resources/requests/example.com~1gpu",
    ]

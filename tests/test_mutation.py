"""Mutation defaults: set where missing, never overwrite, idempotent, never make objects invalid."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonpatch
import pytest

from tests.helpers import pod_spec, request, wrap
from webhook.errors import PolicySetError
from webhook.mutation import apply_mutations
from webhook.patches import build_patch
from webhook.policy.compiled import PolicySet

JSONObject = dict[str, Any]
DEFAULTS = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: defaults}
spec:
  match: {kinds: [Pod]}
  mutate:
    - name: resources
      defaults:
        containers:
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
    - name: security
      defaults:
        pod:
          securityContext: {seccompProfile: {type: RuntimeDefault}}
        containers:
          securityContext: {runAsNonRoot: true, capabilities: {drop: [ALL]}}
"""


@pytest.fixture
def policies(policy_set: Callable[[str], PolicySet]) -> PolicySet:
    return policy_set(DEFAULTS)


def containers(obj: JSONObject) -> list[JSONObject]:
    spec = obj["spec"]["template"]["spec"] if obj["kind"] != "Pod" else obj["spec"]
    result: list[JSONObject] = spec["containers"]
    return result


def test_defaults_fill_what_is_missing(policies: PolicySet) -> None:
    obj = wrap("Deployment", pod_spec())
    original = copy.deepcopy(obj)
    mutated, applied = apply_mutations(request(obj), policies)
    assert applied == ["defaults/resources", "defaults/security"]
    assert obj == original  # the request's object is not modified
    assert mutated is not None
    (container,) = containers(mutated)
    assert container["resources"]["limits"] == {"memory": "256Mi"}
    assert container["securityContext"] == {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    assert mutated["spec"]["template"]["spec"]["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"}
    }


def test_what_the_author_set_is_kept(policies: PolicySet) -> None:
    spec = pod_spec(
        resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        securityContext={"runAsNonRoot": False, "capabilities": {"drop": ["NET_RAW"]}},
    )
    spec["securityContext"] = {"seccompProfile": {"type": "Localhost"}}
    obj = wrap("Pod", spec)
    mutated, applied = apply_mutations(request(obj), policies)
    assert mutated == obj
    assert applied == []


def test_null_counts_as_missing(policies: PolicySet) -> None:
    obj = wrap("Pod", pod_spec(resources=None))
    mutated, _ = apply_mutations(request(obj), policies)
    assert mutated is not None
    assert containers(mutated)[0]["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}


def test_a_default_limit_below_the_authors_request_is_left_out(policies: PolicySet) -> None:
    obj = wrap("Pod", pod_spec(resources={"requests": {"memory": "1Gi"}}))
    mutated, applied = apply_mutations(request(obj), policies)
    assert mutated is not None
    resources = containers(mutated)[0]["resources"]
    assert resources == {"requests": {"memory": "1Gi", "cpu": "100m"}}
    assert "defaults/resources" in applied


def test_init_containers_get_defaults_and_ephemeral_ones_do_not(policies: PolicySet) -> None:
    spec = pod_spec()
    spec["initContainers"] = [{"name": "setup", "image": "reg.example.com/setup:1"}]
    spec["ephemeralContainers"] = [{"name": "debug", "image": "reg.example.com/debug:1"}]
    mutated, _ = apply_mutations(request(wrap("Pod", spec)), policies)
    assert mutated is not None
    assert "resources" in mutated["spec"]["initContainers"][0]
    assert mutated["spec"]["ephemeralContainers"] == spec["ephemeralContainers"]


@pytest.mark.parametrize(
    ("kind", "operation", "changes"),
    [
        ("Pod", "CREATE", True),
        ("Pod", "UPDATE", False),  # a Pod's containers cannot change after creation
        ("Job", "UPDATE", False),  # neither can a Job's template
        ("Deployment", "UPDATE", True),
        ("CronJob", "UPDATE", True),
    ],
)
def test_updates_only_where_the_template_may_change(
    policies: PolicySet, kind: str, operation: str, changes: bool
) -> None:
    obj = wrap(kind, pod_spec())
    old = obj if operation == "UPDATE" else None
    _, applied = apply_mutations(request(obj, operation=operation, old=old), policies)
    assert bool(applied) is changes


def test_subresources_deletes_and_other_kinds_are_not_mutated(policies: PolicySet) -> None:
    obj = wrap("Pod", pod_spec())
    assert apply_mutations(request(obj, sub_resource="status"), policies)[1] == []
    assert apply_mutations(request(None, operation="DELETE", old=obj), policies) == (None, [])
    config = wrap("ConfigMap", {"data": {}})
    assert apply_mutations(request(config), policies) == (config, [])


def test_a_second_round_changes_nothing(policies: PolicySet) -> None:
    obj = wrap("StatefulSet", pod_spec(resources={"requests": {"memory": "1Gi"}}))
    mutated, _ = apply_mutations(request(obj), policies)
    assert mutated is not None
    patch = build_patch(obj, mutated)
    assert patch is not None
    assert jsonpatch.JsonPatch.from_string(patch.decode()).apply(obj) == mutated
    again, applied = apply_mutations(request(mutated), policies)
    assert applied == []
    assert again is mutated


def test_the_patch_is_rooted_at_the_object(policies: PolicySet) -> None:
    obj = wrap("CronJob", pod_spec(securityContext={"runAsNonRoot": True}))
    mutated, _ = apply_mutations(request(obj), policies)
    assert mutated is not None
    patch = build_patch(obj, mutated)
    assert patch is not None
    operations = jsonpatch.JsonPatch.from_string(patch.decode()).patch
    prefix = "/spec/jobTemplate/spec/template/spec"
    assert all(operation["path"].startswith(prefix) for operation in operations)
    assert {
        "op": "add",
        "path": f"{prefix}/containers/0/securityContext/capabilities",
        "value": {"drop": ["ALL"]},
    } in operations


@pytest.mark.parametrize(
    ("defaults", "error"),
    [
        ("{}", "defaults need `pod` or `containers`"),
        ("{volumes: []}", "Extra inputs are not permitted"),
        ("{containers: {resources: {limits: {memory: lots}}}}", "is not a quantity"),
        (
            "{containers: {resources: {requests: {cpu: '2'}, limits: {cpu: '1'}}}}",
            "cpu request is above its limit",
        ),
    ],
)
def test_invalid_defaults_do_not_load(
    policy_set: Callable[[str], PolicySet], defaults: str, error: str
) -> None:
    text = f"""
    apiVersion: policy-webhook.dev/v1alpha1
    kind: Policy
    metadata: {{name: broken}}
    spec:
      mutate:
        - name: defaults
          defaults: {defaults}
    """
    with pytest.raises(PolicySetError, match=error):
        policy_set(text)

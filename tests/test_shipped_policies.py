"""The shipped policies load, describe themselves, and admit the shipped example."""

from __future__ import annotations

from tests.conftest import POLICIES, REPOSITORY
from webhook.cli import main
from webhook.policy.loader import load_policy_set


def test_every_shipped_policy_loads_with_a_description() -> None:
    policies = load_policy_set([POLICIES])
    assert {"require-resources", "image-references", "no-plain-secrets-in-git"} <= set(
        policies.names()
    )
    for policy in policies.policies:
        assert len(policy.description) > 80, f"{policy.name} says too little about itself"


def test_the_example_deployment_passes_every_shipped_policy() -> None:
    example = REPOSITORY / "examples" / "deployment.yaml"
    assert main(["check", "--policies", str(POLICIES), str(example)]) == 0

"""The signature lookup step: which requests need it at all (no matching, no I/O)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import pod_spec, request, wrap
from webhook.lookups import SignatureLookup
from webhook.policy.compiled import PolicySet
from webhook.signatures.verifier import RegistryVerifier

SIGNED = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: supply-chain}
spec:
  match: {kinds: [Pod], operations: [CREATE]}
  rules:
    - {name: non-root, check: nonRoot}
    - name: signed
      check: imageSignatures
      with:
        keyless: [{issuer: "https://issuer.example", subject: "ci@example.com"}]
"""
UNSIGNED = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: baseline}
spec:
  match: {kinds: [Pod]}
  rules:
    - {name: non-root, check: nonRoot}
"""


@pytest.fixture
def lookup() -> SignatureLookup:
    return SignatureLookup(verifier=RegistryVerifier(), budget=10.0)


@pytest.mark.parametrize(
    ("policy", "kind", "operation", "wanted"),
    [
        (SIGNED, "Pod", "CREATE", True),
        (SIGNED, "Pod", "UPDATE", False),  # the policy does not match UPDATE
        (SIGNED, "ConfigMap", "CREATE", False),  # nor ConfigMaps
        (UNSIGNED, "Pod", "CREATE", False),  # no rule looks images up
    ],
)
def test_a_lookup_is_wanted_only_where_a_candidate_rule_looks_images_up(
    policy_set: Callable[[str], PolicySet],
    lookup: SignatureLookup,
    policy: str,
    kind: str,
    operation: str,
    wanted: bool,
) -> None:
    obj = wrap(kind, pod_spec())
    old = obj if operation != "CREATE" else None
    review = request(obj, operation=operation, old=old)
    assert lookup.wanted(review, policy_set(policy)) is wanted


def test_a_lookup_follows_the_set_it_is_asked_about(
    policy_set: Callable[[str], PolicySet], lookup: SignatureLookup
) -> None:
    """A reload serves a new set: what the last set said does not carry over."""
    review = request(wrap("Pod", pod_spec()), operation="CREATE")
    signed, unsigned = policy_set(SIGNED), policy_set(UNSIGNED)
    assert [
        lookup.wanted(review, policies) for policies in (unsigned, signed, signed, unsigned)
    ] == [False, True, True, False]

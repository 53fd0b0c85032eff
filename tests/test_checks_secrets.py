from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from msgspec import structs

from tests.helpers import request
from webhook.engine import evaluate
from webhook.findings import Result
from webhook.policy.compiled import PolicySet
from webhook.review import GroupVersionKind

POLICY = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: secrets}
spec:
  match: {kinds: [core/Secret, bitnami.com/SealedSecret]}
  rules:
    - {name: r, check: secretsInGit}
"""
ENCRYPTED = "ENC[AES256_GCM,data:p673w==,iv:YY=,tag:Qm==,type:str]"
SOPS = {"mac": ENCRYPTED, "lastmodified": "2024-05-01T10:00:00Z", "version": "3.8.1"}


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, **fields}


@pytest.mark.parametrize(
    ("obj", "paths"),
    [
        (secret(data={"password": "aHVudGVyMg=="}), ["/data/password"]),
        (secret(stringData={"tls/key": "x"}), ["/stringData/tls~1key"]),
        (secret(data={"password": ENCRYPTED}, sops=SOPS), []),
        (secret(data={"password": ENCRYPTED, "user": "YWRtaW4="}, sops=SOPS), ["/data/user"]),
        (secret(data={"password": ENCRYPTED}), ["/data/password"]),  # no sops block
        (secret(data={"password": ENCRYPTED}, sops={"version": "3"}), ["/data/password"]),
        (secret(type="kubernetes.io/service-account-token"), []),
    ],
)
def test_plain_data_is_found_offline(
    policy_set: Callable[[str], PolicySet], obj: dict[str, Any], paths: list[str]
) -> None:
    findings = evaluate(request(obj), policy_set(POLICY), offline=True)
    assert [f.path for f in findings if f.failed] == paths
    if paths:
        assert "SealedSecret" in findings[0].message or "SOPS" in findings[0].message


def test_sealed_secret_passes_and_the_webhook_skips(
    policy_set: Callable[[str], PolicySet],
) -> None:
    sealed = {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"encryptedData": {"password": "AgBy3i4OJSWK+PiTySYZZA=="}},
    }
    policies = policy_set(POLICY)
    review = structs.replace(
        request(sealed),
        kind=GroupVersionKind(group="bitnami.com", version="v1alpha1", kind="SealedSecret"),
    )
    assert [f.result for f in evaluate(review, policies, offline=True)] == [Result.PASS]
    plain = request(secret(data={"password": "aHVudGVyMg=="}))
    assert [f.result for f in evaluate(plain, policies, offline=False)] == [Result.SKIP]

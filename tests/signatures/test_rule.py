"""The imageSignatures rule end to end: policy YAML, the engine's lookup step with a real
registry, denial messages, fail-closed timeouts, digest-only mode and digest pinning."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import pod_spec, request, wrap
from tests.signatures.conftest import COSIGN, KEYLESS, REKOR_TEST, SINGLE, TESTIMAGE, TRIPLE
from tests.signatures.oci import Pusher, RegistryServer
from tests.signatures.signing import Layer, payload, public_pem, push_image, push_signatures, sign
from webhook.decision import decide
from webhook.engine import (
    build_context,
    evaluate,
    evaluate_with_lookups,
    gather_lookups,
    plan_lookups,
)
from webhook.errors import PolicySetError
from webhook.findings import Finding, Result
from webhook.pinning import Pin, digest_pins
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.review import AdmissionRequest
from webhook.signatures.api import Outcome, SignatureRequest, SignatureResult, Verifier
from webhook.signatures.verifier import RegistryVerifier


def _policy(directory: Path, rule: str, *, mode: str = "enforce") -> PolicySet:
    keys = directory / "keys"
    keys.mkdir(exist_ok=True)
    for name in ("alice", "bob", "charlie", "default"):
        shutil.copy(COSIGN / "keys" / f"{name}.pub", keys / f"{name}.pub")
    text = f"""
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {{name: signed-images}}
spec:
  mode: {mode}
  match: {{kinds: [Pod]}}
  rules:
    - name: signed
      check: imageSignatures
      with:
{rule}
"""
    path = directory / "policy.yaml"
    path.write_text(text)
    return load_policy_set([path])


def _with(*lines: str) -> str:
    return "\n".join(f"        {line}" for line in lines)


def _evaluate(
    policies: PolicySet, review: AdmissionRequest, verifier: Verifier, *, timeout: float = 10
) -> list[Finding]:
    async def run() -> list[Finding]:
        try:
            return await evaluate_with_lookups(review, policies, verifier=verifier, timeout=timeout)
        finally:
            await verifier.aclose()

    return asyncio.run(run())


def _pod(*images: str) -> AdmissionRequest:
    spec = pod_spec(name="api", image=images[0])
    for index, image in enumerate(images[1:]):
        spec["containers"].append({"name": f"sidecar-{index}", "image": image})
    return request(wrap("Pod", spec, name="api"))


INSECURE = 'registries: {insecure: ["127.0.0.1:*"]}'
JSONObject = dict[str, Any]


def test_signed_by_the_required_keys(registry: RegistryServer, tmp_path: Path) -> None:
    policies = _policy(
        tmp_path,
        _with(
            "keys: [{file: keys/alice.pub}, {file: keys/bob.pub}, {file: keys/charlie.pub}]",
            "required: 2",
            INSECURE,
        ),
    )
    findings = _evaluate(
        policies, _pod(f"{registry.host}/{TESTIMAGE}@{TRIPLE}"), RegistryVerifier()
    )
    assert [f.result for f in findings] == [Result.PASS]


def test_denial_names_container_image_and_what_was_found(
    registry: RegistryServer, tmp_path: Path
) -> None:
    policies = _policy(tmp_path, _with("keys: [{file: keys/default.pub}]", INSECURE))
    image = f"{registry.host}/{TESTIMAGE}@{SINGLE}"
    findings = _evaluate(policies, _pod(image), RegistryVerifier())
    assert [f.result for f in findings] == [Result.FAIL]
    assert findings[0].message == (
        f'container "api" image "{image}" (sha256:071bf7a986f1...) has no signature from the '
        "required keys (found 1 signature, by an unknown key)"
    )
    assert findings[0].path == "/spec/containers/0/image"
    assert not decide(findings).allowed


def test_k_of_n_denial(registry: RegistryServer, tmp_path: Path) -> None:
    policies = _policy(
        tmp_path,
        _with("keys: [{file: keys/alice.pub}, {file: keys/bob.pub}]", "required: 2", INSECURE),
    )
    findings = _evaluate(
        policies, _pod(f"{registry.host}/{TESTIMAGE}@{SINGLE}"), RegistryVerifier()
    )
    assert "has signatures from 1 of the 2 required keys (found 1 signature, by alice)" in (
        findings[0].message
    )


def test_only_matching_images_are_verified(registry: RegistryServer, tmp_path: Path) -> None:
    policies = _policy(
        tmp_path,
        _with(
            'images: ["*/securesystemsengineering/*"]', "keys: [{file: keys/alice.pub}]", INSECURE
        ),
    )
    findings = _evaluate(
        policies,
        _pod(f"{registry.host}/{TESTIMAGE}@{SINGLE}", "docker.io/library/busybox:1.36"),
        RegistryVerifier(),
    )
    assert [f.result for f in findings] == [Result.PASS]


class Silent:
    """A verifier that never answers and ignores its deadline: the engine must not wait."""

    def __init__(self) -> None:
        self.asked: list[SignatureRequest] = []

    async def verify(
        self, requests: Sequence[SignatureRequest], *, timeout: float
    ) -> dict[SignatureRequest, SignatureResult]:
        self.asked.extend(requests)
        await asyncio.Event().wait()
        return {}

    async def aclose(self) -> None:
        return None


def test_verifier_without_answer_fails_closed(tmp_path: Path) -> None:
    policies = _policy(tmp_path, _with("keys: [{file: keys/alice.pub}]"))
    silent = Silent()
    findings = _evaluate(policies, _pod("reg.example.com/api:1.4"), silent, timeout=0.2)
    assert len(silent.asked) == 1
    assert [f.result for f in findings] == [Result.ERROR]
    assert "could not be verified: timed out" in findings[0].message
    assert not decide(findings).allowed


def test_without_lookups_the_rule_fails_closed(tmp_path: Path) -> None:
    policies = _policy(tmp_path, _with("keys: [{file: keys/alice.pub}]"))
    findings = evaluate(_pod("reg.example.com/api:1.4"), policies)
    assert [f.result for f in findings] == [Result.ERROR]
    assert "no answer from the signature verifier" in findings[0].message


def test_require_digest_mode(registry: RegistryServer, tmp_path: Path) -> None:
    policies = _policy(
        tmp_path, _with("keys: [{file: keys/alice.pub}]", "requireDigest: true", INSECURE)
    )
    silent = Silent()
    tagged = _evaluate(policies, _pod(f"{registry.host}/{TESTIMAGE}:1.0"), silent)
    assert silent.asked == []
    assert [f.result for f in tagged] == [Result.FAIL]
    assert "is not pinned by digest" in tagged[0].message
    pinned = _evaluate(policies, _pod(f"{registry.host}/{TESTIMAGE}@{SINGLE}"), RegistryVerifier())
    assert [f.result for f in pinned] == [Result.PASS]


def _signed(pusher: Pusher, repository: str, tag: str, key_file: Path) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    key_file.write_text(public_pem(key))
    digest = push_image(pusher, repository, tag)
    body = payload(f"{pusher.server.host}/{repository}", digest)
    push_signatures(pusher, repository, digest, [Layer(body, sign(key, body))])
    return digest


def test_pin_digest_rewrites_tags_to_the_verified_digest(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    (tmp_path / "keys").mkdir()
    digest = _signed(pusher, "pin/api", "1.4", tmp_path / "keys" / "release.pub")
    policies = _policy(
        tmp_path, _with("keys: [{file: keys/release.pub}]", "pinDigest: true", INSECURE)
    )
    review = _pod(f"{registry.host}/pin/api:1.4", f"{registry.host}/{TESTIMAGE}@{SINGLE}")

    async def run() -> list[Pin]:
        verifier = RegistryVerifier()
        try:
            lookups = await gather_lookups(review, policies, verifier=verifier, timeout=10)
            return digest_pins(review, policies, lookups=lookups)
        finally:
            await verifier.aclose()

    assert asyncio.run(run()) == [
        (
            "signed-images/signed",
            {
                "op": "replace",
                "path": "/spec/containers/0/image",
                "value": f"{registry.host}/pin/api@{digest}",
            },
        )
    ]


def test_pin_digest_leaves_unverified_and_pinned_images(
    registry: RegistryServer, tmp_path: Path
) -> None:
    policies = _policy(
        tmp_path, _with("keys: [{file: keys/alice.pub}]", "pinDigest: true", INSECURE)
    )
    review = _pod(f"{registry.host}/{TESTIMAGE}@{SINGLE}", f"{registry.host}/plain/other:1.0")
    lookups = {
        SignatureRequest(image=image, requirement=r.requirement, registries=r.registries): result
        for image, result in (
            (f"{registry.host}/{TESTIMAGE}@{SINGLE}", SignatureResult(Outcome.VERIFIED, SINGLE)),
            (f"{registry.host}/plain/other:1.0", SignatureResult(Outcome.NOT_SIGNED, TRIPLE)),
        )
        for r in _planned(policies, review)[:1]
    }
    assert digest_pins(review, policies, lookups=lookups) == []


def _planned(policies: PolicySet, review: AdmissionRequest) -> list[SignatureRequest]:
    planned = plan_lookups(build_context(review), policies)
    return [item for item in planned if isinstance(item, SignatureRequest)]


def test_a_replicaset_of_a_hundred_pods_costs_one_lookup(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    (tmp_path / "keys").mkdir()
    _signed(pusher, "scale/web", "2.0", tmp_path / "keys" / "release.pub")
    policies = _policy(tmp_path, _with("keys: [{file: keys/release.pub}]", INSECURE))
    image = f"{registry.host}/scale/web:2.0"
    pods = [
        request(wrap("Pod", pod_spec(name="web", image=image), name=f"web-7d9f8-{index:05d}"))
        for index in range(100)
    ]

    async def admit_all() -> list[list[Finding]]:
        verifier = RegistryVerifier()
        try:
            first = [await evaluate_with_lookups(pods[0], policies, verifier=verifier, timeout=10)]
            rest = await asyncio.gather(
                *(
                    evaluate_with_lookups(pod, policies, verifier=verifier, timeout=10)
                    for pod in pods[1:]
                )
            )
            return first + list(rest)
        finally:
            await verifier.aclose()

    registry.mark()
    results = asyncio.run(admit_all())
    assert all([f.result for f in findings] == [Result.PASS] for findings in results)
    served = registry.requests()
    assert [method for method, _, _ in served].count("HEAD") == 1  # one tag resolution
    assert len(served) <= 5  # and one signature lookup


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (_with("keys: []"), "list at least one signer"),
        (_with("keys: [{file: keys/alice.pub}]", "required: 2"), "only 1 signers are listed"),
        (
            _with("keys: [{file: keys/alice.pub}]", "pinDigest: true", "requireDigest: true"),
            "exclude each other",
        ),
        (_with("keys: [{file: keys/missing.pub}]"), "cannot read key file"),
        (_with('keys: [{pem: "not a key"}]'), "not a PEM public key"),
        (_with("keys: [{file: keys/alice.pub, pem: x}]"), "exactly one of `file` or `pem`"),
        (_with("keyless: [{issuer: https://accounts.google.com}]"), "`subject` or"),
        (
            _with("keys: [{file: keys/alice.pub}]", "trustedRoot: keys/bob.pub"),
            "not a Sigstore trusted root",
        ),
    ],
)
def test_invalid_rules_do_not_load(tmp_path: Path, rule: str, error: str) -> None:
    with pytest.raises(PolicySetError) as raised:
        _policy(tmp_path, rule)
    assert error in str(raised.value)


def test_keyless_rule_with_the_cosign_fixture(registry: RegistryServer, tmp_path: Path) -> None:
    policies = _policy(
        tmp_path,
        _with(
            "keyless:",
            "  - {issuer: https://github.com/login/oauth, subjectRegExp: '^philipp\\.'}",
            "rekor: required",
            INSECURE,
        ),
    )
    image = f"{registry.host}/{REKOR_TEST}@{KEYLESS}"
    findings = _evaluate(policies, _pod(image), RegistryVerifier())
    assert [f.result for f in findings] == [Result.PASS]

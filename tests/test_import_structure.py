"""`check` loads only what it runs: the server stack, the HTTP client, Sigstore and
cryptography are imported by the commands (and the policies) that use them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA, POLICIES, REPOSITORY
from tests.signatures.conftest import key_pem
from tests.signatures.oci import free_port
from webhook.signatures.api import (
    KeySigner,
    Outcome,
    Requirement,
    SignatureRequest,
    SignatureResult,
)
from webhook.signatures.ondemand import OnDemandRegistryVerifier

SERVER_AND_SIGNATURE_STACK = (
    "fastapi",
    "uvicorn",
    "starlette",
    "httpx",
    "sigstore",
    "cryptography",
    "prometheus_client",
    "webhook.server",
    "webhook.app",
    "webhook.tls",
    "webhook.signatures.verifier",
    "webhook.checks.signatures",
    "xml",  # for JUnit reports only
    "asyncio",  # for signature lookups only
)

SIGNED_IMAGES = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: signed-images}
spec:
  match: {kinds: [Deployment]}
  rules:
    - name: signed
      check: imageSignatures
      with:
        keys: [{file: alice.pub}]
"""

PROBE = """
import sys
from webhook.cli import main
code = main(sys.argv[1:])
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in {top}
                      or name in {full})))
raise SystemExit(0 if code in (0, 1) else 3)
"""


def _modules_after(*arguments: str) -> set[str]:
    tops = {name for name in SERVER_AND_SIGNATURE_STACK if "." not in name}
    full = set(SERVER_AND_SIGNATURE_STACK) - tops
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(top=tops, full=full), *arguments],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        check=True,
    )
    return set(completed.stdout.split("\n")[-2].split())


def test_check_does_not_import_the_server_or_signature_stack() -> None:
    manifests = DATA / "manifests" / "GoogleCloudPlatform+microservices-demo"
    arguments = ("check", "--policies", str(POLICIES), "-o", "json", str(manifests))
    assert _modules_after(*arguments) == set()


def test_a_policy_with_image_signatures_imports_only_what_it_needs(tmp_path: Path) -> None:
    (tmp_path / "alice.pub").write_text(key_pem("alice"))
    policy = tmp_path / "signed.yaml"
    policy.write_text(SIGNED_IMAGES)
    manifests = DATA / "manifests" / "GoogleCloudPlatform+microservices-demo"
    arguments = ("check", "--skip-signatures", "--policies", str(policy), str(manifests))
    loaded = _modules_after(*arguments)
    assert {"webhook.checks.signatures", "cryptography"} <= loaded
    assert not loaded & {"httpx", "sigstore", "fastapi", "webhook.signatures.verifier"}


def test_on_demand_verifier_builds_nothing_until_asked() -> None:
    code = (
        "import asyncio, sys\n"
        "from webhook.signatures.ondemand import OnDemandRegistryVerifier\n"
        "verifier = OnDemandRegistryVerifier(request_timeout=1.0)\n"
        "asyncio.run(verifier.aclose())\n"
        "print('httpx' in sys.modules, 'sigstore' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.split() == ["False", "False"]


def test_on_demand_verifier_answers_through_the_registry_verifier() -> None:
    # Nothing listens on the port: the registry verifier behind it says so.
    requirement = Requirement(signers=(KeySigner(name="alice", pem=key_pem("alice")),))
    request = SignatureRequest(f"127.0.0.1:{free_port()}/team/api:1.4", requirement)
    verifier = OnDemandRegistryVerifier(request_timeout=1.0)

    async def ask() -> dict[SignatureRequest, SignatureResult]:
        try:
            return await verifier.verify([request], timeout=5.0)
        finally:
            await verifier.aclose()

    assert asyncio.run(ask())[request].outcome is Outcome.UNREACHABLE

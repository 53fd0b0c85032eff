"""`check` loads only what it runs: the server stack, the HTTP client, Sigstore and
cryptography are imported by the commands (and the policies) that use them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, POLICIES, REPOSITORY
from tests.signatures.conftest import key_pem
from tests.signatures.oci import free_port
from webhook.cli import build_parser
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
    "webhook.settings",  # serve's
    "webhook.impact",  # diff's
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


@pytest.mark.parametrize("command", ["check", "serve", "diff", "test", "certs"])
def test_a_parser_for_one_command_lists_them_all_and_parses_it(command: str) -> None:
    chosen, full = build_parser(only=command), build_parser()
    assert chosen.format_help() == full.format_help()
    sample = {
        "check": ["check", "-o", "json", "manifests/"],
        "serve": ["serve", "--port", "8443"],
        "diff": ["diff", "--base", "a", "--head", "b", "m/"],
        "test": ["test", "policies/"],
        "certs": ["certs", "--service", "s", "--namespace", "n", "--out", "d"],
    }[command]
    assert vars(chosen.parse_args(sample)) == vars(full.parse_args(sample))


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


WORKER_PROBE = """
import asyncio, sys
from pathlib import Path
from webhook import server
from webhook.metrics import Metrics
from webhook.policy.loader import load_policy_set
from webhook.reload import PolicyReloader, policy_fingerprint
from webhook.settings import Settings
from webhook.store import PolicyStore

policies, certificates, added = (Path(item) for item in sys.argv[1:4])
chosen = Settings(
    policies=(policies,), tls_cert=certificates / "tls.crt", tls_key=certificates / "tls.key"
)
initial = load_policy_set(chosen.policies)
loaded_from = policy_fingerprint(chosen.policies)
server.build_worker(chosen, initial=initial, loaded_from=loaded_from, in_flight=lambda: 0)
stacks = ("sigstore", "httpx", "webhook.signatures.verifier", "fastapi")
print(" ".join(name for name in stacks if name in sys.modules))
store = PolicyStore(initial)
reloader = PolicyReloader(
    paths=chosen.policies, store=store, metrics=Metrics(), prepare=server.prepare_lookups
)
added.rename(policies / added.name)
assert asyncio.run(reloader.check())
print(" ".join(name for name in stacks if name in sys.modules))
"""


def _worker_modules(tmp_path: Path, *policies: tuple[str, str]) -> tuple[set[str], set[str]]:
    """What a built worker imported, and what it imported once a reload added a policy with
    image signatures (the last of `policies` is the one added)."""
    from tests.webhook_server import write_certificates

    directory = tmp_path / "policies"
    directory.mkdir()
    (directory / "alice.pub").write_text(key_pem("alice"))
    *served, (added_name, added_text) = policies
    for name, text in served:
        (directory / name).write_text(text)
    added = tmp_path / added_name
    added.write_text(added_text)
    write_certificates(tmp_path / "certs")
    completed = subprocess.run(
        [sys.executable, "-c", WORKER_PROBE, str(directory), str(tmp_path / "certs"), str(added)],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    before, after = completed.stdout.split("\n")[-3:-1]
    return set(before.split()), set(after.split())


UNSIGNED = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: named}
spec:
  match: {kinds: [Pod]}
  rules:
    - name: short-names
      expression: "object.metadata.name.size() <= 63"
      message: "{kind} {name}: a name of at most 63 characters"
"""


def test_a_worker_without_signature_rules_or_kube_api_imports_no_http_or_sigstore(
    tmp_path: Path,
) -> None:
    before, after = _worker_modules(
        tmp_path, ("named.yaml", UNSIGNED), ("signed.yaml", SIGNED_IMAGES)
    )
    assert before == set()
    # A reload that adds a signature rule imports the verifier before the new set is served.
    assert after == {"sigstore", "httpx", "webhook.signatures.verifier"}


def test_a_worker_with_signature_rules_has_the_verifier_imported_before_serving(
    tmp_path: Path,
) -> None:
    before, _ = _worker_modules(tmp_path, ("signed.yaml", SIGNED_IMAGES), ("named.yaml", UNSIGNED))
    assert before == {"sigstore", "httpx", "webhook.signatures.verifier"}

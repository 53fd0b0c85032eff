"""A real docker-registry for the session, holding cosign's own signatures (tests/data/cosign)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.signatures.oci import Pusher, RegistryServer, start_registry
from webhook.signatures.api import (
    KeySigner,
    RegistryOptions,
    RekorPolicy,
    Requirement,
    SignatureRequest,
    SignatureResult,
    Signer,
)
from webhook.signatures.verifier import RegistryVerifier

COSIGN = DATA / "cosign"
TESTIMAGE = "securesystemsengineering/testimage"
REKOR_TEST = "phbelitz/rekor-test"
SINGLE = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81"  # alice
TRIPLE = "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533"  # a, b, c
KEYLESS = "sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee"


def key_pem(name: str) -> str:
    return (COSIGN / "keys" / f"{name}.pub").read_text()


def upload_cosign_fixtures(pusher: Pusher) -> None:
    """Upload every fixture blob and signature manifest, as the conformance README says."""
    owners = {SINGLE: TESTIMAGE, TRIPLE: TESTIMAGE, KEYLESS: REKOR_TEST}
    for digest, repository in owners.items():
        for blob in sorted((COSIGN / "testimage" / "blobs").iterdir()):
            pusher.blob(repository, blob.read_bytes())
        tag = digest.replace(":", "-") + ".sig"
        content = (COSIGN / "testimage" / "manifests" / f"{tag}.json").read_bytes()
        pusher.manifest(repository, tag, content, json.loads(content)["mediaType"])


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(Path(tmp_path_factory.mktemp("registry")))
    uploader = Pusher(server)
    upload_cosign_fixtures(uploader)
    uploader.close()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pusher(registry: RegistryServer) -> Iterator[Pusher]:
    client = Pusher(registry)
    yield client
    client.close()


INSECURE = RegistryOptions(insecure=("127.0.0.1:*",))


def requirement(
    *signers: Signer,
    required: int = 1,
    rekor: RekorPolicy = RekorPolicy.OPTIONAL,
    trusted_root: str | None = None,
) -> Requirement:
    return Requirement(signers=signers, required=required, rekor=rekor, trusted_root=trusted_root)


def keys(*names: str) -> tuple[KeySigner, ...]:
    return tuple(KeySigner(name, key_pem(name)) for name in names)


def verify_one(
    image: str,
    needed: Requirement,
    *,
    verifier: RegistryVerifier | None = None,
    options: RegistryOptions = INSECURE,
    timeout: float = 10.0,
) -> SignatureResult:
    """Verify one image with a fresh verifier (or the one given) and close it."""
    request = SignatureRequest(image=image, requirement=needed, registries=options)

    async def run() -> SignatureResult:
        own = verifier or RegistryVerifier()
        try:
            return (await own.verify([request], timeout=timeout))[request]
        finally:
            await own.aclose()

    return asyncio.run(run())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Python 3.11's asyncio can leave a socket behind after a failed TLS handshake; the warning
    surfaces at garbage collection in whichever registry test runs next, so it is not an error
    of that test."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))
            item.add_marker(
                pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
            )

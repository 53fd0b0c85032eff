"""The Kubernetes API client against a real HTTPS server: TLS, tokens, paging and errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.kube_api import KubeApi
from webhook import tls
from webhook.errors import KubeApiError, KubeConfigError
from webhook.kube.client import KubeClient, TokenFile, check_credentials


@pytest.fixture
def api(tmp_path: Path) -> Iterator[KubeApi]:
    server = KubeApi(tmp_path / "serviceaccount")
    server.start()
    yield server
    server.stop()


def client_for(api: KubeApi, *, ca_file: Path | None = None) -> KubeClient:
    return KubeClient(base_url=api.url, token_file=api.token_file, ca_file=ca_file or api.ca_file)


def test_a_list_is_read_page_by_page(api: KubeApi) -> None:
    for number in range(1203):
        api.create(f"ns-{number:04}", team=str(number % 7))

    async def run() -> tuple[int, str, dict[str, str]]:
        client = client_for(api)
        try:
            items, version = await client.list_namespaces(timeout=10)
        finally:
            await client.aclose()
        return len(items), version, items[-1].labels

    count, version, last = asyncio.run(run())
    assert count == 1203
    assert version == str(api.version)
    assert last == {"kubernetes.io/metadata.name": "ns-1202", "team": str(1202 % 7)}
    pages = api.requests("list")
    assert [seen.query.get("continue") is None for seen in pages] == [True, False, False]
    assert {seen.query["limit"] for seen in pages} == {"500"}


def test_get_answers_the_namespace_or_none(api: KubeApi) -> None:
    api.create("shop", env="prod")

    async def run() -> tuple[dict[str, str] | None, bool]:
        client = client_for(api)
        try:
            found = await client.get_namespace("shop", timeout=5)
            missing = await client.get_namespace("nowhere", timeout=5)
        finally:
            await client.aclose()
        return (found.labels if found else None), missing is None

    labels, missing = asyncio.run(run())
    assert labels == {"kubernetes.io/metadata.name": "shop", "env": "prod"}
    assert missing is True


def test_a_token_the_api_refuses_is_an_api_error(api: KubeApi) -> None:
    api.tokens = {"another"}

    async def run() -> None:
        client = client_for(api)
        try:
            await client.get_namespace("shop", timeout=5)
        finally:
            await client.aclose()

    with pytest.raises(KubeApiError) as raised:
        asyncio.run(run())
    assert (raised.value.code, raised.value.reason) == (401, "Unauthorized")
    assert "token-1" not in str(raised.value)


def test_a_server_the_cluster_ca_did_not_sign_is_refused(api: KubeApi, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.crt"
    other.write_bytes(tls.generate_ca(common_name="another CA").certificate_pem())

    async def run() -> None:
        client = client_for(api, ca_file=other)
        try:
            await client.get_namespace("shop", timeout=5)
        finally:
            await client.aclose()

    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(run())
    assert api.requests("get") == []


def test_the_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    token = TokenFile(path)
    assert token.current() == "first"
    path.write_text("second-token")
    assert token.current() == "second-token"
    assert token.reload() is False  # the same token as before


@pytest.mark.parametrize(("content", "reason"), [(None, "cannot read"), ("\n", "empty")])
def test_unusable_credentials_are_config_errors(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    token = tmp_path / "token"
    if content is not None:
        token.write_text(content)
    ca = tmp_path / "ca.crt"
    ca.write_bytes(tls.generate_ca(common_name="a CA").certificate_pem())
    with pytest.raises(KubeConfigError, match=reason):
        check_credentials(token_file=token, ca_file=ca)


def test_a_ca_file_that_is_not_a_certificate_is_a_config_error(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    ca = tmp_path / "ca.crt"
    ca.write_text("not a certificate")
    with pytest.raises(KubeConfigError, match="cannot load the cluster CA"):
        check_credentials(token_file=token, ca_file=ca)

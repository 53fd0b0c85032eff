"""The namespace source in process, against a real HTTPS server: the mirror, GETs on a miss,
and an answer that arrives after the watch told otherwise."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.kube_api import KubeApi
from webhook.kube.client import KubeClient
from webhook.kube.namespaces import ApiNamespaces, Backoff
from webhook.metrics import Metrics
from webhook.policy.matching import UnknownLabels

PATIENCE = 20.0


@pytest.fixture
def api(tmp_path: Path) -> Iterator[KubeApi]:
    server = KubeApi(tmp_path / "serviceaccount")
    server.create("shop", env="prod")
    server.start()
    yield server
    server.stop()


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"not within {PATIENCE:g}s: {what}"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(api: KubeApi, *, deadline: float = 0.3) -> AsyncIterator[ApiNamespaces]:
    client = KubeClient(base_url=api.url, token_file=api.token_file, ca_file=api.ca_file)
    source = ApiNamespaces(
        client=client,
        deadline=deadline,
        metrics=Metrics(),
        backoff=Backoff(base=0.05, maximum=0.2),
    )
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.pending() is None, "the first list")
        yield source
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()


def test_listed_labels_are_answered_without_a_request(api: KubeApi) -> None:
    async def scenario() -> Mapping[str, str]:
        async with running(api) as source:
            return await source.labels("shop")

    assert asyncio.run(scenario()) == {"kubernetes.io/metadata.name": "shop", "env": "prod"}
    assert api.requests("get") == []


def test_an_answer_older_than_the_watch_is_not_kept(api: KubeApi) -> None:
    async def scenario() -> None:
        async with running(api) as source:
            api.hold(True)
            api.create("gone", env="prod")
            api.stall("get")  # the GET reads "gone" while it exists, then hangs
            late = await source.labels("gone")
            assert late == UnknownLabels("gone", "the Kubernetes API did not answer within 0.3s")
            api.delete("gone")
            api.create("marker")
            api.hold(False)
            await until(lambda: source.known("marker") is not None, "the watch events")
            api.stall()  # the old answer (labels of a namespace since deleted) arrives now
            deadline = time.monotonic() + PATIENCE
            while (answer := await source.labels("gone")) != UnknownLabels(
                "gone", "the namespace does not exist"
            ):
                assert time.monotonic() < deadline, f"the deleted namespace answers {answer}"
                await asyncio.sleep(0.02)
            assert source.known("gone") is None

    asyncio.run(scenario())


def test_names_that_cannot_be_namespaces_are_not_looked_up(api: KubeApi) -> None:
    async def scenario() -> Mapping[str, str]:
        async with running(api) as source:
            return await source.labels("../../apis/apps/v1")

    assert asyncio.run(scenario()) == UnknownLabels(
        "../../apis/apps/v1", "not a valid namespace name"
    )
    assert api.requests("get") == []


def test_backoff_doubles_up_to_its_maximum() -> None:
    backoff = Backoff(base=1.0, maximum=8.0)
    delays = [backoff.next() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next() <= 1.0

"""Memory stays bounded under a long run: every cache has a size limit, and admitting ever new
objects retains nothing per request (measured with tracemalloc, not with a clock)."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import msgspec

from tests.test_review_properties import admit
from webhook.namespaces import NamespaceLabels
from webhook.policy.matching import UnknownLabels
from webhook.signatures.cache import SingleFlightCache

PER_REQUEST_BOUND = 64  # bytes retained per request at most, on average


def review(index: int) -> bytes:
    """A request unlike any other (namespace, name, user, labels), of one of 50 kinds."""
    return msgspec.json.encode(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": f"uid-{index}",
                "kind": {"group": "example.com", "version": "v1", "kind": f"Kind{index % 50}"},
                "operation": "CREATE",
                "namespace": f"team-{index}",
                "name": f"object-{index}",
                "userInfo": {"username": f"user-{index}", "groups": [f"group-{index}"]},
                "object": {
                    "apiVersion": "example.com/v1",
                    "kind": f"Kind{index % 50}",
                    "metadata": {"name": f"object-{index}", "labels": {"team": f"t{index}"}},
                },
            },
        }
    )


def retained(start: int, count: int) -> int:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for index in range(start, start + count):
        admit(review(index))
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before


def test_admitting_new_objects_retains_nothing_per_request() -> None:
    tracemalloc.start()
    try:
        retained(0, 1_500)  # warms up what is cached per kind
        growth = retained(1_500, 1_500)
    finally:
        tracemalloc.stop()
    assert growth < PER_REQUEST_BOUND * 1_500


def test_namespace_labels_keep_the_most_recent_only() -> None:
    labels = NamespaceLabels(max_entries=100)
    for index in range(1_000):
        labels.set(f"ns-{index}", {"team": str(index)})
    assert labels.get("ns-999") == {"team": "999"}
    assert isinstance(labels.get("ns-899"), UnknownLabels)  # pushed out
    assert sum(1 for index in range(1_000) if labels.get(f"ns-{index}")) == 100


def test_signature_cache_keeps_at_most_its_entries() -> None:
    cache: SingleFlightCache[int, str] = SingleFlightCache(ttl_of=lambda _: 3600, max_entries=50)

    async def fill() -> None:
        for key in range(500):

            async def compute(key: int = key) -> str:
                return f"value-{key}"

            await cache.get(key, compute)

    asyncio.run(fill())
    assert len(cache) == 50
    assert cache.peek(499) == "value-499" and cache.peek(0) is None

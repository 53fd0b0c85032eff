"""The result cache: TTLs, a short negative cache, a bound on size, and single-flight lookups,
measured by counting the requests the real registry served."""

from __future__ import annotations

import asyncio
import functools

from tests.signatures.conftest import INSECURE, requirement
from tests.signatures.oci import Pusher, RegistryServer
from tests.signatures.signing import Layer, payload, public_pem, push_image, push_signatures, sign
from webhook.signatures.api import KeySigner, Outcome, SignatureRequest
from webhook.signatures.cache import SingleFlightCache
from webhook.signatures.verifier import RegistryVerifier


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(clock: Clock, *, max_entries: int = 10) -> SingleFlightCache[str, str]:
    return SingleFlightCache(
        ttl_of=lambda value: 60.0 if value.startswith("ok") else 5.0,
        max_entries=max_entries,
        clock=clock,
    )


def test_values_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = _cache(clock)

    async def compute() -> str:
        return f"ok-{cache.computations}"

    assert asyncio.run(cache.get("a", compute)) == "ok-1"
    clock.now += 59
    assert asyncio.run(cache.get("a", compute)) == "ok-1"
    clock.now += 2
    assert asyncio.run(cache.get("a", compute)) == "ok-2"


def test_failures_are_cached_briefly() -> None:
    clock = Clock()
    cache = _cache(clock)

    async def compute() -> str:
        return f"failed-{cache.computations}"

    assert asyncio.run(cache.get("a", compute)) == "failed-1"
    clock.now += 4
    assert asyncio.run(cache.get("a", compute)) == "failed-1"
    clock.now += 2
    assert asyncio.run(cache.get("a", compute)) == "failed-2"


def test_size_is_bounded_least_recently_used_first() -> None:
    cache = _cache(Clock(), max_entries=3)

    async def fill() -> None:
        for key in "abcb":
            await cache.get(key, functools.partial(_value, key))
        await cache.get("d", functools.partial(_value, "d"))

    asyncio.run(fill())
    assert len(cache) == 3
    assert cache.peek("a") is None  # least recently used: a, then c, then b (used twice)
    assert cache.peek("b") == "ok-b"
    assert cache.peek("d") == "ok-d"


async def _value(key: str) -> str:
    return f"ok-{key}"


def test_concurrent_callers_share_one_computation() -> None:
    cache = _cache(Clock())

    async def run() -> list[str]:
        gate = asyncio.Event()

        async def compute() -> str:
            await gate.wait()
            return "ok"

        waiting = [asyncio.ensure_future(cache.get("k", compute)) for _ in range(20)]
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(*waiting)

    assert asyncio.run(run()) == ["ok"] * 20
    assert cache.computations == 1


def _signed_image(pusher: Pusher, repository: str) -> KeySigner:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    digest = push_image(pusher, repository, "1.4")
    body = payload(f"{pusher.server.host}/{repository}", digest)
    push_signatures(pusher, repository, digest, [Layer(body, sign(key, body))])
    return KeySigner("release", public_pem(key))


def test_a_hundred_pods_cost_one_lookup(registry: RegistryServer, pusher: Pusher) -> None:
    signer = _signed_image(pusher, "scale/api")
    request = SignatureRequest(
        image=f"{registry.host}/scale/api:1.4", requirement=requirement(signer), registries=INSECURE
    )

    async def run() -> tuple[int, int]:
        verifier = RegistryVerifier()
        try:
            registry.mark()
            first = await verifier.verify([request], timeout=10)
            assert first[request].outcome is Outcome.VERIFIED
            one = len(registry.requests())
            for _ in range(99):
                again = await verifier.verify([request], timeout=10)
                assert again[request].outcome is Outcome.VERIFIED
            return one, len(registry.requests())
        finally:
            await verifier.aclose()

    one, total = asyncio.run(run())
    assert one <= 5  # tag, signature manifest, payload, referrers API and its fallback tag
    assert total == one


def test_concurrent_requests_share_one_lookup(registry: RegistryServer, pusher: Pusher) -> None:
    signer = _signed_image(pusher, "burst/api")
    request = SignatureRequest(
        image=f"{registry.host}/burst/api:1.4", requirement=requirement(signer), registries=INSECURE
    )

    async def run() -> list[Outcome]:
        verifier = RegistryVerifier()
        try:
            answers = await asyncio.gather(
                *(verifier.verify([request], timeout=10) for _ in range(50))
            )
            return [answer[request].outcome for answer in answers]
        finally:
            await verifier.aclose()

    registry.mark()
    assert asyncio.run(run()) == [Outcome.VERIFIED] * 50
    served = registry.requests()
    assert [method for method, _, _ in served].count("HEAD") == 1
    assert len(served) <= 5

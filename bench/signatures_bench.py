"""Benchmark of admission with image signature rules against a local registry: cold and warm.

Starts Debian's docker-registry on a loopback port (installed when missing), pushes images
signed with a P-256 key in cosign's format, and sends AdmissionReviews for Pods to the app in
process (the whole /validate path: decode, lookups, engine, decision, encode):

- baseline: a policy set without signature rules;
- cold: every request names an image not verified before (tag resolution, signature manifest,
  payload blob and the referrers lookup are all round trips to the registry);
- warm: the same images again, answered from the verifier's cache.

Prints per-request latency medians (and 90th percentiles) over several runs; each run starts
with an empty cache.

    python bench/signatures_bench.py                 # 5 runs, 40 images, 400 warm requests
    python bench/signatures_bench.py --runs 3 --images 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

import httpx  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from tests.helpers import pod_spec, wrap  # noqa: E402
from tests.reviews import admission_review  # noqa: E402
from tests.signatures.oci import Pusher, start_registry  # noqa: E402
from tests.signatures.signing import (  # noqa: E402
    Layer,
    payload,
    public_pem,
    push_image,
    push_signatures,
    sign,
)
from webhook.app import create_app  # noqa: E402
from webhook.lookups import SignatureLookup  # noqa: E402
from webhook.policy.loader import load_policy_set  # noqa: E402
from webhook.settings import Settings  # noqa: E402
from webhook.signatures.verifier import RegistryVerifier  # noqa: E402

BASELINE = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: baseline}
spec:
  mode: audit
  match: {kinds: [Pod]}
  rules:
    - {name: run-as-non-root, check: nonRoot}
    - {name: images, check: images}
"""
SIGNED = """
apiVersion: policy-webhook.dev/v1alpha1
kind: Policy
metadata: {name: signed-images}
spec:
  match: {kinds: [Pod]}
  rules:
    - name: signed
      check: imageSignatures
      with:
        keys: [{file: release.pub}]
        registries: {insecure: ["127.0.0.1:*"]}
"""


def review(image: str, index: int) -> bytes:
    pod = wrap("Pod", pod_spec(name="api", image=image), name=f"api-{index}")
    return json.dumps(admission_review(pod)).encode()


async def timed(client: httpx.AsyncClient, body: bytes) -> float:
    start = time.perf_counter()
    reply = await client.post("/validate", content=body)
    elapsed = time.perf_counter() - start
    answer = reply.json()["response"]
    if reply.status_code != 200 or answer["allowed"] is not True:
        raise RuntimeError(f"unexpected answer: {answer}")
    return elapsed


async def one_run(directory: Path, images: list[str], warm_requests: int) -> dict[str, list[float]]:
    baseline_app = create_app(
        settings=Settings(), policies=load_policy_set([directory / "baseline.yaml"])
    )
    verifier = RegistryVerifier()
    signed_app = create_app(
        settings=Settings(),
        policies=load_policy_set([directory / "baseline.yaml", directory / "signed.yaml"]),
        lookup=SignatureLookup(verifier=verifier, budget=Settings().timeout_seconds),
    )
    bodies = [review(image, index) for index, image in enumerate(images)]
    results: dict[str, list[float]] = {"baseline": [], "cold": [], "warm": []}
    base = "https://webhook"
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=baseline_app), base_url=base) as b,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=signed_app), base_url=base) as s,
        ):
            for body in bodies[:5]:  # warm up both code paths (imports, first connections)
                await timed(b, body)
            for body in bodies:
                results["cold"].append(await timed(s, body))
            for index in range(warm_requests):
                body = bodies[index % len(bodies)]
                results["warm"].append(await timed(s, body))
                results["baseline"].append(await timed(b, body))
    finally:
        await verifier.aclose()
    return results


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=40, help="distinct signed images (cold)")
    parser.add_argument("--warm", type=int, default=400, help="warm requests per run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        registry = start_registry(directory / "registry")
        try:
            key = ec.generate_private_key(ec.SECP256R1())
            (directory / "release.pub").write_text(public_pem(key))
            (directory / "baseline.yaml").write_text(BASELINE)
            (directory / "signed.yaml").write_text(SIGNED)
            pusher = Pusher(registry)
            images: list[list[str]] = []
            for run in range(options.runs):  # fresh images per run: every cold lookup is cold
                names = []
                for index in range(options.images):
                    repository = f"bench/app-{index}"
                    tag = f"{run}.{index}"
                    digest = push_image(pusher, repository, tag)
                    body = payload(f"{registry.host}/{repository}", digest)
                    push_signatures(pusher, repository, digest, [Layer(body, sign(key, body))])
                    names.append(f"{registry.host}/{repository}:{tag}")
                images.append(names)
            pusher.close()
            runs = [
                asyncio.run(one_run(directory, images[run], options.warm))
                for run in range(options.runs)
            ]
        finally:
            registry.stop()
    figures: dict[str, Any] = {}
    for name in ("baseline", "cold", "warm"):
        medians = [statistics.median(run[name]) * 1000 for run in runs]
        p90 = [percentile(run[name], 0.9) * 1000 for run in runs]
        figures[name] = {
            "median_ms": round(statistics.median(medians), 3),
            "p90_ms": round(statistics.median(p90), 3),
            "requests_per_run": len(runs[0][name]),
        }
    if options.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{options.runs} runs; per-request latency of /validate, median of the runs' figures")
    print(f"{'case':<10} {'median ms':>10} {'p90 ms':>10} {'requests/run':>13}")
    for name, values in figures.items():
        print(
            f"{name:<10} {values['median_ms']:>10.3f} {values['p90_ms']:>10.3f} "
            f"{values['requests_per_run']:>13}"
        )
    ratio = figures["warm"]["median_ms"] / figures["baseline"]["median_ms"]
    print(f"warm / baseline: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Engine benchmark: pre-parsed AdmissionReviews of the request mix evaluated in-process.

For each policy set (trivial, pss, 100) it reports the compile time, the per-review time of
the engine (`evaluate` + `decide`) as p50/p99/mean, the same for the whole in-process answer
(body -> decode -> evaluate -> encode, metrics and the decision log line included, no HTTP),
per-category medians, and how the cost grows from the Pod Security set to 100 policies.

    python -m bench.engine_bench [--count 2000] [--passes 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import logging
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.mix import CATEGORIES, Review, build_mix
from bench.policysets import SETS, write_policy_set
from bench.stats import load_average, median, percentile, table
from webhook.app import create_app
from webhook.decision import decide
from webhook.engine import evaluate
from webhook.logs import configure
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set
from webhook.review import AdmissionRequest, decode_review
from webhook.settings import Settings

COMPILE_RUNS = 5


def compile_seconds(path: Path) -> tuple[PolicySet, float]:
    """The compiled set and the median time to load and compile it."""
    times = []
    policies = None
    for _ in range(COMPILE_RUNS):
        started = time.perf_counter()
        policies = load_policy_set([path])
        times.append(time.perf_counter() - started)
    assert policies is not None
    return policies, median(times)


def time_engine(
    requests: Sequence[AdmissionRequest], policies: PolicySet, passes: int
) -> list[list[float]]:
    """Per-review seconds of `evaluate` + `decide`, one list per pass (after a warm-up pass)."""
    today = datetime.now(UTC).date()
    clock = time.perf_counter
    runs: list[list[float]] = []
    for number in range(passes + 1):
        times = []
        for request in requests:
            started = clock()
            decide(evaluate(request, policies, today=today))
            times.append(clock() - started)
        if number:
            runs.append(times)
    return runs


def time_answers(reviews: Sequence[Review], policies: PolicySet, passes: int) -> list[list[float]]:
    """Per-review seconds of the whole in-process answer of /validate (body in, bytes out)."""
    app = create_app(settings=Settings(), policies=policies)
    admission = app.admission
    bodies = [review.body for review in reviews]

    async def run() -> list[list[float]]:
        clock = time.perf_counter
        runs: list[list[float]] = []
        for number in range(passes + 1):
            times = []
            for body in bodies:
                started = clock()
                reply = await admission.validate(body)
                times.append(clock() - started)
                assert reply.status == 200
            if number:
                runs.append(times)
        return runs

    return asyncio.run(run())


def quiet_decision_log() -> None:
    """Decision lines formatted as `serve` does, written to memory (the cost stays counted)."""
    configure("info")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(_Discard())


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def summary(runs: list[list[float]]) -> dict[str, float]:
    """p50/p99/mean in microseconds over every sample, and the median of the passes' p50s."""
    samples = [value for run in runs for value in run]
    return {
        "p50_us": percentile(samples, 0.50) * 1e6,
        "p99_us": percentile(samples, 0.99) * 1e6,
        "mean_us": sum(samples) / len(samples) * 1e6,
        "max_us": max(samples) * 1e6,
        "p50_of_passes_us": median(percentile(run, 0.50) for run in runs) * 1e6,
    }


def by_category(reviews: Sequence[Review], runs: list[list[float]]) -> dict[str, float]:
    """Median microseconds per review of each category of the mix."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        for review, seconds in zip(reviews, run, strict=True):
            grouped[review.label].append(seconds)
    return {label: median(values) * 1e6 for label, values in grouped.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="distinct reviews in the mix")
    parser.add_argument("--passes", type=int, default=5, help="timed passes over the mix")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-answer", action="store_true", help="skip the whole-answer timing")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    options = parser.parse_args(argv)

    quiet_decision_log()
    reviews = build_mix(options.count, seed=options.seed)
    requests = [decode_review(review.body).request for review in reviews]
    gc.collect()
    gc.freeze()  # the pre-parsed reviews are not the webhook's: keep them out of GC passes
    results: dict[str, Any] = {"load_average_before": load_average(), "sets": {}}
    for name in options.sets:
        with tempfile.TemporaryDirectory() as directory:
            policies, compile_time = compile_seconds(write_policy_set(name, Path(directory)))
        engine = time_engine(requests, policies, options.passes)
        entry: dict[str, Any] = {
            "policies": len(policies.policies),
            "rules": sum(len(policy.rules) for policy in policies.policies),
            "compile_ms": compile_time * 1e3,
            "engine": summary(engine),
            "engine_by_category_us": by_category(reviews, engine),
        }
        if not options.no_answer:
            answers = time_answers(reviews, policies, options.passes)
            entry["answer"] = summary(answers)
            entry["answer_by_category_us"] = by_category(reviews, answers)
        results["sets"][name] = entry
        print(f"{name}: done", file=sys.stderr)
    results["load_average_after"] = load_average()
    print(report(results))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    return 0


def report(results: dict[str, Any]) -> str:
    sets: dict[str, Any] = results["sets"]
    rows = []
    for name, entry in sets.items():
        engine, answer = entry["engine"], entry.get("answer", {})
        rows.append(
            [
                name,
                entry["policies"],
                entry["rules"],
                entry["compile_ms"],
                engine["p50_us"],
                engine["p99_us"],
                engine["mean_us"],
                answer.get("p50_us", "-"),
                answer.get("p99_us", "-"),
                answer.get("mean_us", "-"),
            ]
        )
    header = ["set", "policies", "rules", "compile ms", "engine p50 us", "p99 us", "mean us"]
    header += ["answer p50 us", "p99 us", "mean us"]
    parts = [
        f"load average before {results['load_average_before']}, "
        f"after {results['load_average_after']}",
        table(header, rows),
        "",
        "engine median us per review, by category:",
        table(
            ["category", *sets],
            [
                [label, *(sets[name]["engine_by_category_us"].get(label, 0.0) for name in sets)]
                for label, _, _, _ in CATEGORIES
            ],
        ),
    ]
    if "pss" in sets and "100" in sets:
        small, large = sets["pss"]["engine"], sets["100"]["engine"]
        parts += [
            "",
            "cost of 100 policies relative to the Pod Security set: "
            f"mean x{large['mean_us'] / small['mean_us']:.2f}, "
            f"p50 x{large['p50_us'] / small['p50_us']:.2f}, "
            f"p99 x{large['p99_us'] / small['p99_us']:.2f}",
        ]
    return "\n".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())

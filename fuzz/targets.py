"""What the fuzzer drives, one function per target; each input must end in a result or one of
the target's expected errors, anything else is a crash. Pure Python (no atheris), so the test
suite replays the saved crashers (tests/data/fuzz-regressions/<target>/) through the same code.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path

from webhook.cel import VARIABLES, CELCompileError, CELEvaluationError, compile_expression
from webhook.decision import decide
from webhook.engine import evaluate
from webhook.errors import PolicyLoadError, PolicySetError, ReviewError
from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_file, load_policy_set
from webhook.review import decode_review, encode_response

REPOSITORY = Path(__file__).resolve().parent.parent
TODAY = date(2026, 6, 1)
SAMPLE_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "demo", "namespace": "default", "labels": {"team": "a"}},
    "spec": {"containers": [{"name": "app", "image": "reg.example.com/app:1.0"}]},
}


@cache
def policies() -> PolicySet:
    """The shipped policies and the property tests' mixed set, loaded once."""
    return load_policy_set(
        [REPOSITORY / "policies", REPOSITORY / "tests" / "data" / "reliability" / "policies"]
    )


@cache
def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="policy-webhook-fuzz-"))


def review_target(data: bytes) -> None:
    """A request body through decode, evaluate, decide and encode, as the webhook does."""
    try:
        review = decode_review(data)
    except ReviewError:
        return
    decision = decide(evaluate(review.request, policies(), today=TODAY))
    encode_response(
        api_version=review.apiVersion,
        uid=review.request.uid,
        allowed=decision.allowed,
        message=None if decision.allowed else decision.message(),
        code=None if decision.allowed else 403,
        warnings=decision.warning_texts(),
        audit_annotations=decision.audit_annotations,
    )


def policy_target(data: bytes) -> None:
    """A policy file's bytes through the loader: it loads, or says why not."""
    path = scratch() / "policy.yaml"
    path.write_bytes(data)
    try:
        load_file(path)
    except (PolicyLoadError, PolicySetError):
        return


def cel_target(data: bytes) -> None:
    """A CEL rule compiled, then evaluated on a Pod, within the cost limit."""
    try:
        program = compile_expression(data.decode("utf-8"))
    except (UnicodeDecodeError, CELCompileError):
        return
    variables = dict.fromkeys(VARIABLES)
    variables["object"] = SAMPLE_POD
    try:
        program.evaluate(variables)
    except CELEvaluationError:
        return


TARGETS: dict[str, Callable[[bytes], None]] = {
    "review": review_target,
    "policy": policy_target,
    "cel": cel_target,
}

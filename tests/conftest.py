"""Shared fixtures: repository paths and a helper to load policies written inline."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from webhook.policy.compiled import PolicySet
from webhook.policy.loader import load_policy_set

REPOSITORY = Path(__file__).resolve().parent.parent
DATA = REPOSITORY / "tests" / "data"
POLICIES = REPOSITORY / "policies"


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text (dedented) to a policy file and return its path."""
    counter = iter(range(1_000_000))

    def write(text: str) -> Path:
        path = tmp_path / f"policy-{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


@pytest.fixture
def policy_set(write_policy: Callable[[str], Path]) -> Callable[[str], PolicySet]:
    def build(text: str) -> PolicySet:
        return load_policy_set([write_policy(text)])

    return build

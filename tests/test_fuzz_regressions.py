"""Every input the fuzzer (fuzz/, `make fuzz`) ever crashed on is replayed through its target."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.targets import TARGETS
from tests.conftest import DATA

REGRESSIONS = DATA / "fuzz-regressions"
CASES = sorted(path for path in REGRESSIONS.glob("*/*") if path.is_file())


def test_every_target_has_regressions() -> None:
    assert {path.parent.name for path in CASES} == set(TARGETS)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_crasher_is_handled(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())  # raises (fails the test) if it still crashes

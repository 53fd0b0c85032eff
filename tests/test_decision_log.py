"""The decision line: written directly while `configure`'s handler is the only one, and then
the same JSON line (fields and order) the formatter writes."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from webhook import logs

FIELDS = {
    "uid": "u-1",
    "endpoint": "validate",
    "kind": "Pod",
    "namespace": "shop",
    "name": "api",
    "operation": "CREATE",
    "user": "alice",
    "verdict": "denied",
    "failed": [{"policy": "baseline", "rule": "privileged", "mode": "enforce"}],
    "audit": ["a note"],
    "duration": 0.0012345,
    "dry_run": False,
}


@pytest.fixture
def configured() -> Iterator[Callable[[], io.StringIO]]:
    """Configures logging as `serve` does (in the test's own phase, where pytest's capture
    handlers were added already), writing to a string; restores the handlers afterwards."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level

    def configure() -> io.StringIO:
        logs.configure("info")
        stream = io.StringIO()
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        return stream

    yield configure
    root.handlers[:] = saved
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("patched", [(), ("defaults/pull-policy",)])
def test_the_direct_line_equals_the_formatted_one(
    configured: Callable[[], io.StringIO], patched: tuple[str, ...]
) -> None:
    stream = configured()
    assert logs._direct.writes()
    logs.log_decision(**FIELDS, patched=list(patched) or None)  # type: ignore[arg-type]
    extra = logging.NullHandler()  # a second handler: records go through the formatter
    logging.getLogger().addHandler(extra)
    assert not logs._direct.writes()
    logs.log_decision(**FIELDS, patched=list(patched) or None)  # type: ignore[arg-type]
    logging.getLogger().removeHandler(extra)
    direct, formatted = lines(stream)
    assert direct.pop("time") and formatted.pop("time")
    assert list(direct.items()) == list(formatted.items())
    assert direct["duration_ms"] == 1.234 and direct["logger"] == "policy_webhook.decisions"
    assert ("patched" in direct) == bool(patched)


def test_no_line_below_the_configured_level(configured: Callable[[], io.StringIO]) -> None:
    stream = configured()
    logs.log_decision(**FIELDS)  # type: ignore[arg-type]
    logging.getLogger().setLevel("WARNING")
    logs.log_decision(**FIELDS)  # type: ignore[arg-type]
    assert len(lines(stream)) == 1


def _to_millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_the_direct_line_has_the_time_as_the_formatter_writes_it(
    configured: Callable[[], io.StringIO],
) -> None:
    stream = configured()
    before = _to_millisecond(datetime.now(UTC))
    logs.log_decision(**FIELDS)  # type: ignore[arg-type]
    after = datetime.now(UTC)
    (line,) = lines(stream)
    text = str(line["time"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", text)
    moment = datetime.fromisoformat(text)
    assert before <= moment <= after
    assert text == moment.isoformat(timespec="milliseconds")


def test_the_decision_time_follows_the_clock_across_seconds() -> None:
    clock = logs._Clock()
    seen: set[int] = set()
    for _ in range(4):  # 1.05 s: at least one second boundary
        before = _to_millisecond(datetime.now(UTC))
        moment = datetime.fromisoformat(clock.now())
        assert before <= moment <= datetime.now(UTC)
        seen.add(int(moment.timestamp()))
        time.sleep(0.35)
    assert len(seen) >= 2

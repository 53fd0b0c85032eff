"""The decision line: written directly while `configure`'s handler is the only one, and then
the same JSON line (fields and order) the formatter writes."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@contextlib.contextmanager
def counted_records() -> Iterator[list[logging.LogRecord]]:
    """The log records made inside."""
    made: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()

    def recording(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        made.append(record)
        return record

    logging.setLogRecordFactory(recording)
    try:
        yield made
    finally:
        logging.setLogRecordFactory(factory)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("patched", [(), ("defaults/pull-policy",)])
def test_the_direct_line_equals_the_formatted_one(
    configured: Callable[[], io.StringIO], patched: tuple[str, ...]
) -> None:
    stream = configured()
    with counted_records() as records:
        logs.log_decision(**FIELDS, patched=list(patched) or None)  # type: ignore[arg-type]
    assert records == []  # written directly
    extra = logging.NullHandler()  # a second handler: records go through the formatter
    logging.getLogger().addHandler(extra)
    with counted_records() as records:
        logs.log_decision(**FIELDS, patched=list(patched) or None)  # type: ignore[arg-type]
    logging.getLogger().removeHandler(extra)
    assert [record.name for record in records] == ["policy_webhook.decisions"]
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


def _near_halves() -> st.SearchStrategy[float]:
    """Durations whose milliseconds lie at or next to a half of the third decimal."""
    return st.builds(
        lambda micros, steps: _step(micros / 1e6 + 0.5e-6, steps),
        st.integers(min_value=0, max_value=10**9),
        st.integers(min_value=-3, max_value=3),
    )


def _step(value: float, steps: int) -> float:
    for _ in range(abs(steps)):
        value = math.nextafter(value, math.inf if steps > 0 else -math.inf)
    return value


@given(
    st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=0, max_value=10.0)
    | st.floats(min_value=0, max_value=2e6)
    | _near_halves()
)
def test_the_duration_in_milliseconds_is_rounded_as_round_does(seconds: float) -> None:
    expected = round(seconds * 1000, 3)
    found = logs.milliseconds(seconds)
    assert repr(found) == repr(expected)


def test_the_duration_in_milliseconds_at_the_halves_and_bounds() -> None:
    for seconds in [0.0, -0.0, 1e-7, 0.0000005, 0.0000015, 0.0012345, 0.0012355, 1e6, 1e7, -1.0]:
        assert repr(logs.milliseconds(seconds)) == repr(round(seconds * 1000, 3))

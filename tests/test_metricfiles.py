"""Shared metric values: written in prometheus_client's multiprocess format, so its collector
reads from our files what it reads from the files of its own MultiProcessValue."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.exposition import generate_latest

from webhook.metricfiles import SharedValues
from webhook.metrics import MULTIPROCESS_VARIABLE


def record(registry: CollectorRegistry) -> None:
    """Every kind of update the webhook makes, on every kind of metric it has."""
    counter = Counter("answers", "Answers.", ["verdict"], registry=registry)
    counter.labels("allowed").inc()
    counter.labels("allowed").inc(2.5)
    counter.labels("denied").inc()
    gauge = Gauge("loaded", "Loaded.", registry=registry, multiprocess_mode="livemax")
    gauge.set(7)
    gauge.inc(2)
    oldest = Gauge("oldest", "Oldest.", registry=registry, multiprocess_mode="livemin")
    oldest.set(1234.5)
    histogram = Histogram("seconds", "Seconds.", buckets=(0.1, 1.0), registry=registry)
    for seconds in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(seconds)


@contextlib.contextmanager
def values_of(directory: Path, value_class: Callable[..., Any]) -> Iterator[None]:
    """Metrics made inside keep their values with `value_class`, in files in `directory`."""
    os.environ[MULTIPROCESS_VARIABLE] = str(directory)
    values.ValueClass = value_class
    try:
        yield
    finally:
        values.ValueClass = values.MutexValue
        os.environ.pop(MULTIPROCESS_VARIABLE, None)


def collected() -> bytes:
    """What prometheus_client's collector reads from the files."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def answers_and_seconds(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    """A request counter and a latency histogram, as the webhook's are shaped."""
    counter = Counter("answers", "Answers.", ["verdict"], registry=registry)
    histogram = Histogram("seconds", "Seconds.", buckets=(0.1, 1.0), registry=registry)
    return counter, histogram


def scrape(directory: Path, value_class: Callable[..., Any]) -> bytes:
    """What prometheus_client's collector reads after `record` with `value_class`."""
    with values_of(directory, value_class):
        record(CollectorRegistry())
        return collected()


def test_the_files_read_as_prometheus_clients_own(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    shared = SharedValues(str(ours))
    try:
        text = scrape(ours, shared)
    finally:
        shared.close()
    reference = scrape(theirs, values.MultiProcessValue())  # type: ignore[no-untyped-call]
    assert text == reference
    assert b'answers_total{verdict="allowed"} 3.5' in text
    assert sorted(path.name for path in ours.iterdir()) == sorted(
        path.name for path in theirs.iterdir()
    )


@pytest.mark.parametrize("kind", ["counter", "gauge"])
def test_a_value_reads_what_its_process_wrote_before(tmp_path: Path, kind: str) -> None:
    """A value made again in the same process (a new app) starts from the file's number."""
    shared = SharedValues(str(tmp_path))
    try:
        first = shared(kind, "m", "m", (), (), "M.", multiprocess_mode="livemax")
        first.inc(4)
        again = shared(kind, "m", "m", (), (), "M.", multiprocess_mode="livemax")
        assert again.get() == 4
        again.set(9)
        assert shared(kind, "m", "m", (), (), "M.", multiprocess_mode="livemax").get() == 9
    finally:
        shared.close()


def test_a_child_forked_while_another_thread_updates_can_update(tmp_path: Path) -> None:
    """The lock is held by another thread of the parent when it forks: the child's own
    updates still go through (with the parent's lock it would wait for ever)."""
    shared = SharedValues(str(tmp_path))
    value = shared("counter", "m", "m", (), (), "M.")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with shared.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        child = os.fork()
        if child == 0:  # pragma: no cover (the child's exit code tells)
            try:
                signal.alarm(10)  # a child waiting for ever ends by SIGALRM: the test fails
                value.inc(5)
                os._exit(0 if value.get() == 5 else 1)
            finally:
                os._exit(2)
        release.set()
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
            [f"counter_{os.getpid()}.db", f"counter_{child}.db"]
        )
    finally:
        release.set()
        holder.join()
        shared.close()


def test_an_observation_reads_as_an_increment_and_a_histogram_observation(
    tmp_path: Path,
) -> None:
    """`observe` (a request counted and its latency) writes what Counter.inc and
    Histogram.observe write, under one lock."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()

    def scraped(directory: Path, value_class: Callable[..., Any], shared: bool) -> bytes:
        with values_of(directory, value_class):
            counter, histogram = answers_and_seconds(CollectorRegistry())
            for seconds, bucket in ((0.5, 1), (0.05, 0), (0.5, 1), (3.0, 2)):
                child = counter.labels("allowed")
                if shared:
                    value_class.observe(  # type: ignore[attr-defined]
                        child._value, histogram._sum, seconds, histogram._buckets[bucket]
                    )
                else:
                    child.inc()
                    histogram.observe(seconds)
            return collected()

    shared = SharedValues(str(ours))
    try:
        text = scraped(ours, shared, True)
    finally:
        shared.close()
    reference = scraped(theirs, values.MultiProcessValue(), False)  # type: ignore[no-untyped-call]
    assert text == reference
    assert b'answers_total{verdict="allowed"} 4.0' in text
    assert b'seconds_bucket{le="1.0"} 3.0' in text and b"seconds_sum 4.05" in text


def test_an_observation_in_a_forked_child_goes_to_a_file_of_its_own(tmp_path: Path) -> None:
    """Values made before a fork, observed in the child: the child's file holds the child's
    observations, the parent's its own."""
    shared = SharedValues(str(tmp_path))
    try:
        with values_of(tmp_path, shared):
            counter, histogram = answers_and_seconds(CollectorRegistry())
            value, total = counter.labels("allowed")._value, histogram._sum
            buckets = histogram._buckets
            shared.observe(value, total, 0.5, buckets[1])
            child = os.fork()
            if child == 0:
                code = 1
                try:
                    shared.observe(value, total, 0.05, buckets[0])
                    shared.observe(value, total, 3.0, buckets[2])
                    code = 0
                finally:
                    os._exit(code)
            assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
            shared.observe(value, total, 0.5, buckets[1])
            text = collected()
    finally:
        shared.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        f"{kind}_{pid}.db" for kind in ("counter", "histogram") for pid in (os.getpid(), child)
    )
    assert b'answers_total{verdict="allowed"} 4.0' in text
    assert b'seconds_bucket{le="0.1"} 1.0' in text and b'seconds_bucket{le="1.0"} 3.0' in text
    assert b"seconds_count 4.0" in text and b"seconds_sum 4.05" in text

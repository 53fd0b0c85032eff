"""Metric values of worker processes in files, as prometheus_client's multiprocess mode keeps
them: a file per process and metric type, summed over every worker at a scrape by its
MultiProcessCollector.

`SharedValues` is the value class prometheus_client's `MultiProcessValue` gives, with cheaper
updates: one is a locked write of the value's 16 bytes into the file's memory map, where the
original asks for the process id and finds the value's place through several calls each
time (a fork is noticed by a count that an at-fork hook raises). Every update is written at
once, so a scrape answered by any worker sees it.
"""

from __future__ import annotations

import os
import struct
import threading
from typing import Any

from prometheus_client.mmap_dict import MmapedDict, mmap_key

# Both doubles of a value (value, timestamp) written in place in one call, as
# MmapedDict.write_value writes them in one assignment (without its bytes and slice objects).
_pack_into = struct.Struct("dd").pack_into


class _File(MmapedDict):
    """A process's file of the values of one metric type, written at known places."""

    def place(self, key: str) -> int:
        """Where the value of `key` is (added with 0 when new)."""
        self.read_value(key)  # type: ignore[no-untyped-call]
        place: int = self._positions[key]
        return place

    def write_at(self, place: int, value: float, timestamp: float) -> None:
        _pack_into(self._m, place, value, timestamp)


class SharedValues:
    """prometheus_client's ValueClass for metrics shared by workers (`values.ValueClass`): a
    callable that makes the value of each metric child, in files under `directory`. A forked
    child writes files of its own from its first update on."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._new_lock()
        self.forks = 0  # forks into this process, so far
        self._files: dict[str, _File] = {}
        self._files_forks = 0  # `forks` when the files were opened
        os.register_at_fork(after_in_child=self._forked)

    def _new_lock(self) -> None:
        self.lock = threading.Lock()  # one for all: values share their files
        # Bound once: cheaper than `with lock` on every update.
        self.acquire = self.lock.acquire
        self.release = self.lock.release

    def _forked(self) -> None:
        # Another thread of the parent may have held the lock at the fork: in the child it
        # would stay held for ever.
        self._new_lock()
        self.forks += 1

    def __call__(
        self,
        typ: str,
        metric_name: str,
        name: str,
        labelnames: Any,
        labelvalues: Any,
        help_text: str,
        multiprocess_mode: str = "",
        **kwargs: Any,
    ) -> SharedValue:
        prefix = f"gauge_{multiprocess_mode}" if typ == "gauge" else typ
        key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
        return SharedValue(self, prefix, key)

    def file(self, prefix: str) -> _File:
        """The file of this process for `prefix` (call with the lock held)."""
        if self._files_forks != self.forks:  # forked: the parent's files are the parent's
            self.close()
            self._files_forks = self.forks
        found = self._files.get(prefix)
        if found is None:
            path = os.path.join(self.directory, f"{prefix}_{os.getpid()}.db")
            found = self._files[prefix] = _File(path)  # type: ignore[no-untyped-call]
        return found

    def observe(
        self, counter: SharedValue, total: SharedValue, amount: float, bucket: SharedValue
    ) -> None:
        """`counter` and `bucket` up by one and `total` by `amount` under one lock (a request
        counted, and its latency observed in a histogram child's sum and bucket)."""
        self.acquire()
        try:
            counter.add(1.0)
            total.add(amount)
            bucket.add(1.0)
        finally:
            self.release()

    def close(self) -> None:
        for file in self._files.values():
            file.close()  # type: ignore[no-untyped-call]
        self._files.clear()


class SharedValue:
    """The value of one metric child, kept in memory and written to this process's file."""

    _multiprocess = True

    def __init__(self, shared: SharedValues, prefix: str, key: str) -> None:
        self._shared = shared
        self._prefix = prefix
        self._key = key
        with shared.lock:
            self._open()

    def _open(self) -> None:
        """Find the value in this process's file (call with the lock held)."""
        self._forks = self._shared.forks
        self._file = self._shared.file(self._prefix)
        self._place = self._file.place(self._key)
        value, timestamp = self._file.read_value(self._key)  # type: ignore[no-untyped-call]
        self._value: float = value
        self._timestamp: float = timestamp

    def inc(self, amount: float) -> None:
        shared = self._shared
        shared.acquire()
        try:
            self.add(amount)
        finally:
            shared.release()

    def add(self, amount: float) -> None:
        """`inc`, with the lock held by the caller."""
        if self._forks != self._shared.forks:
            self._open()
        value = self._value = self._value + amount
        self._timestamp = 0.0
        _pack_into(self._file._m, self._place, value, 0.0)

    def set(self, value: float, timestamp: float | None = None) -> None:
        shared = self._shared
        with shared.lock:
            if self._forks != shared.forks:
                self._open()
            self._value = value
            self._timestamp = timestamp or 0.0
            self._file.write_at(self._place, value, self._timestamp)

    def set_exemplar(self, exemplar: Any) -> None:
        return  # as prometheus_client: no exemplars in multiprocess mode

    def get(self) -> float:
        shared = self._shared
        with shared.lock:
            if self._forks != shared.forks:
                self._open()
            return self._value

    def get_exemplar(self) -> None:
        return None

"""A log handler that writes ready-made lines in batches, a few milliseconds apart.

Every decision is queued, and the lines queued within WRITE_DELAY of the first are written
together: on a busy worker dozens of requests' lines in one write, where a write for each turn
of the event loop is one for every request or two at moderate load. They are written in writes
of whole lines of at most PIPE_BUF bytes: a write that size to a pipe is atomic, so the lines of
several workers sharing one stderr pipe never interleave (a single longer line is written
alone, as it would be unbatched). Records and `flush()` write the queued lines first, so the
order of a worker's lines holds; `logging.shutdown()` flushes them at exit.

On a UTF-8 text stream of io's own (sys.stderr) the lines go to its binary buffer as they are,
rather than decoded and encoded again: a record written through the text stream is flushed to
that buffer as the record is handled (StreamHandler.emit flushes), so the order holds there too.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import functools
import io
import logging
import select
from collections.abc import Callable, Iterator
from typing import Any

PIPE_BUF = select.PIPE_BUF
# Seconds a queued line waits for others to be written with it.
WRITE_DELAY = 0.005
# Lines queued that are written at once rather than after the delay (bounds the memory a long
# turn or a burst holds).
QUEUE_LIMIT = 128


def chunks(lines: list[bytes], limit: int = PIPE_BUF) -> Iterator[bytes]:
    """`lines` (each ending in its only newline) joined into runs of at most `limit` bytes (a
    longer line is a run alone)."""
    return runs(b"".join(lines), limit)


def runs(data: bytes, limit: int = PIPE_BUF) -> Iterator[bytes]:
    """`data`, whole lines, cut into runs of at most `limit` bytes (a longer line is a run
    alone): each run ends at the last line end within `limit` bytes of its start, found by
    one search rather than line by line."""
    start, size = 0, len(data)
    while size - start > limit:
        end = data.rfind(b"\n", start, start + limit) + 1
        if end <= start:  # the first line is longer than `limit`: alone
            end = data.find(b"\n", start + limit) + 1 or size
        yield data[start:end]
        start = end
    if start < size:
        yield data[start:]


def binary_buffer(stream: Any) -> Any | None:
    """The binary buffer under `stream` when the stream is io's own text wrapper and writes
    UTF-8 (what a line is encoded in); None for any other stream (which gets text)."""
    if type(stream) is not io.TextIOWrapper:  # a subclass may write differently
        return None
    try:
        if codecs.lookup(stream.encoding).name != "utf-8":
            return None
    except LookupError:
        return None
    buffer = getattr(stream, "buffer", None)
    return buffer if isinstance(buffer, io.BufferedIOBase | io.RawIOBase) else None


class LineHandler(logging.StreamHandler[Any]):
    """A StreamHandler that also takes lines (`queue`); with an event loop running in the
    thread they are written `delay` (WRITE_DELAY) after the first of a batch, without one at once.

    A line is queued as bytes, or as an object that `encode_lines` encodes: a batch of them is
    encoded in one call when it is written (msgspec's `Encoder.encode_lines`), rather than one
    call and one bytes object per line."""

    def __init__(
        self,
        stream: Any,
        *,
        encode_lines: Callable[[list[Any]], bytes] = b"".join,
        delay: float = WRITE_DELAY,
    ) -> None:
        super().__init__(stream)
        self._encode_lines = encode_lines
        self.delay = delay  # seconds a batch's first line waits for the others
        # Appended without the lock (a deque's append and popleft are atomic): the writer
        # takes the lines there were when it started, and a line appended after that has
        # found no write scheduled and scheduled one.
        self._lines: collections.deque[Any] = collections.deque()
        self._size = 0  # about the lines queued (a trigger only)
        self._scheduled: asyncio.AbstractEventLoop | None = None  # where a write is pending
        # The stream whose binary buffer (or None) `_binary` is: found again when the stream
        # was replaced (setStream).
        self._binary_of: Any = None
        self._binary: Any | None = None
        self._after_delay = functools.partial(self._write_queued, True)  # bound once

    def queue(self, line: Any) -> None:
        """Write `line` with the others of its batch: bytes (UTF-8, ending in a newline) by
        default, else what `encode_lines` encodes."""
        self._lines.append(line)
        size = self._size = self._size + 1
        scheduled = self._scheduled
        if scheduled is not None and size < QUEUE_LIMIT and scheduled.is_running():
            return  # the write scheduled on the running loop takes it
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_queued()
            return
        if size >= QUEUE_LIMIT:
            self._write_queued()
        elif self._scheduled is not loop:  # none yet, or on a loop that has ended since
            self._scheduled = loop
            loop.call_later(self.delay, self._after_delay)

    def _write_queued(self, scheduled: bool = False) -> None:
        """Write the lines queued (`scheduled`: the write scheduled after the delay)."""
        if scheduled:
            self._scheduled = None
        with self.lock or contextlib.nullcontext():
            queued = self._lines
            count = len(queued)
            if not count:
                return
            self._size = 0
            stream = self.stream
            if stream is not self._binary_of:
                self._binary_of = stream
                self._binary = binary_buffer(stream)
            binary = self._binary
            data = self._encode_lines([queued.popleft() for _ in range(count)])
            if count == 1 and binary is not None:  # a batch's only line (written alone)
                binary.write(data)
                binary.flush()
                return
            for chunk in runs(data):
                if binary is not None:
                    binary.write(chunk)
                    binary.flush()
                else:
                    stream.write(chunk.decode("utf-8"))
                    stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        if self._lines:
            self._write_queued()
        super().emit(record)

    def flush(self) -> None:
        self._write_queued()
        super().flush()

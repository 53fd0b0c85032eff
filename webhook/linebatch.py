"""A log handler that writes ready-made lines in batches, once per turn of the event loop.

Every decision of a turn is queued and the batch is written when the loop turns, in writes of
whole lines of at most PIPE_BUF bytes: a write that size to a pipe is atomic, so the lines of
several workers sharing one stderr pipe never interleave (a single longer line is written
alone, as it would be unbatched). Records and `flush()` write the queued lines first, so the
order of a worker's lines holds; `logging.shutdown()` flushes them at exit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import select
from collections.abc import Iterator
from typing import Any

PIPE_BUF = select.PIPE_BUF
# Queued bytes written at once rather than at the end of the turn (bounds the memory a long
# turn holds).
QUEUE_LIMIT = 16 * PIPE_BUF


def chunks(lines: list[bytes], limit: int = PIPE_BUF) -> Iterator[bytes]:
    """`lines` joined into runs of at most `limit` bytes (a longer line is a run alone)."""
    if sum(map(len, lines)) <= limit:
        yield b"".join(lines)
        return
    start = size = 0
    for index, line in enumerate(lines):
        if size + len(line) > limit and index > start:
            yield b"".join(lines[start:index])
            start, size = index, 0
        size += len(line)
    if start < len(lines):
        yield b"".join(lines[start:])


class LineHandler(logging.StreamHandler[Any]):
    """A StreamHandler that also takes encoded lines (`queue`); with an event loop running in
    the thread they are written when the loop turns, without one at once."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        # Appended without the lock (a deque's append and popleft are atomic): the writer
        # takes the lines there were when it started, and a line appended after that has
        # found no write scheduled and scheduled one.
        self._lines: collections.deque[bytes] = collections.deque()
        self._size = 0  # about the bytes queued (a trigger only)
        self._scheduled: asyncio.AbstractEventLoop | None = None  # where a write is pending

    def queue(self, line: bytes) -> None:
        """Write `line` (UTF-8, ending in a newline) when the running loop turns."""
        self._lines.append(line)
        self._size += len(line)
        scheduled = self._scheduled
        if scheduled is None or not scheduled.is_running() or self._size >= QUEUE_LIMIT:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_queued()
            return
        if self._size >= QUEUE_LIMIT:
            self._write_queued()
        elif self._scheduled is not loop:  # none yet, or on a loop that has ended since
            self._scheduled = loop
            loop.call_soon(self._turned)

    def _turned(self) -> None:
        self._scheduled = None
        self._write_queued()

    def _write_queued(self) -> None:
        with self.lock or contextlib.nullcontext():
            queued = self._lines
            count = len(queued)
            if not count:
                return
            self._size = 0
            lines = [queued.popleft() for _ in range(count)]
            stream = self.stream
            for chunk in chunks(lines):
                stream.write(chunk.decode("utf-8"))
                stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        if self._lines:
            self._write_queued()
        super().emit(record)

    def flush(self) -> None:
        self._write_queued()
        super().flush()

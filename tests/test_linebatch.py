"""Decision lines written in batches: together a few milliseconds after the first, at once
without a loop, before any later record, at shutdown, and in writes of whole lines that fit
PIPE_BUF."""

from __future__ import annotations

import asyncio
import fcntl
import io
import itertools
import json
import logging
import os
import subprocess
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import REPOSITORY
from webhook.linebatch import PIPE_BUF, QUEUE_LIMIT, WRITE_DELAY, LineHandler, chunks


class RecordingStream(io.StringIO):
    """A text stream that keeps every write it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


class RecordingBuffer(io.BytesIO):
    """A binary buffer that keeps every write it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes.append(bytes(data))
        return super().write(data)


def text_stream(buffer: io.BytesIO, encoding: str = "utf-8") -> io.TextIOWrapper:
    """A text stream over `buffer`, set up as sys.stderr is."""
    return io.TextIOWrapper(
        buffer, encoding=encoding, errors="backslashreplace", line_buffering=True
    )


async def after_the_delay() -> None:
    """Wait past the write delay: its timer, due first, has run."""
    await asyncio.sleep(2 * WRITE_DELAY)


def line(number: int, size: int = 40) -> bytes:
    return json.dumps({"n": number, "pad": "x" * size}).encode() + b"\n"


def test_the_lines_of_several_turns_are_written_together_after_the_delay() -> None:
    stream = RecordingStream()
    # A delay far longer than three turns of the loop take, even on a busy machine.
    handler = LineHandler(stream, delay=0.5)

    async def answer() -> tuple[str, str]:
        started = asyncio.get_running_loop().time()
        for number in range(3):
            handler.queue(line(number))
            await asyncio.sleep(0)  # the loop turns
        before = stream.getvalue()
        while not stream.writes and asyncio.get_running_loop().time() - started < 10:
            await asyncio.sleep(0.01)
        return before, stream.getvalue()

    before, after = asyncio.run(answer())
    assert before == ""
    assert after == b"".join(line(number) for number in range(3)).decode()
    assert len(stream.writes) == 1


def test_lines_further_apart_than_the_delay_are_written_apart() -> None:
    stream = RecordingStream()
    handler = LineHandler(stream)

    async def answer() -> None:
        for number in range(4):
            handler.queue(line(number))
            await after_the_delay()

    asyncio.run(answer())
    assert stream.writes == [line(number).decode() for number in range(4)]


def test_without_a_running_loop_a_line_is_written_at_once() -> None:
    stream = RecordingStream()
    handler = LineHandler(stream)
    handler.queue(line(1))
    assert stream.getvalue() == line(1).decode()


def test_lines_queued_on_a_loop_that_ended_are_written_with_the_next_loop() -> None:
    stream = RecordingStream()
    handler = LineHandler(stream)
    loop = asyncio.new_event_loop()

    async def queue_and_stop() -> None:
        asyncio.get_running_loop().stop()  # it ends before it turns again
        handler.queue(line(1))

    loop.run_until_complete(queue_and_stop())
    loop.close()
    assert stream.getvalue() == ""

    async def queue_and_turn() -> None:
        handler.queue(line(2))
        await after_the_delay()

    asyncio.run(queue_and_turn())
    assert stream.getvalue() == (line(1) + line(2)).decode()


def test_lines_from_other_threads_are_written_once_each_and_none_lost() -> None:
    stream = RecordingStream()
    handler = LineHandler(stream)
    per_thread = 2000

    def produce(name: str) -> None:
        for number in range(per_thread):
            handler.queue(f"{name} {number}\n".encode())

    async def answer() -> None:
        threads = [threading.Thread(target=produce, args=(f"t{n}",)) for n in range(3)]
        for thread in threads:
            thread.start()
        for number in range(per_thread):
            handler.queue(f"loop {number}\n".encode())
            await asyncio.sleep(0)
        for thread in threads:
            thread.join()
        await after_the_delay()

    asyncio.run(answer())
    handler.flush()
    seen: dict[str, list[int]] = {}
    for text in stream.getvalue().splitlines():
        name, number = text.split()
        seen.setdefault(name, []).append(int(number))
    for name in ("t0", "t1", "t2", "loop"):
        assert seen[name] == list(range(per_thread))  # each once, in order


def test_a_long_turn_writes_once_the_queue_is_large() -> None:
    stream = RecordingStream()
    handler = LineHandler(stream)
    lines = [line(number) for number in range(2 * QUEUE_LIMIT)]

    async def answer() -> str:
        for item in lines:
            handler.queue(item)
        before = stream.getvalue()
        await after_the_delay()
        return before

    before = asyncio.run(answer())
    everything = b"".join(lines).decode()
    assert before.count("\n") >= QUEUE_LIMIT  # written before the turn ended
    assert everything.startswith(before) and before.endswith("\n")
    assert stream.getvalue() == everything


def test_a_record_comes_after_the_lines_queued_before_it() -> None:
    stream = RecordingStream()
    handler = LineHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    record = logging.LogRecord("test", logging.INFO, __file__, 1, "a record", None, None)

    async def answer() -> None:
        handler.queue(line(1))
        handler.handle(record)

    asyncio.run(answer())
    assert stream.getvalue() == line(1).decode() + "a record\n"


def test_on_a_utf8_text_stream_the_lines_go_to_its_buffer_as_they_are() -> None:
    buffer = RecordingBuffer()
    handler = LineHandler(text_stream(buffer))
    lines = [line(number) for number in range(3)] + ["é ✓ \u00ff\n".encode()]

    async def answer() -> None:
        for item in lines:
            handler.queue(item)
        await after_the_delay()
        handler.queue(line(9))
        await after_the_delay()

    asyncio.run(answer())
    assert buffer.writes == [b"".join(lines), line(9)]
    assert buffer.getvalue() == b"".join(lines) + line(9)


def test_records_and_lines_on_a_utf8_text_stream_keep_their_order() -> None:
    buffer = RecordingBuffer()
    handler = LineHandler(text_stream(buffer))
    handler.setFormatter(logging.Formatter("%(message)s"))

    def record(text: str) -> logging.LogRecord:
        return logging.LogRecord("test", logging.INFO, __file__, 1, text, None, None)

    async def answer() -> None:
        handler.handle(record("first"))
        handler.queue(line(1))
        handler.handle(record("second"))
        handler.queue(line(2))
        await after_the_delay()
        handler.handle(record("third"))

    asyncio.run(answer())
    assert buffer.getvalue() == (b"first\n" + line(1) + b"second\n" + line(2) + b"third\n")


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-8-sig"])
def test_a_text_stream_of_another_encoding_is_written_text(encoding: str) -> None:
    buffer = RecordingBuffer()
    stream = text_stream(buffer, encoding)
    handler = LineHandler(stream)
    text = '{"name": "café"}\n'
    handler.queue(text.encode())
    handler.flush()
    assert buffer.getvalue() == text.encode(encoding)


def test_a_replaced_stream_is_written_as_it_takes_lines() -> None:
    first = RecordingStream()
    handler = LineHandler(first)
    handler.queue(line(1))
    buffer = RecordingBuffer()
    handler.setStream(text_stream(buffer))
    handler.queue(line(2))
    handler.setStream(second := RecordingStream())
    handler.queue(line(3))
    assert first.writes == [line(1).decode()]
    assert buffer.writes == [line(2)]
    assert second.writes == [line(3).decode()]


def test_flush_writes_the_queued_lines() -> None:
    stream = RecordingStream()
    handler = LineHandler(stream)

    async def answer() -> str:
        handler.queue(line(1))
        handler.flush()  # what logging.shutdown() does at exit
        return stream.getvalue()

    assert asyncio.run(answer()) == line(1).decode()


def test_writes_are_whole_lines_that_fit_pipe_buf() -> None:
    stream = RecordingStream()
    handler = LineHandler(stream)
    sizes = [10, 900, 3000, 2 * PIPE_BUF, 50, PIPE_BUF - 30, 1, 1500, 1500, 1500]
    lines = [line(number, size) for number, size in enumerate(sizes)]

    async def answer() -> None:
        for item in lines:
            handler.queue(item)
        await after_the_delay()

    asyncio.run(answer())
    assert "".join(stream.writes) == b"".join(lines).decode()
    for text in stream.writes:
        data = text.encode()
        assert data.endswith(b"\n")
        assert len(data) <= PIPE_BUF or data.count(b"\n") == 1
    assert len(stream.writes) < len(lines)


@given(st.lists(st.integers(min_value=0, max_value=3 * PIPE_BUF), max_size=40))
def test_chunks_keep_every_line_whole_and_in_order(sizes: list[int]) -> None:
    lines = [b"x" * size + b"\n" for size in sizes]
    found = list(chunks(lines))
    assert b"".join(found) == b"".join(lines)
    for chunk in found:
        assert len(chunk) <= PIPE_BUF or chunk.count(b"\n") == 1
    # No chunk could have taken the next line as well.
    for chunk, following in itertools.pairwise(found):
        assert len(chunk) + following.index(b"\n") + 1 > PIPE_BUF


WRITER = """
import asyncio, json, random, sys
from webhook.linebatch import LineHandler

name, count = sys.argv[1], int(sys.argv[2])
handler = LineHandler(sys.stdout)
sizes = random.Random(name)

async def main():
    for number in range(count):
        pad = "y" * (4000 if number % 97 == 0 else sizes.randint(0, 1500))
        handler.queue(json.dumps({"writer": name, "n": number, "pad": pad}).encode() + b"\\n")
        if number % 40 == 0:
            await asyncio.sleep(0)

asyncio.run(main())
handler.flush()
"""


def test_workers_sharing_one_pipe_never_interleave_their_lines() -> None:
    # Lines up to PIPE_BUF bytes (a longer one is written alone, and a pipe does not keep a
    # write that long in one piece, batched or not).
    count = 3000
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_BUF)  # a longer write blocks part way
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, name, str(count)], cwd=REPOSITORY, stdout=write
        )
        for name in ("a", "b")
    ]
    os.close(write)
    pieces: list[bytes] = []
    while piece := os.read(read, 512):  # slowly: both writers wait on a full pipe
        pieces.append(piece)
    os.close(read)
    output = b"".join(pieces)
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    seen: dict[str, list[int]] = {"a": [], "b": []}
    for text in output.splitlines():
        document = json.loads(text)  # a garbled line does not parse
        seen[document["writer"]].append(document["n"])
    assert seen == {"a": list(range(count)), "b": list(range(count))}


SHUTDOWN = """
import asyncio, logging, os
from webhook import logs

logs.configure("info")

async def main():
    for number in range(3):
        logs.log_decision(
            uid=f"u-{number}", endpoint="validate", kind="Pod", namespace="shop", name="api",
            operation="CREATE", user="alice", verdict="allowed", failed=[], audit=[],
            duration=0.001, dry_run=False,
        )
    # A worker's exit: logging is shut down, then the process ends without turning the loop.
    logging.shutdown()
    os._exit(0)

asyncio.run(main())
"""


def test_the_lines_queued_when_a_worker_exits_are_written() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SHUTDOWN], cwd=REPOSITORY, capture_output=True, timeout=60
    )
    assert done.returncode == 0
    lines = [json.loads(text) for text in done.stderr.splitlines()]
    assert [item["uid"] for item in lines] == ["u-0", "u-1", "u-2"]

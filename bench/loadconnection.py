"""One connection of the load generator: a non-blocking socket (TLS through the ssl module
straight on the socket) watched by the event loop, that sends a request, reads the HTTP/1.1
answer from the bytes as they arrive and sends the next request from that callback.

No coroutine, stream or timeout context per request, and no TLS transport in between: TLS
records are written to and read from the socket directly (no memory buffers copied through, one
read per readable event), the head is parsed from the received bytes (partial reads buffered),
the body taken by Content-Length, and one timer per connection, armed at most once per timeout
period, turns an answer that does not come in time into a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

from bench.loadresult import LoadResult, Outcome

HEAD_LIMIT = 1 << 20  # an answer head that does not end within this many bytes is malformed
READ_SIZE = 1 << 16  # more than a TLS record's plaintext: one read takes a whole record
EARLY = 0.002  # a timer may fire this much early (the loop's clock counts milliseconds)

Wire = tuple[bytes, bytes]  # (the encoded request, the uid its answer must carry)

# The outcomes as plain names: looking an enum member up on its class costs a little each time.
OK, SHED, HTTP_ERROR, BAD_RESPONSE = (
    Outcome.OK,
    Outcome.SHED,
    Outcome.HTTP_ERROR,
    Outcome.BAD_RESPONSE,
)
TIMEOUT, CLOSED = Outcome.TIMEOUT, Outcome.CLOSED
AGAIN = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError)


class Feed(Protocol):
    """Where a connection takes its requests and records their outcomes."""

    result: LoadResult

    def record(self, outcome: Outcome, begun: float) -> float:
        """Count a finished request begun at `begun`; returns the time (time.perf_counter)."""

    def take(self, now: float) -> Wire | None:
        """The next request to send at `now`; None when no more are to be sent."""


class Connection:
    """One connected socket; `send()` starts a request, and while answers come with the
    connection kept alive (and `keep_alive`), each answer is followed by the next request from
    `feed`. `closed` is done when the connection is closed, every request on it counted."""

    def __init__(
        self, feed: Feed, sock: socket.socket, *, timeout: float, keep_alive: bool
    ) -> None:
        self.feed = feed
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._read: Callable[[int], bytes]
        self._write: Callable[[bytes], int]
        if isinstance(sock, ssl.SSLSocket):
            self._read, self._write = sock.read, sock.write
        else:
            self._read, self._write = sock.recv, sock.send
        self._unsent = b""  # the request, or the rest of it, while the socket's buffer is full
        self._writing = False  # watching for the socket to take more
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = False  # a request was sent and its answer is not complete
        self._uid = b""
        self._begun = 0.0
        self._buffer = bytearray()  # the answer's bytes so far, when it came in pieces
        self._needed = -1  # length of head and body once the head is parsed, else -1
        self._body_at = 0
        self._status = 0
        self._server_closes = False
        self._loop.add_reader(self._fd, self._readable)

    def send(self, wire: Wire, begun: float) -> None:
        """Send a request begun at `begun`; on a connection already closed it fails as closed."""
        payload, self._uid = wire
        self._begun = begun
        self._waiting = True
        self._needed = -1
        if self._sock is None:
            self._lost(None)
            return
        if self._timer is None:
            self._timer = self._loop.call_later(self.timeout, self._expire)
        self._unsent = payload
        self._writable()

    def close(self) -> None:
        """Close (TLS: with the close_notify alert, not waiting for the server's); a request
        in flight fails as closed."""
        sock = self._sock
        if sock is None:
            return
        if isinstance(sock, ssl.SSLSocket):
            # The alert goes out; the server's is not awaited (or the server is gone already).
            with contextlib.suppress(OSError, ValueError):
                sock.unwrap()
        self._gone(None)

    # The socket

    def _readable(self) -> None:
        try:
            data = self._read(READ_SIZE)
        except AGAIN:
            return
        except OSError as error:
            self._gone(error)
            return
        if not data:
            self._gone(None)
        elif self._buffer:
            self._buffer += data
            self._parse(self._buffer)
        elif self._waiting:
            self._parse(data)
        # else nothing was asked: the rest of an answer that timed out

    def _writable(self) -> None:
        """Write what is unsent; while the socket's buffer is full, again when it drains."""
        unsent = self._unsent
        try:
            sent = self._write(unsent)
        except AGAIN:
            sent = 0
        except OSError as error:
            self._gone(error)
            return
        if sent == len(unsent):
            self._unsent = b""
            if self._writing:
                self._writing = False
                self._loop.remove_writer(self._fd)
            return
        if not self._tls:  # TLS retries the same write; a plain socket goes on after `sent`
            self._unsent = unsent[sent:]
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self._fd, self._writable)

    def _gone(self, error: OSError | None) -> None:
        """The connection ends: unwatched and closed; a request in flight is counted."""
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)
        sock.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiting:
            self._lost(error)
        if not self.closed.done():
            self.closed.set_result(None)

    def _parse(self, answer: bytes | bytearray) -> None:
        """Go on with the answer's bytes so far (`answer` is the buffer, or the first piece)."""
        needed = self._needed
        if needed < 0:
            end = answer.find(b"\r\n\r\n")
            if end < 0:
                if len(answer) > HEAD_LIMIT:
                    self._fail(BAD_RESPONSE, f"no end of the answer's head in {HEAD_LIMIT} bytes")
                elif not self._buffer:
                    self._buffer += answer
                return
            try:
                self._status, length, self._server_closes = parse_head(bytes(answer[:end]))
            except ValueError as error:
                self._fail(BAD_RESPONSE, f"ValueError: {error}"[:120])
                return
            self._body_at = end + 4
            self._needed = needed = end + 4 + length
        if len(answer) < needed:
            if not self._buffer:
                self._buffer += answer
            return
        if self._buffer:
            self._buffer = bytearray()
        self._answered(answer, self._body_at, needed)

    def _answered(self, answer: bytes | bytearray, body_at: int, end: int) -> None:
        """Classify a complete answer (its body is answer[body_at:end]), then send the next
        request on this connection, or close it."""
        status = self._status
        result = self.feed.result
        result.statuses[status] += 1
        if status == 200:
            uid = self._uid
            if uid and answer.find(uid, body_at, end) < 0:
                result.error_details["answer without the request's uid"] += 1
                outcome = BAD_RESPONSE
            elif answer.find(b'"allowed":false', body_at, end) < 0:
                outcome = OK
            elif answer.find(b'"code":429', body_at, end) >= 0:
                outcome = SHED
            else:
                result.denied += 1
                outcome = OK
        elif status == 429 or status == 503:
            outcome = SHED
        else:
            body = bytes(answer[body_at : min(end, body_at + 80)])
            result.error_details[f"HTTP {status}: {body!r}"] += 1
            outcome = HTTP_ERROR
        self._waiting = False
        feed = self.feed
        now = feed.record(outcome, self._begun)
        if self.keep_alive and not self._server_closes and not self._unsent:
            wire = feed.take(now)
            if wire is not None:
                self.send(wire, now)
                return
        self.close()

    def _fail(self, outcome: Outcome, detail: str) -> None:
        """Count the request in flight as failed and close the connection."""
        self._waiting = False
        if self._buffer:
            self._buffer = bytearray()
        self.feed.result.error_details[detail] += 1
        self.feed.record(outcome, self._begun)
        self.close()

    def _lost(self, exc: Exception | None) -> None:
        """The connection ended before the answer did: closed, or a TLS or socket error."""
        if exc is None or isinstance(exc, ConnectionError):
            name = "IncompleteReadError" if exc is None else type(exc).__name__
            self._fail(CLOSED, f"closed: {name}")
        else:
            self._fail(BAD_RESPONSE, f"{type(exc).__name__}: {exc}"[:120])

    def _expire(self) -> None:
        """The connection's timer: a timeout when the answer is late, else armed again for the
        request in flight (at most one timer per timeout period, whatever the request rate)."""
        self._timer = None
        if not self._waiting:
            return
        left = self._begun + self.timeout - time.perf_counter()
        if left <= EARLY:
            self._fail(TIMEOUT, "timeout")
        else:
            self._timer = self._loop.call_later(left, self._expire)


async def connect(
    feed: Feed,
    address: tuple[socket.AddressFamily, tuple[Any, ...]],
    context: ssl.SSLContext | None,
    server_name: str | None,
    *,
    timeout: float,
    keep_alive: bool,
) -> Connection:
    """A connection to `address` (family, address), with TLS when `context` is given.

    Raises OSError (ssl.SSLError among them: for a certificate not trusted too).
    """
    loop = asyncio.get_running_loop()
    family, where = address
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, where)
        if context is not None:
            sock = context.wrap_socket(
                sock, server_hostname=server_name, do_handshake_on_connect=False
            )
            await _handshake(sock)
    except BaseException:
        sock.close()
        raise
    return Connection(feed, sock, timeout=timeout, keep_alive=keep_alive)


async def _handshake(sock: ssl.SSLSocket) -> None:
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            await _ready(sock.fileno(), write=False)
        except ssl.SSLWantWriteError:
            await _ready(sock.fileno(), write=True)


async def _ready(fd: int, *, write: bool) -> None:
    """Until the socket `fd` can be read (or written, with `write`)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, content length, whether the server closes) of an HTTP/1.1 answer's head.

    Raises ValueError for a status line without a number or a bad Content-Length.
    """
    code = head[9:12]
    if head.startswith(b"HTTP/1.1 ") and code.isdigit() and head[12:13] in (b" ", b"\r", b""):
        status = int(code)
    else:
        status = _status(head)
    lower = head.lower()
    length = 0
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 17)
        length = int(head[at + 17 : end if end >= 0 else len(head)])
        if length < 0:
            raise ValueError(f"negative Content-Length {length}")
    at = lower.find(b"\r\nconnection:")
    if at < 0:
        return status, length, False
    end = lower.find(b"\r\n", at + 13)
    return status, length, lower[at + 13 : end if end >= 0 else len(lower)].strip() == b"close"


def _status(head: bytes) -> int:
    """The status of any status line ("HTTP/x.y NNN reason"); raises ValueError."""
    first = head.find(b"\r\n")
    status_line = head if first < 0 else head[:first]
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ValueError(f"not an HTTP status line: {status_line[:40]!r}")
    return int(parts[1])

"""The load generator's connection against a scripted HTTP/1.1 server: answers in pieces, shed
and error answers, a server that closes or stalls, malformed heads; and its head parser."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.loadconnection import parse_head
from bench.loadgen import LoadGenerator, Outcome, Request, Target
from tests.webhook_server import write_certificates
from webhook import tls

UID = "4b6b5d1c-2f57-4f7e-9a59-2d0d2c1f6a3e"
SERVER_NAME = "policy-webhook.policy-webhook.svc"
BIG = b"{" + b" " * (16 << 20) + b"}"  # more than the sockets' buffers hold


def answer(status: str, body: bytes, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "content-type: application/json", *extra]
    head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def review(uid: str, allowed: str = "true", code: int = 200) -> bytes:
    return (
        '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":'
        f'{{"uid":"{uid}","allowed":{allowed},"status":{{"code":{code}}}}}}}'
    ).encode()


ANSWERS = {
    "/ok": answer("200 OK", review(UID)),
    "/denied": answer("200 OK", review(UID, "false", 403)),
    "/shed-review": answer("200 OK", review(UID, "false", 429)),
    "/429": answer("429 Too Many Requests", b"busy"),
    "/503": answer("503 Service Unavailable", b"busy"),
    "/500": answer("500 Internal Server Error", b"broken"),
    "/other-uid": answer("200 OK", review("another-uid")),
    "/malformed": b"HTTP/1.1 two-hundred OK\r\ncontent-length: 0\r\n\r\n",
    "/bad-length": b"HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\n",
    "/connection-close": answer("200 OK", review(UID), "connection: close"),
}


class ScriptedServer(socketserver.ThreadingTCPServer):
    """Answers by the request's path, over TLS when given a context; counts connections and
    remembers request heads."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, context: ssl.SSLContext | None, ca_file: Path | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.context = context
        self.ca_file = ca_file  # what a client verifies the server with
        self.connections = 0
        self.heads: list[bytes] = []
        self.lock = threading.Lock()

    def server_bind(self) -> None:
        # A small receive buffer (inherited by accepted sockets, and not grown by the kernel):
        # a request of BIG bytes fills the buffers on both sides while the server reads nothing.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        super().server_bind()


class Handler(socketserver.StreamRequestHandler):
    server: ScriptedServer

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.context is not None:
            self.request = self.server.context.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.request.close()  # the TLS socket: the server closes only the one it accepted

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
        # The client may close with part of its request unread (after an early answer).
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            self.serve()

    def serve(self) -> None:
        while request_line := self.rfile.readline():
            if not request_line.startswith(b"POST /") or not request_line.endswith(
                b" HTTP/1.1\r\n"
            ):
                return  # not a request line: the stream is out of step
            head = [request_line]
            length = 0
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                head.append(line)
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            with self.server.lock:
                self.server.heads.append(b"".join(head))
            path = request_line.split()[1].decode()
            if path == "/no-read":
                time.sleep(1)  # reads nothing of the body, and answers nothing
                return
            if path == "/early":  # answers before it reads the body, then reads it
                self.wfile.write(ANSWERS["/ok"])
                time.sleep(0.3)  # the client has the answer while its request is not all sent
                path = "/read-only"
            if path == "/slow-read":
                time.sleep(0.2)  # the client's writes wait until the body is read
                path = "/ok"
            self.rfile.read(length)
            if path == "/read-only":
                continue
            if path == "/close":
                return  # closes without an answer
            if path == "/stall":
                self.rfile.read()  # never answers; returns when the client closes
                return
            if path == "/pieces":  # the head and the body split across several writes
                whole = ANSWERS["/ok"]
                for start in range(0, len(whole), 40):
                    self.wfile.write(whole[start : start + 40])
                    time.sleep(0.002)
                continue
            self.wfile.write(ANSWERS[path])
            if path in ("/malformed", "/bad-length", "/connection-close"):
                return


@pytest.fixture(scope="module", params=["plain", "tls"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScriptedServer]:
    context, ca_file = None, None
    if request.param == "tls":
        certificates = tmp_path_factory.mktemp("certs")
        write_certificates(certificates)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificates / tls.CERT_FILE, certificates / tls.KEY_FILE)
        ca_file = certificates / tls.CA_FILE
    scripted = ScriptedServer(context, ca_file)
    thread = threading.Thread(target=scripted.serve_forever, daemon=True)
    thread.start()
    try:
        yield scripted
    finally:
        scripted.shutdown()
        scripted.server_close()


def target(server: ScriptedServer) -> Target:
    return Target(port=server.server_address[1], server_name=SERVER_NAME, ca_file=server.ca_file)


def run(
    server: ScriptedServer,
    path: str,
    *,
    body: bytes = b'{"request":{}}',
    timeout: float = 10.0,
    new_connections: bool = False,
) -> tuple[list[Outcome], int]:
    """Three requests to `path` on one caller: their outcomes and the connections opened."""
    before = server.connections
    generator = LoadGenerator(
        target(server),
        [Request(path=path, body=body, uid=UID)],
        total=3,
        timeout=timeout,
        new_connection_per_request=new_connections,
    )
    result = generator.run()
    return [Outcome(outcome) for outcome in result.outcomes], server.connections - before


@pytest.mark.parametrize(
    ("path", "outcome", "connections"),
    [
        ("/ok", Outcome.OK, 1),
        ("/pieces", Outcome.OK, 1),
        ("/denied", Outcome.OK, 1),
        ("/shed-review", Outcome.SHED, 1),
        ("/429", Outcome.SHED, 1),
        ("/503", Outcome.SHED, 1),
        ("/500", Outcome.HTTP_ERROR, 1),
        ("/other-uid", Outcome.BAD_RESPONSE, 1),
        ("/malformed", Outcome.BAD_RESPONSE, 3),
        ("/bad-length", Outcome.BAD_RESPONSE, 3),
        ("/connection-close", Outcome.OK, 3),
        ("/close", Outcome.CLOSED, 3),
    ],
)
def test_answers_are_classified(
    server: ScriptedServer, path: str, outcome: Outcome, connections: int
) -> None:
    assert run(server, path) == ([outcome] * 3, connections)


def test_denials_and_statuses_are_counted(server: ScriptedServer) -> None:
    requests = [
        Request(path=path, body=b"{}", uid=UID) for path in ("/ok", "/denied", "/429", "/500")
    ]
    result = LoadGenerator(target(server), requests, total=8).run()
    assert result.denied == 2
    assert result.statuses == {200: 4, 429: 2, 500: 2}
    assert (result.ok, result.shed, result.errors) == (4, 2, 2)
    assert any(detail.startswith("HTTP 500: b'broken'") for detail in result.error_details)


def test_a_stalling_server_times_out(server: ScriptedServer) -> None:
    outcomes, connections = run(server, "/stall", timeout=0.2)
    assert (outcomes, connections) == ([Outcome.TIMEOUT] * 3, 3)


def test_a_request_larger_than_the_socket_buffers_is_sent_as_the_server_reads(
    server: ScriptedServer,
) -> None:
    assert run(server, "/slow-read", body=BIG) == ([Outcome.OK] * 3, 1)


def test_an_answer_before_the_whole_request_was_sent_ends_the_connection(
    server: ScriptedServer,
) -> None:
    assert run(server, "/early", body=BIG) == ([Outcome.OK] * 3, 3)


def test_a_server_that_reads_nothing_times_out(server: ScriptedServer) -> None:
    outcomes, connections = run(server, "/no-read", body=BIG, timeout=0.2)
    assert (outcomes, connections) == ([Outcome.TIMEOUT] * 3, 3)


def test_a_new_connection_per_request_asks_the_server_to_close(server: ScriptedServer) -> None:
    heads = len(server.heads)
    assert run(server, "/ok", new_connections=True) == ([Outcome.OK] * 3, 3)
    assert all(b"Connection: close\r\n" in head for head in server.heads[heads:])


def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = LoadGenerator(Target(port=port), [Request("/ok", b"{}")], total=2).run()
    assert [Outcome(outcome) for outcome in result.outcomes] == [Outcome.CONNECT_ERROR] * 2


@pytest.mark.parametrize(
    ("head", "parsed"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close", (200, 12, True)),
        (b"HTTP/1.1 429 Too Many\r\ncontent-length:0\r\nconnection: keep-alive", (429, 0, False)),
        (b"HTTP/1.1 204", (204, 0, False)),
        (b"HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\nCONTENT-LENGTH:  7 ", (200, 7, False)),
    ],
)
def test_heads_are_parsed(head: bytes, parsed: tuple[int, int, bool]) -> None:
    assert parse_head(head) == parsed


@given(st.binary(max_size=200))
def test_any_head_parses_or_fails_with_a_value_error(head: bytes) -> None:
    try:
        status, length, close = parse_head(head)
    except ValueError:
        return
    assert length >= 0 and isinstance(status, int) and isinstance(close, bool)

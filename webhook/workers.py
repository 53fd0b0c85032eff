"""Worker processes: the listening sockets and a supervisor that forks, restarts and stops workers.

With several workers each has its own listening socket on the same address (SO_REUSEPORT), so
the kernel spreads the API server's keep-alive connections evenly over them. The supervisor
forwards SIGTERM/SIGINT to the workers (each drains its requests) and starts a new worker when
one dies while serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

LOG = logging.getLogger("policy_webhook.workers")
BACKLOG = 2048
RESTART_DELAY = 1.0  # seconds before a worker that died is replaced (no busy crash loop)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Serve = Callable[[socket.socket], int]  # serves on a listening socket until stopped; exit code


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to host:port and listening; raises OSError (e.g. address in use)."""
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def supervise(
    *,
    host: str,
    port: int,
    workers: int,
    serve: Serve,
    on_exit: Callable[[int], None] = lambda pid: None,
) -> int:
    """Run `serve` in `workers` forked processes until SIGTERM/SIGINT; 0 when they stopped.

    Raises OSError when the sockets cannot be bound. `on_exit(pid)` runs for every worker
    that ended. Call before any thread or event loop exists in this process.
    """
    sockets = [listening_socket(host, port, reuse_port=True) for _ in range(workers)]
    children: dict[int, int] = {}  # pid -> worker number
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            _signal(pid, signum)

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        for number, sock in enumerate(sockets):
            children[_fork(number, sock, serve)] = number
            sock.close()
        LOG.info("workers started", extra={"fields": {"workers": sorted(children)}})
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            number_or_none = children.pop(pid, None)
            if number_or_none is None:
                continue
            on_exit(pid)
            if stopping:
                continue
            LOG.error(
                "worker exited; starting a new one",
                extra={"fields": {"pid": pid, "status": os.waitstatus_to_exitcode(status)}},
            )
            time.sleep(RESTART_DELAY)
            if stopping:
                continue
            sock = listening_socket(host, port, reuse_port=True)
            children[_fork(number_or_none, sock, serve)] = number_or_none
            sock.close()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


def _fork(number: int, sock: socket.socket, serve: Serve) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the worker: never returns into the supervisor's code
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        code = serve(sock)
    except BaseException:
        LOG.exception("worker failed", extra={"fields": {"worker": number}})
    finally:
        logging.shutdown()
        os._exit(code)
    return 0  # not reached


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)

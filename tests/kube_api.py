"""A Kubernetes API server for namespaces, for tests: HTTPS on 127.0.0.1 with a generated CA,
bearer tokens, and the core v1 shapes of the real one.

- `GET /api/v1/namespaces` lists (NamespaceList with metadata.resourceVersion; `limit` and
  `continue` paginate), with `watch=true` it streams watch events, one JSON object per line
  (ADDED, MODIFIED, DELETED, BOOKMARK when allowWatchBookmarks, and an ERROR Status 410 for a
  resourceVersion older than the history kept, as the API server does: HTTP 200, then ERROR).
- `GET /api/v1/namespaces/NAME` answers the Namespace, or a 404 Status.
- A missing or unknown bearer token is a 401 Status. The files a pod would have (token,
  ca.crt, namespace) are written to `account`.
Test controls: create/update/delete, hold watch delivery, end watches, compact the history,
send bookmarks, stall requests, change the accepted tokens, stop and start.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.webhook_server import free_port
from webhook import tls

JSONObject = dict[str, Any]
CREATED = "2024-05-02T09:14:03Z"
PATH = "/api/v1/namespaces"
STALL_LIMIT = 60.0  # a stalled request is given up (connection closed) after this long


def status(code: int, reason: str, message: str) -> JSONObject:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    token: str


class KubeApi:
    """The server and its state; every method is thread-safe."""

    def __init__(self, account: Path, *, token: str = "token-1") -> None:
        self.account = account
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        ca = tls.generate_ca(common_name="kubernetes test CA")
        serving = tls.generate_serving_certificate(
            ca, dns_names=["kubernetes.default.svc"], ip_addresses=["127.0.0.1"]
        )
        account.mkdir(parents=True, exist_ok=True)
        tls.write_bundle(account / "server", ca=ca, serving=serving)
        (account / "ca.crt").write_bytes(ca.certificate_pem())
        (account / "token").write_text(token)
        (account / "namespace").write_text("policy-webhook")
        self.tokens = {token}
        self.condition = threading.Condition()
        self.version = 100
        self.namespaces: dict[str, JSONObject] = {}
        self.events: list[tuple[int, str, JSONObject]] = []
        self.oldest = 0  # events older than this were compacted away
        self.held = False  # watch events are recorded but not sent while held
        self.generation = 0  # bumped to end every open watch
        self.stalled: set[str] = set()  # "get", "list", "watch": requests that hang
        self.seen: list[Seen] = []
        self.sent: list[tuple[str, int]] = []  # (type, resourceVersion) written to a watch
        self._server: ThreadingHTTPServer | None = None

    @property
    def ca_file(self) -> Path:
        return self.account / "ca.crt"

    @property
    def token_file(self) -> Path:
        return self.account / "token"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        context = tls.server_context(
            self.account / "server" / tls.CERT_FILE, self.account / "server" / tls.KEY_FILE
        )
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.condition:
            self.generation += 1
            self.stalled.clear()
            self.condition.notify_all()

    # --- the cluster's namespaces ----------------------------------------------------------

    def _record(self, kind: str, obj: JSONObject) -> None:
        self.events.append((self.version, kind, obj))
        self.condition.notify_all()

    def _object(self, name: str, labels: dict[str, str], uid: str) -> JSONObject:
        self.version += 1
        return {
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "uid": uid,
                "resourceVersion": str(self.version),
                "creationTimestamp": CREATED,
                "labels": {"kubernetes.io/metadata.name": name, **labels},
                "managedFields": [
                    {
                        "manager": "kubectl-create",
                        "operation": "Update",
                        "apiVersion": "v1",
                        "time": CREATED,
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}},
                    }
                ],
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def create(self, name: str, **labels: str) -> None:
        with self.condition:
            obj = self._object(name, labels, str(uuid.uuid4()))
            self.namespaces[name] = obj
            self._record("ADDED", obj)

    def update(self, name: str, **labels: str) -> None:
        with self.condition:
            obj = self._object(name, labels, self.namespaces[name]["metadata"]["uid"])
            self.namespaces[name] = obj
            self._record("MODIFIED", obj)

    def delete(self, name: str) -> None:
        with self.condition:
            obj = json.loads(json.dumps(self.namespaces.pop(name)))
            self.version += 1
            obj["metadata"]["resourceVersion"] = str(self.version)
            obj["metadata"]["deletionTimestamp"] = CREATED
            obj["spec"] = {}
            obj["status"] = {"phase": "Terminating"}
            self._record("DELETED", obj)

    # --- watch controls --------------------------------------------------------------------

    def hold(self, held: bool) -> None:
        with self.condition:
            self.held = held
            self.condition.notify_all()

    def end_watches(self) -> None:
        with self.condition:
            self.generation += 1
            self.condition.notify_all()

    def compact(self) -> None:
        """Forget the history: a watch from any version seen so far gets 410 Expired."""
        with self.condition:
            self.version += 1
            self.oldest = self.version
            self.events.clear()

    def bookmark(self) -> int:
        """Send open watches a BOOKMARK at the current version; returns that version."""
        with self.condition:
            self.version += 1
            bookmark = {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {
                    "resourceVersion": str(self.version),
                    "creationTimestamp": None,
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
                "spec": {},
                "status": {},
            }
            self._record("BOOKMARK", bookmark)
            return self.version

    def stall(self, *kinds: str) -> None:
        with self.condition:
            self.stalled = set(kinds)
            self.condition.notify_all()

    def was_sent(self, kind: str, version: int) -> bool:
        """Whether an event of `kind` at `version` was written to a watch stream."""
        with self.condition:
            return (kind, version) in self.sent

    def requests(self, kind: str) -> list[Seen]:
        """What was asked: "get" (by name), "list" or "watch"."""
        with self.condition:
            return [seen for seen in self.seen if _kind(seen) == kind]

    # --- answers ---------------------------------------------------------------------------

    def list_page(self, query: dict[str, str]) -> tuple[int, JSONObject]:
        with self.condition:
            names = sorted(self.namespaces)
            start, version = 0, self.version
            if "continue" in query:
                start_text, _, version_text = query["continue"].partition(":")
                start, version = int(start_text), int(version_text)
                if version < self.oldest:
                    return 410, status(410, "Expired", "The provided continue parameter is too old")
            limit = int(query.get("limit", "0") or 0) or len(names)
            items = []
            for name in names[start : start + limit]:
                item = dict(self.namespaces[name])
                del item["kind"], item["apiVersion"]  # items of a list carry neither
                items.append(item)
            metadata: JSONObject = {"resourceVersion": str(version)}
            if start + limit < len(names):
                metadata["continue"] = f"{start + limit}:{version}"
            return 200, {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": metadata,
                "items": items,
            }

    def news(self, position: int, generation: int) -> bool:
        """Whether a watch at `position` has events to send, or must end (hold the lock)."""
        if self.generation != generation:
            return True
        return not self.held and any(version > position for version, _, _ in self.events)

    def wait_unstalled(self, kind: str) -> bool:
        """Block while `kind` is stalled; False when the request should be dropped."""
        with self.condition:
            return self.condition.wait_for(lambda: kind not in self.stalled, STALL_LIMIT)


def _kind(seen: Seen) -> str:
    if seen.path != PATH:
        return "get"
    return "watch" if seen.query.get("watch") in ("true", "1") else "list"


def _handler(api: KubeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            header = self.headers.get("Authorization", "")
            token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
            seen = Seen(url.path, query, token)
            with api.condition:
                api.seen.append(seen)
            if token not in api.tokens:
                self._send(401, status(401, "Unauthorized", "Unauthorized"))
                return
            kind = _kind(seen)
            # A GET is read first and then held: a stalled answer is what was true back then.
            answer = self._get(url.path.removeprefix(PATH + "/")) if kind == "get" else None
            if not api.wait_unstalled(kind):
                self.close_connection = True
                return
            if answer is not None:
                self._send(*answer)
            elif kind == "watch":
                self._watch(query)
            else:
                self._send(*api.list_page(query))

        def _get(self, name: str) -> tuple[int, JSONObject]:
            with api.condition:
                found = api.namespaces.get(name)
            if found is None:
                answer = status(404, "NotFound", f'namespaces "{name}" not found')
                answer["details"] = {"name": name, "kind": "namespaces"}
                return 404, answer
            return 200, found

        def _send(self, code: int, body: JSONObject) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _chunk(self, event: JSONObject) -> None:
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def _watch(self, query: dict[str, str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            bookmarks = query.get("allowWatchBookmarks") == "true"
            timeout = min(float(query.get("timeoutSeconds", "60")), 60.0)
            with api.condition:
                position = int(query.get("resourceVersion") or api.version)
                generation = api.generation
                expired = position < api.oldest
            try:
                if expired:
                    message = f"too old resource version: {position} ({api.oldest})"
                    self._chunk({"type": "ERROR", "object": status(410, "Expired", message)})
                else:
                    self._stream(position, generation, bookmarks, timeout)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass  # the client went away
            self.close_connection = True

        def _stream(self, position: int, generation: int, bookmarks: bool, timeout: float) -> None:
            while True:
                with api.condition:
                    ready = api.condition.wait_for(
                        functools.partial(api.news, position, generation), timeout
                    )
                    if not ready or api.generation != generation:
                        return
                    pending = [event for event in api.events if event[0] > position]
                for version, kind, obj in pending:
                    position = version
                    if kind != "BOOKMARK" or bookmarks:
                        self._chunk({"type": kind, "object": obj})
                        with api.condition:
                            api.sent.append((kind, version))

    return Handler

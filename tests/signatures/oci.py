"""A real OCI registry for tests and benchmarks: Debian's docker-registry on a loopback port.

Installs the package when missing, writes a config (filesystem storage in a temp directory,
optional TLS and token auth), starts the registry, pushes blobs and manifests, and counts the
requests it served from its access log.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

PACKAGE = "docker-registry"
_ACCESS = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/\S*) HTTP/[\d.]+" (\d{3})')


def registry_binary() -> str:
    """The docker-registry binary, installed with apt-get when it is missing."""
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if os.path.exists("/usr/bin/docker-registry") else None
    )
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", PACKAGE], check=True, env=env)
    return shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha256_digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


@dataclass(frozen=True, slots=True)
class TokenAuth:
    realm: str
    service: str
    issuer: str
    root_bundle: Path


@dataclass
class RegistryServer:
    """A running registry; `host` is what image references name (`127.0.0.1:PORT`)."""

    host: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    ca_file: Path | None = None
    _log_offset: int = field(default=0)

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request served since the last `mark()`."""
        text = self.log.read_bytes()[self._log_offset :].decode("utf-8", "replace")
        return [(m, p, int(s)) for m, p, s in _ACCESS.findall(text)]

    def mark(self) -> None:
        """Start counting requests from now on."""
        self._log_offset = self.log.stat().st_size

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(
    workdir: Path,
    *,
    tls: tuple[Path, Path, Path] | None = None,  # (certificate, key, CA that signed them)
    token: TokenAuth | None = None,
    htpasswd: Path | None = None,
) -> RegistryServer:
    """Start docker-registry on a free loopback port; raises RuntimeError if it does not come up."""
    binary = registry_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": "policy-webhook-tests"}
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}},
        "http": http,
    }
    if token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.root_bundle),
            }
        }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "policy-webhook-tests", "path": str(htpasswd)}}
    config_path = workdir / "config.yml"
    config_path.write_text(yaml.safe_dump(config))
    log = workdir / "registry.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [binary, "serve", str(config_path)], stdout=output, stderr=subprocess.STDOUT
        )
    scheme = "https" if tls else "http"
    server = RegistryServer(
        host=f"127.0.0.1:{port}",
        url=f"{scheme}://127.0.0.1:{port}",
        process=process,
        log=log,
        ca_file=tls[2] if tls else None,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            answer = httpx.get(f"{server.url}/v2/", verify=client_context(server.ca_file))
            if answer.status_code in (200, 401):
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"docker-registry did not come up: {log.read_text()[-2000:]}")


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class Pusher:
    """Uploads blobs and manifests with the distribution API (what `docker push` does)."""

    def __init__(
        self, server: RegistryServer, *, token: str | None = None, basic: str | None = None
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if basic:
            headers = {"Authorization": f"Basic {basic}"}
        self.server = server
        self.http = httpx.Client(
            base_url=server.url,
            headers=headers,
            verify=client_context(server.ca_file),
            timeout=10,
        )

    def close(self) -> None:
        self.http.close()

    def blob(self, repository: str, content: bytes) -> str:
        digest = sha256_digest(content)
        if self.http.head(f"/v2/{repository}/blobs/{digest}").status_code == 200:
            return digest
        started = self.http.post(f"/v2/{repository}/blobs/uploads/")
        started.raise_for_status()
        location = httpx.URL(started.headers["Location"]).copy_add_param("digest", digest)
        done = self.http.put(
            location,
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )
        done.raise_for_status()
        return digest

    def manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> str:
        answer = self.http.put(
            f"/v2/{repository}/manifests/{reference}",
            content=content,
            headers={"Content-Type": media_type},
        )
        answer.raise_for_status()
        return sha256_digest(content)

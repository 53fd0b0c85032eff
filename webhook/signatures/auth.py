"""Registry authentication: credentials from a dockerconfigjson file and the challenge flow.

A 401 answer names its scheme in `WWW-Authenticate`: `Basic` gets the stored credentials,
`Bearer realm=...,service=...,scope=...` gets a token from the realm (anonymous, or with the
stored credentials), as the Docker registry token specification describes.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")
_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str

    def basic_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lower case
    params: dict[str, str]


class _Auth(msgspec.Struct, omit_defaults=True):
    auth: str = ""
    username: str = ""
    password: str = ""


class _DockerConfig(msgspec.Struct):
    auths: dict[str, _Auth] = {}


def _host_of(key: str) -> str:
    host = key.split("://", 1)[-1]
    return host.split("/", 1)[0]


def load_docker_config(path: str) -> dict[str, Credentials]:
    """Credentials by registry host from a dockerconfigjson file; raises OSError or ValueError."""
    try:
        config = msgspec.json.decode(Path(path).read_bytes(), type=_DockerConfig)
    except msgspec.DecodeError as error:
        raise ValueError(f"{path}: not a dockerconfigjson file: {error}") from None
    found: dict[str, Credentials] = {}
    for key, entry in config.auths.items():
        username, password = entry.username, entry.password
        if entry.auth:
            try:
                decoded = base64.b64decode(entry.auth, validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise ValueError(f"{path}: auth of {key!r} is not base64 user:password") from None
            username, _, password = decoded.partition(":")
        if username:
            host = _host_of(key)
            found[host] = Credentials(username, password)
            if key in DOCKER_HUB_KEYS:
                found["docker.io"] = Credentials(username, password)
    return found


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` header, or None when there is none."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    return Challenge(scheme=scheme.lower(), params=dict(_PARAM.findall(rest)))

"""The webhook's settings: one frozen object built from flags, then environment, then defaults.

Nothing else in the package reads os.environ. Every flag `--some-name` has the environment
variable `POLICY_WEBHOOK_SOME_NAME`; lists in variables are comma-separated. In a pod,
`--kube-api` defaults to the API server that KUBERNETES_SERVICE_HOST/PORT name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from webhook.errors import SettingsError

ENV_PREFIX = "POLICY_WEBHOOK_"
DEFAULT_NAMESPACE = "policy-webhook"
DEFAULT_SERVICE_ACCOUNT = "policy-webhook"
DEFAULT_EXCLUDED_NAMESPACES = ("kube-system",)
# The API server keeps idle webhook connections for 90 s; closing them first would race it.
DEFAULT_KEEP_ALIVE_SECONDS = 120
# object + oldObject may each be up to the API server's 3 MiB request limit.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# Requests a worker holds at once (read, not yet answered); more are shed at once with the
# failure mode's answer, so an overload never turns into the API server's timeouts.
DEFAULT_MAX_IN_FLIGHT = 512
# Where kubelet mounts the pod's service account token (a bound token that it rotates) and
# the cluster's CA bundle.
SERVICE_ACCOUNT_DIRECTORY = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Off switch of --kube-api (e.g. in a cluster, without RBAC to read namespaces).
KUBE_API_OFF = ("off", "none", "")


class FailureMode(StrEnum):
    """How an internal error while evaluating is answered."""

    DENY = "deny"  # allowed: false with the reason
    ALLOW = "allow"  # allowed: true with a warning


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    policies: tuple[Path, ...] = (Path("policies"),)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    host: str = "0.0.0.0"
    port: int = 8443
    namespace: str = DEFAULT_NAMESPACE  # the webhook's own namespace: always admitted
    service_account: str = DEFAULT_SERVICE_ACCOUNT  # its own service account: always admitted
    exclude_namespaces: tuple[str, ...] = DEFAULT_EXCLUDED_NAMESPACES
    failure_mode: FailureMode = FailureMode.DENY
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    timeout_seconds: float = 4.0  # deadline of the I/O done before evaluation
    keep_alive_seconds: int = DEFAULT_KEEP_ALIVE_SECONDS
    reload_interval: float = 2.0  # how often policy and certificate files are checked
    shutdown_seconds: int = 20  # in-flight requests get this long to finish on SIGTERM
    # On SIGTERM, /readyz fails at once but requests are still served this long, so the
    # Service stops routing here before the server stops accepting.
    drain_seconds: float = 5.0
    client_ca: Path | None = None  # when set, only clients with a certificate from it may call
    workers: int = 1  # server processes; one per core the webhook may use
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # per worker; excess requests are shed
    log_level: str = "info"
    # The Kubernetes API that namespace labels come from (LIST + WATCH, GET on a miss); None:
    # only the labels of Namespaces this process admitted are known.
    kube_api: str | None = None
    kube_api_detected: bool = False  # kube_api comes from KUBERNETES_SERVICE_HOST/PORT
    kube_token: Path = SERVICE_ACCOUNT_DIRECTORY / "token"
    kube_ca: Path = SERVICE_ACCOUNT_DIRECTORY / "ca.crt"
    namespace_timeout_seconds: float = 0.5  # at most half of timeout_seconds (see below)
    excluded: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "excluded", frozenset((*self.exclude_namespaces, self.namespace)))

    @property
    def namespace_deadline(self) -> float:
        """Seconds a namespace lookup on a cache miss may take: taken out of the budget of
        lookups before evaluation, so at most half of it."""
        return min(self.namespace_timeout_seconds, self.timeout_seconds / 2)

    @property
    def signature_budget(self) -> float:
        """Seconds left for signature lookups after a namespace lookup that took its whole
        deadline (the whole budget when no Kubernetes API is used)."""
        if self.kube_api is None:
            return self.timeout_seconds
        return self.timeout_seconds - self.namespace_deadline

    @property
    def own_user(self) -> str:
        """The username the webhook's own service account has in requests."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def _paths(text: str) -> tuple[Path, ...]:
    return tuple(Path(part) for part in text.split(",") if part)


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"{value} is not positive")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError(f"{value} is not a port")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"{value} is not positive")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"{value} is negative")
    return value


def _api_url(text: str) -> str | None:
    if text.strip().lower() in KUBE_API_OFF:
        return None
    url = text.strip().rstrip("/")
    if not url.startswith("https://") or len(url) <= len("https://"):
        raise ValueError("the Kubernetes API is reached over HTTPS: give https://HOST[:PORT]")
    return url


def in_cluster_api(environ: Mapping[str, str]) -> str | None:
    """The API server's URL inside a pod (from the variables kubelet sets), else None."""
    host = environ.get("KUBERNETES_SERVICE_HOST", "").strip()
    port = environ.get("KUBERNETES_SERVICE_PORT", "").strip()
    if not host or not port:
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _log_level(text: str) -> str:
    if text.lower() not in ("debug", "info", "warning", "error"):
        raise ValueError(f"{text!r} is not one of debug, info, warning, error")
    return text.lower()


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # the Settings field
    parse: Callable[[str], Any]  # text (from an environment variable) -> value
    help: str
    repeatable: bool = False  # a flag given several times; the variable is comma-separated
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.name.upper()


OPTIONS = (
    Option("policies", _paths, "policy file or directory (repeatable)", True, "PATH"),
    Option("tls_cert", Path, "serving certificate (PEM), reloaded when it changes", metavar="FILE"),
    Option("tls_key", Path, "its private key (PEM), reloaded when it changes", metavar="FILE"),
    Option("host", str, "address to listen on (default 0.0.0.0)"),
    Option("port", _port, "port to listen on (default 8443)"),
    Option("namespace", str, "the webhook's own namespace, always admitted"),
    Option("service_account", str, "the webhook's own service account, always admitted"),
    Option(
        "exclude_namespaces",
        _names,
        "namespace admitted without evaluation (repeatable; default kube-system)",
        True,
        "NAMESPACE",
    ),
    Option("failure_mode", FailureMode, "answer to an internal error: deny (default) or allow"),
    Option("max_body_bytes", _positive_int, "larger request bodies get HTTP 413"),
    Option("timeout_seconds", _positive_float, "deadline of lookups before evaluation"),
    Option("keep_alive_seconds", _positive_int, "idle keep-alive timeout (above 90 s)"),
    Option("reload_interval", _positive_float, "seconds between checks for changed files"),
    Option("shutdown_seconds", _positive_int, "grace period for in-flight requests on exit"),
    Option(
        "drain_seconds",
        _non_negative_float,
        "on SIGTERM, seconds /readyz fails while requests are still served (default 5)",
    ),
    Option(
        "client_ca",
        Path,
        "CA (PEM) that client certificates must chain to: only such clients may call",
        metavar="FILE",
    ),
    Option("log_level", _log_level, "debug, info, warning or error"),
    Option("workers", _positive_int, "server processes, one per core (default 1)"),
    Option(
        "kube_api",
        _api_url,
        "Kubernetes API for namespace labels (default in a pod: "
        "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT; off: none)",
        metavar="URL",
    ),
    Option("kube_token", Path, "service account token, re-read when it changes", metavar="FILE"),
    Option("kube_ca", Path, "CA bundle the Kubernetes API is verified with", metavar="FILE"),
    Option(
        "namespace_timeout_seconds",
        _positive_float,
        "deadline of a namespace lookup on a cache miss (default 0.5; at most half of "
        "--timeout-seconds, which it is taken from)",
    ),
    Option(
        "max_in_flight",
        _positive_int,
        f"requests a worker holds at once; more are shed (default {DEFAULT_MAX_IN_FLIGHT})",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add a flag per setting; defaults stay None so the environment can fill them in."""
    for option in OPTIONS:
        parser.add_argument(
            option.flag,
            dest=option.name,
            action="append" if option.repeatable else "store",
            default=None,
            metavar=option.metavar,
            help=f"{option.help} [env {option.variable}]",
        )


def from_arguments(arguments: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from parsed flags, then `environ` (also KUBERNETES_SERVICE_HOST/PORT for the
    API when `--kube-api` is not given); raises SettingsError naming the bad value."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        given: list[str] | str | None = getattr(arguments, option.name, None)
        source = option.flag
        if given is None and option.variable in environ:
            given, source = environ[option.variable], option.variable
        if given is None:
            continue
        try:
            if isinstance(given, list):
                values[option.name] = tuple(item for text in given for item in option.parse(text))
            else:
                values[option.name] = option.parse(given)
        except ValueError as error:
            raise SettingsError(f"{source}: invalid value {given!r}: {error}") from None
    if "kube_api" not in values:
        detected = in_cluster_api(environ)
        if detected is not None:
            values["kube_api"], values["kube_api_detected"] = detected, True
    return Settings(**values)

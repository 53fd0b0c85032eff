"""Structured logs: one JSON object per line; decisions carry their fields, never whole objects.

`log_decision` writes the line for one admission decision; `configure` installs the JSON
formatter on the root logger (the `serve` command calls it; tests may capture records). While
that handler is the only one, a decision line's struct is queued on it directly (the same line
the formatter writes, without a LogRecord per request); the lines queued within a few
milliseconds are encoded and written together (webhook.linebatch).
"""

from __future__ import annotations

import datetime
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from webhook.linebatch import LineHandler
from webhook.policy.compiled import PolicySet
from webhook.policy.exceptions import exception_counts

DECISIONS = logging.getLogger("policy_webhook.decisions")
_DECISIONS_NAME = DECISIONS.name
_INFO = logging.INFO
EXCEPTIONS = logging.getLogger("policy_webhook.exceptions")
_encoder = msgspec.json.Encoder()


class DecisionLine(msgspec.Struct, omit_defaults=True, gc=False):
    """The JSON line of one decision, in the formatter's field order. Not tracked by the
    garbage collector (cheaper to build, and no collection is counted towards): its lists
    hold strings and mappings of strings, never the line itself."""

    time: str
    level: str
    logger: str
    message: str
    uid: str
    endpoint: str
    kind: str
    namespace: str
    name: str
    operation: str
    user: str
    verdict: str
    failed: list[Mapping[str, str]]
    audit: list[str]
    duration_ms: float
    dry_run: bool
    patched: list[str] | None = None


class _Direct:
    """The handler `configure` installed, while it is the root logger's only one."""

    def __init__(self) -> None:
        self.handler: LineHandler | None = None
        self.handlers: list[logging.Handler] = []

    def install(self, handler: LineHandler) -> None:
        self.handler = handler
        self.handlers = [handler]


_direct = _Direct()


class _Clock:
    """The time of a decision line as the formatter writes it (UTC, milliseconds): formatted
    once per millisecond, the date and time of day once per second."""

    def __init__(self) -> None:
        # (milliseconds since the epoch, its text) and (second, its text without the
        # fraction): each pair replaced whole, so a thread never reads half of another's.
        self.last = (-1, "")
        self.last_second = (-1, "")
        self.suffixes = tuple(f".{millisecond:03d}+00:00" for millisecond in range(1000))

    def now(self) -> str:
        milliseconds = time.time_ns() // 1_000_000
        last = self.last
        if milliseconds == last[0]:
            return last[1]
        second, millisecond = divmod(milliseconds, 1000)
        last_second = self.last_second
        if second != last_second[0]:
            moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
            prefix = moment.isoformat(timespec="seconds").removesuffix("+00:00")
            last_second = self.last_second = (second, prefix)
        text = last_second[1] + self.suffixes[millisecond]
        self.last = (milliseconds, text)
        return text


_clock = _Clock()


def milliseconds(seconds: float) -> float:
    """`round(seconds * 1000, 3)`, without round's decimal conversion where its result is
    certain: the product scaled to microseconds is exact to far better than a thousandth
    below 1e12, so a fraction well away from a half rounds as the exact value does, and a
    whole number of microseconds divided by 1000 is the double nearest that decimal, as
    round's is."""
    value = seconds * 1000
    if 0.0 < value < 1e9:
        scaled = value * 1000.0
        whole = int(scaled)
        fraction = scaled - whole
        if fraction < 0.499:
            return whole / 1000
        if fraction > 0.501:
            return (whole + 1) / 1000
    return round(value, 3)


class JSONFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...fields}`; fields come from `extra={"fields":}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode("utf-8")


def configure(level: str) -> None:
    """Send every log record to stderr as a JSON line, at `level` and above."""
    handler = LineHandler(sys.stderr, encode_lines=_encoder.encode_lines)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _direct.install(handler)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def log_decision(
    uid: str,
    endpoint: str,
    kind: str,
    namespace: str,
    name: str,
    operation: str,
    user: str,
    verdict: str,
    failed: list[Mapping[str, str]],
    audit: list[str],
    duration: float,
    dry_run: bool,
    patched: list[str] | None = None,
) -> None:
    """One line per decision, its fields in line order; `failed` names policy, rule and mode
    of every failed rule; the lists are taken over (`patched` None when nothing was patched)."""
    if not DECISIONS.isEnabledFor(_INFO):
        return
    handler = _direct.handler
    if (  # configure's handler, while it is the root logger's only one (checked in line)
        handler is not None
        and logging.root.handlers == _direct.handlers
        and not DECISIONS.handlers
        and DECISIONS.propagate
        and handler.level <= _INFO
    ):
        # Positional: a Struct built from keywords costs several times more.
        line = DecisionLine(
            _clock.now(),
            "info",
            _DECISIONS_NAME,
            "decision",
            uid,
            endpoint,
            kind,
            namespace,
            name,
            operation,
            user,
            verdict,
            failed,
            audit,
            milliseconds(duration),
            dry_run,
            patched,
        )
        handler.queue(line)  # encoded with the others of its batch
        return
    fields: dict[str, Any] = {
        "uid": uid,
        "endpoint": endpoint,
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "operation": operation,
        "user": user,
        "verdict": verdict,
        "failed": failed,
        "audit": audit,
        "duration_ms": milliseconds(duration),
        "dry_run": dry_run,
    }
    if patched:
        fields["patched"] = patched
    DECISIONS.info("decision", extra={"fields": fields})


def log_exceptions(policies: PolicySet, today: datetime.date) -> None:
    """At load and reload: the active and expired exception counts, a warning per expired one."""
    if not policies.exceptions:
        return
    EXCEPTIONS.info(
        "policy exceptions loaded", extra={"fields": exception_counts(policies.exceptions, today)}
    )
    for exception in policies.expired_exceptions(today):
        EXCEPTIONS.warning(
            "policy exception expired; it no longer waives anything",
            extra={
                "fields": {
                    "exception": exception.name,
                    "owner": exception.waiver.owner,
                    "expires": exception.expires.isoformat(),
                    "source": f"{exception.source}:{exception.line}",
                    "waives": exception.waives(),
                }
            },
        )

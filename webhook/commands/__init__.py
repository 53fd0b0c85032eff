"""The subcommands of `policy-webhook`; each module has `register(subparsers)`."""

from __future__ import annotations

from types import ModuleType

from webhook.commands import certs, check, diff, serve, test

COMMANDS: tuple[ModuleType, ...] = (serve, check, test, diff, certs)

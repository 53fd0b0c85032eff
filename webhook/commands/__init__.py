"""The subcommands of `policy-webhook`; each module has `register(subparsers)`."""

from __future__ import annotations

from types import ModuleType

from webhook.commands import check, diff, test

COMMANDS: tuple[ModuleType, ...] = (check, diff, test)

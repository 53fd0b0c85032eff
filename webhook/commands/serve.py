"""`policy-webhook serve`: the admission webhook over HTTPS (see webhook.server)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from webhook.errors import SettingsError

EXIT_BAD_INPUT = 2

NAME = "serve"
HELP = "serve /validate and /mutate to the Kubernetes API server over HTTPS"


def register(subcommands: Any) -> None:
    from webhook import settings  # the server's settings, only for this command

    parser: argparse.ArgumentParser = subcommands.add_parser(
        NAME,
        help=HELP,
        description="Serve the admission webhook (HTTPS only, TLS 1.2+). Policies and the "
        "certificate are reloaded when their files change. Every flag can also be given as "
        "an environment variable.",
    )
    settings.add_arguments(parser)
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    # The server stack (FastAPI, uvicorn, TLS) is imported only by the command that serves.
    from webhook import logs, server, settings

    try:
        chosen = settings.from_arguments(arguments, os.environ)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if chosen.tls_cert is None or chosen.tls_key is None:
        print("error: --tls-cert and --tls-key are required", file=sys.stderr)
        return EXIT_BAD_INPUT
    logs.configure(chosen.log_level)
    return server.run(chosen)

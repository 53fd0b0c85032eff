"""`policy-webhook certs`: a CA and a serving certificate for the webhook's Service."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from webhook import tls

EXIT_BAD_INPUT = 2


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "certs",
        help="write ca.crt, tls.crt and tls.key for the webhook's Service",
        description="Generate a CA and a serving certificate (ECDSA P-256) whose names are "
        "NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local, localhost and 127.0.0.1.",
    )
    parser.add_argument("--service", required=True, metavar="NAME", help="the Service's name")
    parser.add_argument("--namespace", required=True, metavar="NS", help="its namespace")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument(
        "--days", type=int, default=tls.DEFAULT_DAYS, help="validity of the serving certificate"
    )
    parser.add_argument(
        "--keep-existing",
        action="store_true",
        help="keep the files in DIR when they are valid for these names for 30 more days",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    if arguments.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    names = [*tls.service_names(arguments.service, arguments.namespace), *tls.LOCAL_NAMES]
    out: Path = arguments.out
    if arguments.keep_existing and tls.bundle_is_usable(out, dns_names=names):
        print(f"kept the certificates in {out}", file=sys.stderr)
        return 0
    ca = tls.generate_ca(common_name=f"{arguments.service}.{arguments.namespace} webhook CA")
    serving = tls.generate_serving_certificate(
        ca, dns_names=names, ip_addresses=tls.LOCAL_ADDRESSES, days=arguments.days
    )
    try:
        tls.write_bundle(out, ca=ca, serving=serving)
    except OSError as error:
        print(f"error: cannot write to {out}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for name in (tls.CA_FILE, tls.CERT_FILE, tls.KEY_FILE):
        print(out / name)
    return 0

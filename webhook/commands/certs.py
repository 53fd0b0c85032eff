"""`policy-webhook certs`: a CA and a serving certificate for the webhook's Service, and the
webhook configurations with that CA as their caBundle (`--render-webhooks`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from webhook.cabundle import CABundleError, fill_ca_bundle
from webhook.yamldoc import YAMLDocumentError, iter_documents

EXIT_BAD_INPUT = 2
WEBHOOKS_FILE = "webhooks.yaml"

NAME = "certs"
HELP = "write ca.crt, tls.crt and tls.key for the webhook's Service"


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        NAME,
        help=HELP,
        description="Generate a CA and a serving certificate (ECDSA P-256) whose names are "
        "NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local, localhost and 127.0.0.1.",
    )
    parser.add_argument("--service", required=True, metavar="NAME", help="the Service's name")
    parser.add_argument("--namespace", required=True, metavar="NS", help="its namespace")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument(
        "--days", type=int, default=None, help="validity of the serving certificate"
    )
    parser.add_argument(
        "--keep-existing",
        action="store_true",
        help="keep the files in DIR when they are valid for these names for 30 more days",
    )
    parser.add_argument(
        "--render-webhooks",
        type=Path,
        metavar="FILE",
        help=f"also write DIR/{WEBHOOKS_FILE}: the webhook configurations in FILE (for example "
        "deploy/base/webhooks.yaml) with the CA as caBundle of every webhook calling the Service",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    # cryptography is imported only by the commands that make or load certificates.
    from webhook import tls

    days: int = tls.DEFAULT_DAYS if arguments.days is None else arguments.days
    if days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    manifests: list[Any] = []
    if arguments.render_webhooks is not None:
        try:
            manifests = _read_manifests(arguments.render_webhooks)
        except (OSError, UnicodeDecodeError, YAMLDocumentError) as error:
            print(f"error: cannot read {arguments.render_webhooks}: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    names = [*tls.service_names(arguments.service, arguments.namespace), *tls.LOCAL_NAMES]
    out: Path = arguments.out
    if arguments.keep_existing and tls.bundle_is_usable(out, dns_names=names):
        print(f"kept the certificates in {out}", file=sys.stderr)
        return _render_webhooks(arguments, manifests)
    ca = tls.generate_ca(common_name=f"{arguments.service}.{arguments.namespace} webhook CA")
    serving = tls.generate_serving_certificate(
        ca, dns_names=names, ip_addresses=tls.LOCAL_ADDRESSES, days=days
    )
    try:
        tls.write_bundle(out, ca=ca, serving=serving)
    except OSError as error:
        print(f"error: cannot write to {out}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for name in (tls.CA_FILE, tls.CERT_FILE, tls.KEY_FILE):
        print(out / name)
    return _render_webhooks(arguments, manifests)


def _read_manifests(path: Path) -> list[Any]:
    return [document.value for document in iter_documents(path.read_text(encoding="utf-8"))]


def _render_webhooks(arguments: argparse.Namespace, manifests: list[Any]) -> int:
    """Write DIR/webhooks.yaml when --render-webhooks was given; 0 or EXIT_BAD_INPUT."""
    if arguments.render_webhooks is None:
        return 0
    from webhook import tls

    out: Path = arguments.out
    try:
        rendered = fill_ca_bundle(
            manifests,
            ca_pem=(out / tls.CA_FILE).read_bytes(),
            service=arguments.service,
            namespace=arguments.namespace,
        )
    except CABundleError as error:
        print(f"error: {arguments.render_webhooks}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = yaml.safe_dump_all(rendered, sort_keys=False)
    try:
        tls.write_atomically(out / WEBHOOKS_FILE, text.encode("utf-8"))
    except OSError as error:
        print(f"error: cannot write to {out}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(out / WEBHOOKS_FILE)
    return 0

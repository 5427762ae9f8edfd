"""`flightsaga certs` and `flightsaga token`: the files that turn on TLS and API tokens.

With auth on, every call sends --token (default $FLIGHTSAGA_TOKEN); with TLS, the channel uses
TLS_CA_FILE (and TLS_CERT_FILE / TLS_KEY_FILE as the client certificate):
docs/security.md#transport.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli.common import EXIT_OK, EXIT_USAGE, Command, Subparsers
from sagakit.auth import new_token
from sagakit.config import ConfigError


def add_commands(sub: Subparsers) -> dict[str, Command]:
    ce = sub.add_parser(
        "certs",
        help="make a local CA and a certificate per service (development, tests, compose)",
        description="Writes DIR/ca.pem and, per name, DIR/NAME.pem + DIR/NAME-key.pem (common "
        "name = NAME; SANs: NAME, localhost, 127.0.0.1 and --host). An existing DIR/ca.pem + "
        "ca-key.pem is reused. Dev only: production certificates come from your own CA.",
    )
    ce.add_argument("dir", help="output folder (created)")
    ce.add_argument(
        "--name",
        action="append",
        default=[],
        help="certificate name (repeatable); default: every service, dashboard and client",
    )
    ce.add_argument("--host", action="append", default=[], help="extra SAN, DNS name or IP")
    tk = sub.add_parser(
        "token",
        help="make a random API token; prints it and the line for AUTH_TOKENS_FILE",
        description="Prints the token (give it to the caller as FLIGHTSAGA_TOKEN) and the line "
        "to append to AUTH_TOKENS_FILE (only a SHA-256 of the token is stored there).",
    )
    tk.add_argument("name", help="the caller's name (saga owner, log lines)")
    tk.add_argument("roles", help="comma-separated: booker, reader, operator")
    return {"certs": certs, "token": token}


def certs(args: argparse.Namespace) -> int:
    # Imported here: cryptography is slow to load and only this command needs it.
    from sagas import registry
    from tooling.certs import default_names, make_certs

    names = args.name or default_names(registry.from_env(os.environ))
    files = make_certs(Path(args.dir), names, args.host)
    print("\n".join(str(f) for f in files))
    return EXIT_OK


def token(args: argparse.Namespace) -> int:
    try:
        new, line = new_token(args.name, args.roles)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"token (FLIGHTSAGA_TOKEN): {new}\nAUTH_TOKENS_FILE line:    {line}")
    return EXIT_OK

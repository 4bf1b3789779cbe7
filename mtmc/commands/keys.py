"""``mtmc keys``: make the CURVE keys that encrypt and authenticate worker <-> matcher traffic."""

from __future__ import annotations

import argparse
import socket

HELP = "generate CURVE keys for encrypted, authenticated worker <-> matcher traffic"
DESCRIPTION = """\
Write DIR/NAME.key (public) and DIR/NAME.key_secret (secret, readable by you only) in pyzmq's
certificate format. Give the matcher's NAME.key to every worker; copy each worker's NAME.key into
the matcher's folder of allowed workers. A secret key never leaves the machine it was made on.
"""
EPILOG = """\
examples:
  mtmc keys generate keys --name matcher
  mtmc keys generate keys          (NAME defaults to this machine's host name)
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "keys",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    generate = actions.add_parser("generate", help="write a new keypair NAME.key + NAME.key_secret into DIR")
    generate.add_argument("directory", metavar="DIR", help="folder to write into (created if missing)")
    generate.add_argument(
        "--name", default=socket.gethostname(), help="file name without suffix (default: the host name)"
    )
    generate.add_argument("--force", action="store_true", help="replace an existing key of that name")
    p.set_defaults(run=run, command="keys")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtmc.outputs.paths import writable_dir
    from mtmc.transport.keys import generate

    writable_dir(args.directory, "keys folder")
    public, secret = generate(Path(args.directory), args.name, force=args.force)
    print(f"public key: {public} (share it)")
    print(f"secret key: {secret} (keep it on this machine)")
    return 0

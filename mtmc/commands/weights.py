"""``mtmc weights``: list, fetch and verify the model weights named in weights/manifest.yaml."""

from __future__ import annotations

import argparse

from mtmc.errors import MtmcError

DESCRIPTION = """\
Model weights by name. A name resolves to the first matching file in: weights/,
$MTMC_WEIGHTS_DIR, then ../shared/weights. Files whose sha256 disagrees with the manifest are
refused. Nothing is downloaded at run time; `fetch` is the only command that goes online.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "weights",
        help="list, fetch and verify model weights",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    actions.add_parser("list", help="every known name, where it is found, its licence").set_defaults(
        action="list"
    )
    fetch = actions.add_parser("fetch", help="download NAME into weights/ and check its sha256")
    fetch.add_argument("name", metavar="NAME")
    fetch.set_defaults(action="fetch")
    verify = actions.add_parser("verify", help="check the sha256 of found files (all, or NAME)")
    verify.add_argument("name", nargs="?", metavar="NAME")
    verify.set_defaults(action="verify")
    p.set_defaults(run=run, command="weights")


def run(args: argparse.Namespace) -> int:
    from rich import box
    from rich.table import Table

    from mtmc import weights
    from mtmc.console import print_wide

    manifest = weights.load_manifest()
    if args.action == "list":
        table = Table("name", "found at", "licence", "what it is", box=box.SIMPLE_HEAD)
        for entry in manifest.values():
            found = weights.find(entry)
            table.add_row(
                entry.name, str(found) if found else f"missing ({entry.file})", entry.licence, entry.about
            )
        print_wide(table)
        return 0
    if args.action == "fetch":
        entry = _entry(manifest, args.name)
        found = weights.find(entry)
        if found is not None:
            print(f"{entry.name}: already at {found}")
            return 0
        print(f"{entry.name}: downloading {entry.url}")
        print(f"{entry.name}: saved {weights.fetch(entry)}")
        return 0
    entries = [_entry(manifest, args.name)] if args.name else list(manifest.values())
    missing = 0
    for entry in entries:
        found = weights.find(entry)
        if found is None:
            missing += 1
            print(
                f"{entry.name}: no file with a matching sha256 (fetch with: mtmc weights fetch {entry.name})"
            )
        else:
            print(f"{entry.name}: ok ({found})")
    return 1 if args.name and missing else 0


def _entry(manifest: dict, name: str):
    if name not in manifest:
        raise MtmcError(f"unknown weights '{name}': known names are {', '.join(manifest)}")
    return manifest[name]

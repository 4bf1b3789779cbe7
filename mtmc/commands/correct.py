"""``mtmc correct``: split a wrong identity at a sighting, merge two, flag one; list and undo."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtmc.store.sql import SQLStore

HELP = "correct a run's identities: split one at a sighting, merge two, flag one as wrong; list or undo"
DESCRIPTION = """\
Corrections are kept in the run's sightings store (OUT/sightings.db, or the PostgreSQL store.url)
and apply wherever identities are read: mtmc search, the dashboard, mtmc export (the corrected
submission and MOT files). They name camera tracks, not ids the matcher may renumber, so they hold
while a run goes on, after a matcher restart and after mtmc run --resume; a run started over drops them.

  split CAMERA TRACK   that sighting and the later ones of its identity become a new identity
  merge KEEP OTHER     identity OTHER's sightings join identity KEEP
  flag ID [--note T]   mark identity ID as wrong (a bad merge to look at); unflag ID takes it off
  list                 the corrections, in the order they apply
  undo N               remove correction N (the others still apply)
"""
EPILOG = """\
examples:
  mtmc search runs/city --id 10                 # six cars under #10: where does it go wrong?
  mtmc correct runs/city split c003 41          # camera c003's track 41 and after: a new identity
  mtmc correct runs/city merge 10 57
  mtmc correct runs/city flag 23 --note "two vans"
  mtmc correct runs/city list
  mtmc correct runs/city undo 2
  mtmc export runs/city                         # runs/city/corrected/submission.txt, mot/
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "correct", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("where", metavar="OUT|DB", help="a run's output folder (its sightings.db), a sightings database or a postgresql:// URL")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    split = actions.add_parser("split", help="split an identity at a sighting: it and the later ones get a new id")
    split.add_argument("camera", metavar="CAMERA", help="the sighting's camera (name or AI City number)")
    split.add_argument("track", metavar="TRACK", type=int, help="the sighting's local track")
    merge = actions.add_parser("merge", help="merge identity OTHER into identity KEEP")
    merge.add_argument("keep", metavar="KEEP", type=int)
    merge.add_argument("other", metavar="OTHER", type=int)
    flag = actions.add_parser("flag", help="mark an identity as wrong")
    flag.add_argument("global_id", metavar="ID", type=int)
    flag.add_argument("--note", default="", metavar="TEXT", help="why (shown with the identity)")
    unflag = actions.add_parser("unflag", help="take an identity's flag off")
    unflag.add_argument("global_id", metavar="ID", type=int)
    listing = actions.add_parser("list", help="the corrections, in the order they apply")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    undo = actions.add_parser("undo", help="remove correction N")
    undo.add_argument("number", metavar="N", type=int)
    p.set_defaults(run=run, command="correct")


def run(args: argparse.Namespace) -> int:
    from mtmc.store import corrections, read_store

    store = read_store(args.where)
    try:
        if args.action == "list":
            _print_list(corrections.corrections(store), store.where, args.json)
        elif args.action == "split":
            camera = camera_number(store, args.camera)
            old = store.global_id((camera, args.track))
            new = corrections.split(store, camera, args.track)
            moved = store.journey(new)
            print(
                f"split identity {old} at camera {moved[0].camera_name} track {args.track}: its {len(moved)} sightings "
                f"from {moved[0].first_s:.1f} s on are identity {new}; {len(store.journey(old))} stay identity {old}"
                f" (correction {_last(store)})"
            )
        elif args.action == "merge":
            keep = corrections.merge(store, args.keep, args.other)
            print(f"merged identity {args.other} into {keep}: {len(store.journey(keep))} sightings (correction {_last(store)})")
        elif args.action == "flag":
            corrections.flag(store, args.global_id, args.note)
            note = f": {args.note}" if args.note else ""
            print(f"flagged identity {args.global_id}{note} (correction {_last(store)})")
        elif args.action == "unflag":
            corrections.unflag(store, args.global_id)
            print(f"unflagged identity {args.global_id} (correction {_last(store)})")
        else:
            listed = {c["id"]: c for c in corrections.corrections(store)}
            corrections.undo(store, args.number)
            print(f"undid correction {args.number} ({describe(listed[args.number])})")
    finally:
        store.close()
    return 0


def camera_number(store: SQLStore, camera: str) -> int:
    """A camera named by its AI City number or its name -> its number."""
    from mtmc.errors import MtmcError

    if camera.isdigit():
        return int(camera)
    found = store.find(camera=camera, limit=1)
    if not found:
        raise MtmcError(f"no camera {camera!r} in {store.where} (cameras: {', '.join(store.camera_names()) or 'none'})")
    return found[0].camera


def describe(correction: dict[str, Any]) -> str:
    """A correction in a few words."""
    a = correction["args"]
    if correction["kind"] == "split":
        return f"split identity {a['global_id']} at camera {a['camera']} track {a['track']} -> {a['new_id']}"
    if correction["kind"] == "merge":
        return f"merge identity {a['other']} into {a['keep']}"
    if correction["kind"] == "flag":
        return f"flag identity {a['global_id']}" + (f": {a['note']}" if a["note"] else "")
    return f"unflag identity {a['global_id']}"


def _last(store: SQLStore) -> int:
    from mtmc.store import corrections

    return corrections.corrections(store)[-1]["id"]


def _print_list(found: list[dict[str, Any]], where: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(found, indent=1))
        return
    if not found:
        print(f"no corrections in {where}")
        return
    from rich.table import Table

    from mtmc.console import print_wide

    table = Table(title=f"{len(found)} corrections in {where}, in the order they apply")
    for name in ("n", "when (UTC)", "correction"):
        table.add_column(name, justify="right" if name == "n" else "left")
    for c in found:
        when = datetime.fromtimestamp(c["time"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(c["id"]), when, describe(c))
    print_wide(table)

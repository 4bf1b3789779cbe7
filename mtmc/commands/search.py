"""``mtmc search``: one vehicle's journey across cameras, the sightings matching colour, type,
camera and time, or the identities nearest an example picture, from the sightings database a
matcher writes (``OUT/sightings.db``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "search a run's sightings: one identity's journey (--id), by colour, type, camera and time, or by picture (--image)"
DESCRIPTION = """\
Read OUT/sightings.db (or the database file given) that the matcher writes as it decides and revises
global identities (store: in the config), while a run or a monitor is going or after it.

--id N shows identity N's journey: its sightings in time order, each with its camera, local track,
first and last time (seconds on the run's clock) and frame, colour and type when the workers sent
attributes, and the travel time from the previous sighting's end. Without --id, the filters select
decided sightings: --color (white gray yellow red green blue black), --type (car bus truck van),
--camera (name or AI City number), and --since/--until (seen at some time in that span). A colour
or type filter on a run that recorded no attributes (no attributes: in its config) is an error.
Identities are as corrected (mtmc correct); a flagged identity's journey says so.

--image crop.jpg embeds the picture (the whole image is the vehicle's crop) with the run's embedder
and lists the --top K identities nearest it: cosine distance (0 = same direction, 2 = opposite) to
each identity's track-averaged feature, with its cameras in time order and its first and last time.
The matcher records the run's embedder in the store, so the picture is embedded as the run's tracks
were; --config CFG uses that config's embedder instead (a store written before mtmc recorded it gets
the default vehicle embedder, said on stderr).
"""
EPILOG = """\
examples:
  mtmc search runs/city --id 17
  mtmc search runs/city --color red --type truck --camera north-gate --since 600 --until 900
  mtmc search runs/city/sightings.db --id 17 --json
  mtmc search runs/city --image crop.jpg --top 10
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "search", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("where", metavar="OUT|DB", help="a run's output folder (its sightings.db) or a sightings database")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--id", type=int, metavar="N", dest="global_id", help="the journey of global identity N")
    what.add_argument("--image", type=Path, metavar="PICTURE", help="the identities nearest this picture (a vehicle crop: JPEG, PNG, ...)")
    p.add_argument("--top", type=int, default=5, metavar="K", help="with --image: the K nearest identities (default 5)")
    p.add_argument("--config", metavar="CFG", help="with --image: embed with this config's embedder (default: the one the store recorded)")
    p.add_argument("--color", "--colour", dest="colour", metavar="NAME", help="sightings of this colour")
    p.add_argument("--type", dest="vehicle_type", metavar="NAME", help="sightings of this vehicle type")
    p.add_argument("--camera", metavar="NAME", help="sightings on this camera (name or number)")
    p.add_argument("--since", type=float, metavar="S", help="seen at or after S seconds (the run's clock)")
    p.add_argument("--until", type=float, metavar="S", help="seen at or before S seconds")
    p.add_argument("--limit", type=int, default=1000, metavar="K", help="at most K sightings (default 1000)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run, command="search")


def journey_of(sightings: list[Any]) -> list[dict]:
    """Each sighting as a dict with ``travel_s``: from the previous sighting's end to its start."""
    out = []
    for k, s in enumerate(sightings):
        d = s.as_dict()
        d["travel_s"] = None if k == 0 else round(s.first_s - sightings[k - 1].last_s, 3)
        out.append(d)
    return out


def _check_attributes(store: Any, args: argparse.Namespace) -> None:
    """A colour or type filter on a run that recorded none matched nothing: say why, not "no sightings match"."""
    from mtmc.errors import MtmcError

    asked = [(n, what) for n, what, value in (("colour", "colours", args.colour), ("type", "vehicle types", args.vehicle_type))
             if value is not None and not store.has_attributes(n)]  # fmt: skip
    if asked:
        what = " or ".join(w for _, w in asked)
        raise MtmcError(f"this run recorded no {what}: run with `attributes:` on (its config's attributes: section) to search by them")


def run(args: argparse.Namespace) -> int:
    from mtmc.errors import MtmcError
    from mtmc.store import read_store
    from mtmc.store.corrections import flagged

    if args.limit < 1:
        raise MtmcError(f"--limit must be at least 1, got {args.limit}")
    if args.image is not None:
        return _search_by_image(args)
    store = read_store(args.where)
    try:
        if args.global_id is not None:
            sightings = store.journey(args.global_id)
            if not sightings:
                raise MtmcError(f"no identity {args.global_id} in {store.path} ({store.identities()} identities stored)")
            rows = journey_of(sightings)
            note = flagged(store).get(args.global_id)
            result = {
                "global_id": args.global_id, "first_s": sightings[0].first_s,
                "last_s": max(s.last_s for s in sightings), "cameras": [s.camera_name for s in sightings],
                "flagged": note, "sightings": rows,
            }  # fmt: skip
            title = f"identity {args.global_id}: {len(rows)} sightings, {len(set(result['cameras']))} cameras"
            if note is not None:
                title += " - flagged as wrong" + (f": {note}" if note else "")
        else:
            found = store.find(args.colour, args.vehicle_type, args.camera, args.since, args.until, limit=args.limit)
            if not found:
                _check_attributes(store, args)
            rows = [dict(s.as_dict(), travel_s=None) for s in found]
            result = {"filters": {k: getattr(args, k) for k in ("colour", "vehicle_type", "camera", "since", "until")},
                      "sightings": rows}  # fmt: skip
            title = f"{len(rows)} sightings" + (f" (at most {args.limit})" if len(rows) == args.limit else "")
    finally:
        store.close()
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    if not rows:
        print("no sightings match")
        return 0
    _print_table(title, rows, journey=args.global_id is not None)
    return 0


def _search_by_image(args: argparse.Namespace) -> int:
    """--image: the picture's bytes are checked before any model loads, so a bad file fails fast."""
    from mtmc.errors import MtmcError
    from mtmc.store import read_store
    from mtmc.store.image_search import PictureSearch, read_picture

    if args.top < 1:
        raise MtmcError(f"--top must be at least 1, got {args.top}")
    filters = [f"--{k}" for k in ("colour", "vehicle_type", "camera", "since", "until") if getattr(args, k) is not None]
    if filters:
        raise MtmcError(f"--image ranks whole identities; {', '.join(filters).replace('vehicle_type', 'type')} filter sightings: use one or the other")
    read_store(args.where).close()  # no database, or another schema: said before the embedder loads
    try:
        data = args.image.read_bytes()
    except OSError as exc:
        raise MtmcError(f"{args.image}: cannot read the picture ({exc.strerror or exc})") from None
    picture = read_picture(data, str(args.image))
    found = PictureSearch(args.where, args.config).search(picture, args.top)
    if args.json:
        print(json.dumps({"image": str(args.image), "top": args.top, "identities": found}, indent=1))
        return 0
    if not found:
        print(f"no identities with features in {args.where}")
        return 0
    from rich.table import Table

    from mtmc.console import print_wide

    table = Table(title=f"{len(found)} identities nearest {args.image}")
    for name in ("rank", "id", "distance", "cameras", "first s", "last s"):
        table.add_column(name, justify="left" if name == "cameras" else "right")
    for r in found:
        table.add_row(
            str(r["rank"]), str(r["global_id"]), f"{r['distance']:.3f}", " > ".join(r["cameras"]),
            f"{r['first_s']:.1f}", f"{r['last_s']:.1f}",
        )  # fmt: skip
    print_wide(table)
    return 0


def _print_table(title: str, rows: list[dict], journey: bool) -> None:
    from rich.table import Table

    from mtmc.console import print_wide

    table = Table(title=title)
    for name in ("id", "camera", "track", "first s", "last s", "frames", "colour", "type"):
        table.add_column(name, justify="right" if name in ("id", "track", "first s", "last s") else "left")
    if journey:
        table.add_column("travel s", justify="right")
    for r in rows:
        cells = [
            str(r["global_id"]), r["camera"], str(r["track"]), f"{r['first_s']:.1f}", f"{r['last_s']:.1f}",
            f"{r['first_frame']}-{r['last_frame']}", r["colour"] or "", r["type"] or "",
        ]  # fmt: skip
        if journey:
            cells.append("" if r["travel_s"] is None else f"{r['travel_s']:.1f}")
        table.add_row(*cells)
    print_wide(table)

"""``mtmc export``: a run's AI City submission and MOT files again, with people's corrections
(``mtmc correct``, the dashboard) applied."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mtmc.store.base import Sighting
    from mtmc.store.sql import SQLStore

HELP = "write a run's submission.txt and mot/<camera>.txt with the identities' corrections applied"
DESCRIPTION = """\
Read OUT/submission.txt, OUT/mot/<camera>.txt and the corrections kept in the run's sightings store
(mtmc correct, the dashboard), and write the same files to DIR (default OUT/corrected) with every row
of a corrected identity under its corrected id; every other row is as the run wrote it, so without
corrections the files are the run's own, byte for byte.

The store keeps three boxes of each camera track, the files every box: each corrected track's rows
are found by its first box in the submission (camera, frame and box) and then by that row's id and
the track's frame span (one identity never holds two tracks of one camera at the same time).
"""
EPILOG = """\
examples:
  mtmc export runs/city                         # runs/city/corrected/submission.txt and mot/
  mtmc export runs/city -o runs/city-fixed
  mtmc export runs/city --store postgresql://mtmc@db/city
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("out", metavar="OUT", type=Path, help="a run's output folder (its submission.txt, mot/ and sightings.db)")
    p.add_argument("-o", "--output", metavar="DIR", type=Path, help="where to write (default OUT/corrected)")
    p.add_argument("--store", metavar="DB|URL", help="the run's sightings store when not OUT/sightings.db (store.path or store.url)")
    p.set_defaults(run=run, command="export")


def run(args: argparse.Namespace) -> int:
    from mtmc.errors import MtmcError
    from mtmc.store import read_store

    out: Path = args.out
    if not (out / "submission.txt").is_file():
        raise MtmcError(f"no submission.txt in {out}: mtmc export reads a run's output folder (mtmc run CONFIG writes it)")
    dest: Path = args.output if args.output is not None else out / "corrected"
    if dest.resolve() == out.resolve():
        raise MtmcError(f"-o {dest} is the run's own folder: export writes beside it, name another (default OUT/corrected)")
    store = read_store(args.store if args.store is not None else out)
    try:
        changes, corrections = corrected_tracks(store), len(store._correction_rows())
    finally:
        store.close()
    rows, missing = export(out, dest, changes)
    print(
        f"wrote {dest / 'submission.txt'} and {dest / 'mot'}/: {corrections} corrections applied, "
        f"{rows} rows of {len(changes)} camera tracks under a corrected id"
    )
    if missing:
        print(f"WARNING: {missing} corrected camera tracks have no rows in {out / 'submission.txt'} (not final when the run ended?)")
    return 0


Track = tuple[int, str, int, int, int, list[float]]  # (camera, its name, first frame, last frame, corrected id, first box x y w h)


def corrected_tracks(store: SQLStore) -> list[Track]:
    """Every camera track of an identity a correction touched (split, merged or taken from), with
    its corrected id: all of them are rewritten, so a corrected identity is one id in the files."""
    overlay = store.overlay()
    if not overlay.moved:
        return []
    sightings = store.find()
    changed = overlay.raw_ids()

    def matcher_id(s: Sighting) -> int | None:
        key = (s.camera, s.track)
        return overlay.matcher_id(key) if key in overlay.moved else s.global_id

    touched = set(overlay.moved.values()) | {s.global_id for s in sightings if matcher_id(s) in changed}
    return [
        (s.camera, s.camera_name, s.first_frame, s.last_frame, int(s.global_id), [float(v) for v in s.boxes[0][2:6]])
        for s in sightings
        if s.global_id in touched and s.boxes
    ]


def export(out: Path, dest: Path, tracks: list[Track]) -> tuple[int, int]:
    """Write ``dest``/submission.txt and ``dest``/mot/*.txt from ``out``'s, each track's rows under
    its corrected id; returns (rows changed, tracks without rows)."""
    from mtmc.errors import write_failed
    from mtmc.formats import aicity_lines, mot_lines, read_mot
    from mtmc.formats.aicity import COLUMNS
    from mtmc.formats.table import read_numeric_table
    from mtmc.types import TrackRows

    table = read_numeric_table(out / "submission.txt", 7, "AI City submission", COLUMNS, optional=2)
    camera, written, frame = (table[:, k].astype(np.int64) for k in range(3))
    ids = written.copy()
    spans: dict[str, list[tuple[int, int, int, int]]] = {}  # camera name -> (written id, first, last, corrected id)
    missing = 0
    for cam, name, first, last, global_id, box in tracks:
        at = np.flatnonzero((camera == cam) & (frame == first))
        if not len(at):
            missing += 1
            continue
        anchor = at[np.argmin(np.abs(table[at, 3:7] - box).sum(axis=1))]  # the track's first box
        spans.setdefault(name, []).append((int(written[anchor]), first, last, global_id))
        ids[(camera == cam) & (written == written[anchor]) & (frame >= first) & (frame <= last)] = global_id
    world = table[:, 7:9]
    submission = TrackRows(frame, ids, table[:, 3:7], camera=camera)
    texts = {dest / "submission.txt": aicity_lines(submission, None if np.isnan(world).all() else world)}
    for path in sorted((out / "mot").glob("*.txt")):
        rows = read_mot(path, "MOT file")
        ids_here = rows.id.copy()
        for was, first, last, global_id in spans.get(path.stem, []):
            ids_here[(rows.id == was) & (rows.frame >= first) & (rows.frame <= last)] = global_id
        texts[dest / "mot" / path.name] = mot_lines(TrackRows(rows.frame, ids_here, rows.xywh, rows.score))
    for path, text in texts.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise write_failed(exc, path, "the corrected results file") from None
    return int((ids != written).sum()), missing


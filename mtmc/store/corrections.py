"""People's corrections of a run's identities: split one at a sighting, merge two, flag one as wrong.

They are kept in the run's sightings store (its ``corrections`` table, carried over when the
matcher rebuilds the store on a restart or ``mtmc run --resume``; a run started over drops them)
and anchored on tracklet keys, not on global ids the matcher may renumber: every read of
identities replays them over the matcher's grouping (:mod:`mtmc.store.overlay`), so
``store.journey``, ``store.find``, ``store.global_id``, ``mtmc search``, ``mtmc export`` and the
dashboard answer the corrected identities. ``store`` may be opened read only (``read_store``):
corrections are written through a connection of their own. Bad arguments are one-line
:class:`~mtmc.errors.MtmcError`.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from mtmc.errors import MtmcError
from mtmc.store.overlay import Key, Overlay

if TYPE_CHECKING:
    from mtmc.store.sql import SQLStore


def split(store: SQLStore, camera: int, track: int) -> int:
    """The sighting (camera number, local track) and the later sightings of its identity (from its
    start on) become a new identity, whose id is returned; the earlier ones keep the old id."""
    overlay = store.overlay()
    at = (int(camera), int(track))
    global_id = overlay.id_of(at)
    if global_id is None:
        raise MtmcError(
            f"no sighting camera {at[0]} track {at[1]} with an identity in {store.where} (mtmc search OUT --id N lists an identity's)"
        )
    members = overlay.members(global_id)
    if (members[0][1], members[0][2]) == at:
        raise MtmcError(
            f"camera {at[0]} track {at[1]} is identity {global_id}'s first sighting: nothing earlier to split it from "
            "(split at a later sighting, or flag the identity)"
        )
    new = overlay.free_id()
    _add(store, "split", {"camera": at[0], "track": at[1], "global_id": global_id, "new_id": new}, {"at": at})
    return new


def merge(store: SQLStore, keep: int, other: int) -> int:
    """Identity ``other``'s sightings join identity ``keep``, whose id is returned."""
    if int(keep) == int(other):
        raise MtmcError(f"cannot merge identity {keep} with itself: name two different identities")
    overlay = store.overlay()
    anchors = {"keep": _anchor(store, overlay, int(keep)), "other": _anchor(store, overlay, int(other))}
    _add(store, "merge", {"keep": int(keep), "other": int(other)}, anchors)
    return int(keep)


def flag(store: SQLStore, global_id: int, note: str = "") -> None:
    """Mark the identity as wrong (a bad merge to look at), with an optional note; flagging it
    again replaces the note."""
    at = _anchor(store, store.overlay(), int(global_id))
    _add(store, "flag", {"global_id": int(global_id), "note": str(note)}, {"at": at})


def unflag(store: SQLStore, global_id: int) -> None:
    """Take the identity's flag off."""
    overlay = store.overlay()
    at = _anchor(store, overlay, int(global_id))
    if int(global_id) not in overlay.flagged():
        raise MtmcError(f"identity {global_id} is not flagged in {store.where}")
    _add(store, "unflag", {"global_id": int(global_id)}, {"at": at})


def corrections(store: SQLStore) -> list[dict[str, Any]]:
    """Every correction, in the order they apply: ``{id, kind, args, time}`` (``time``: Unix seconds)."""
    return [
        {"id": int(i), "kind": kind, "args": json.loads(args), "time": float(t)}
        for i, kind, args, _, t in store._correction_rows()
    ]


def undo(store: SQLStore, correction_id: int) -> None:
    """Remove a correction; the others still apply, in their order."""
    ids = [int(r[0]) for r in store._correction_rows()]
    if int(correction_id) not in ids:
        have = f"{len(ids)} corrections: {', '.join(map(str, ids))}" if ids else "none"
        raise MtmcError(f"no correction {correction_id} in {store.where} ({have}; mtmc correct OUT list shows them)")
    with store.editing() as execute:
        execute("DELETE FROM corrections WHERE id = ?", (int(correction_id),))


def flagged(store: SQLStore) -> dict[int, str]:
    """Each flagged identity's id -> its note ("" when none)."""
    return store.overlay().flagged()


def _anchor(store: SQLStore, overlay: Overlay, global_id: int) -> Key:
    """The sighting that stands for the identity: its first one the matcher gave this id (it keeps
    the id when a correction is undone), else its first; an unknown identity is one line."""
    members = overlay.members(global_id)
    if not members:
        raise MtmcError(f"no identity {global_id} in {store.where} ({store.identities()} identities stored)")
    keys = [(camera, track) for _, camera, track in members]
    return next((k for k in keys if overlay.matcher_id(k) == global_id), keys[0])


def _add(store: SQLStore, kind: str, args: dict[str, Any], anchors: dict[str, Key]) -> None:
    with store.editing() as execute:
        number = int(execute("SELECT COALESCE(MAX(id), 0) + 1 FROM corrections").fetchone()[0])
        execute(
            "INSERT INTO corrections (id, kind, args, anchors, time) VALUES (?, ?, ?, ?, ?)",
            (number, kind, json.dumps(args), json.dumps({k: list(v) for k, v in anchors.items()}), time.time()),
        )

"""People's corrections replayed over the matcher's grouping: the identities every reader answers.

The matcher writes each sighting's global id and renumbers them as it revises (a merge relabels,
a restart rebuilds the store from its journal), so a correction names no global id it may lose:
each is anchored on tracklet keys (camera number, track) and replayed, in order, over whatever
grouping the matcher holds now:

- ``split`` at sighting S: S's identity's sightings from S's start on (ties by camera, track) take
  the id the split recorded (or the next free one, should the matcher have issued that number
  since), the earlier ones keep theirs;
- ``merge``: the identity holding ``other``'s anchor joins the one holding ``keep``'s;
- ``flag`` / ``unflag``: the note sits on the identity holding the anchor.

An identity's anchor is its first sighting the matcher gave that id (the one that keeps the id when
a correction is undone, and through a later split), else its first sighting.

A correction whose anchor is no longer stored (pruned, or not yet replayed by a restarting
matcher) does nothing until it is.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtmc.store.sql import SQLStore

Key = tuple[int, int]
Member = tuple[float, int, int]  # (first_s, camera, track): time order, ties by key


def key_of(value: Any) -> Key:
    camera, track = value
    return int(camera), int(track)


class Overlay:
    """The corrected identities over ``store``'s rows, read as needed (a few queries per correction).

    ``moved``: each key whose corrected id differs from the matcher's; ``notes``: flag anchor -> note.
    """

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self.moved: dict[Key, int] = {}
        self.notes: dict[Key, str] = {}
        self._raw: dict[int, list[Member]] = {}
        self._rows: dict[Key, tuple[int | None, float] | None] = {}
        self._recorded = 0  # the highest id a split recorded
        for _, kind, args, anchors, _ in store._correction_rows():
            getattr(self, f"_{kind}")(json.loads(args), json.loads(anchors))
            if kind == "split":
                self._recorded = max(self._recorded, int(json.loads(args)["new_id"]))
        self.moved = {k: g for k, g in self.moved.items() if g != self._row(k)[0]}

    # ---- the matcher's grouping, read as needed -------------------------------------------------

    def _row(self, key: Key) -> tuple[int | None, float]:
        """The matcher's id of ``key`` and its start (None, nan: not stored)."""
        if key not in self._rows:
            row = self.store._read("SELECT global_id, first_s FROM sightings WHERE camera = ? AND track = ?", key, one=True)
            self._rows[key] = None if row is None else (None if row[0] is None else int(row[0]), float(row[1]))
        return self._rows[key] or (None, float("nan"))

    def _raw_members(self, global_id: int) -> list[Member]:
        if global_id not in self._raw:
            rows = self.store._read("SELECT first_s, camera, track FROM sightings WHERE global_id = ?", (int(global_id),))
            self._raw[global_id] = [(float(s), int(c), int(t)) for s, c, t in rows]
            for s, c, t in self._raw[global_id]:
                self._rows[(c, t)] = (global_id, s)
        return self._raw[global_id]

    # ---- the corrected grouping -----------------------------------------------------------------

    def id_of(self, key: Key) -> int | None:
        """``key``'s corrected id (None: not stored, or not decided)."""
        return self.moved[key] if key in self.moved else self._row(key)[0]

    def matcher_id(self, key: Key) -> int | None:
        """The id the matcher gave ``key`` (None: not stored, or not decided)."""
        return self._row(key)[0]

    def members(self, global_id: int) -> list[Member]:
        """The corrected identity's sightings as (first_s, camera, track), in time order."""
        kept = [m for m in self._raw_members(global_id) if (m[1], m[2]) not in self.moved]
        joined = [(self._row(k)[1], *k) for k, g in self.moved.items() if g == global_id]
        return sorted(kept + joined)

    def raw_ids(self) -> set[int]:
        """The matcher's ids of the sightings the corrections moved."""
        return {g for g in (self._row(k)[0] for k in self.moved) if g is not None}

    def free_id(self) -> int:
        """An id no identity holds and no split recorded."""
        top = self.store._read("SELECT MAX(global_id) FROM sightings", one=True)[0]
        return max(int(top or 0), self._recorded, *self.moved.values()) + 1

    def flagged(self) -> dict[int, str]:
        """Corrected id -> note, for each flagged identity still stored."""
        out: dict[int, str] = {}
        for key, note in self.notes.items():
            global_id = self.id_of(key)
            if global_id is not None:
                out[global_id] = note
        return out

    # ---- each kind, replayed --------------------------------------------------------------------

    def _split(self, args: dict, anchors: dict) -> None:
        at = key_of(anchors["at"])
        global_id = self.id_of(at)
        if global_id is None:
            return
        members = self.members(global_id)
        start = next((k for k, m in enumerate(members) if (m[1], m[2]) == at), None)
        if not start:
            return  # first now (the matcher's grouping changed), or moved between two reads of a live store
        new = int(args["new_id"])
        if self.members(new):  # the matcher issued that number since (a live run)
            new = self.free_id()
        for _, camera, track in members[start:]:
            self.moved[(camera, track)] = new

    def _merge(self, args: dict, anchors: dict) -> None:
        keep, other = self.id_of(key_of(anchors["keep"])), self.id_of(key_of(anchors["other"]))
        if keep is None or other is None or keep == other:
            return
        for _, camera, track in self.members(other):
            self.moved[(camera, track)] = keep

    def _unflag(self, args: dict, anchors: dict) -> None:
        global_id = self.id_of(key_of(anchors["at"]))
        self.notes = {k: n for k, n in self.notes.items() if self.id_of(k) != global_id}

    def _flag(self, args: dict, anchors: dict) -> None:
        self._unflag(args, anchors)  # flagged again: the new note replaces the old
        self.notes[key_of(anchors["at"])] = str(args.get("note", ""))

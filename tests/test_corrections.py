"""People's corrections of identities (issue 34): split, merge, flag, undo on the store (SQLite and
PostgreSQL), kept across the matcher's rebuild and its renumbering, a version-1 store migrated;
``mtmc correct``; ``mtmc search`` on a run without attributes; ``mtmc export`` (the run's own files
byte for byte without corrections, the corrected ids with them)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from postgres_cluster import postgres_cluster, postgres_url  # noqa: F401 (fixtures)
from test_store import _batches, _config, _run_state, _store, set_version, settings, tracklet

from mtmc.cli import main
from mtmc.errors import MtmcError
from mtmc.runtime.matcher import MatcherService
from mtmc.store import SCHEMA_VERSION, read_store
from mtmc.store import corrections as fix
from mtmc.store.opening import is_url
from mtmc.transport.codec import encode


@pytest.fixture(params=["sqlite", "postgres"])
def where(request, tmp_path) -> str:
    """As test_store's: each case on SQLite (a run's ``sightings.db``) and on an empty PostgreSQL database."""
    return str(tmp_path / "sightings.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def _run(tmp_path, where: str) -> dict[tuple[int, int], int]:
    """The matcher's small run (test_store): A (1,1), B (3,1), C (2,1) one identity, then (1,2)
    and (2,2) one each; its keys -> ids."""
    return {(r[1], r[3]): r[0] for r in _run_state(tmp_path, _config(tmp_path, **settings(where)))}


def _keys(sightings) -> list[tuple[int, int]]:
    return [(s.camera, s.track) for s in sightings]


def test_split_merge_flag_undo_answer_the_corrected_identities(tmp_path, where) -> None:
    ids = _run(tmp_path, where)
    g, lone = ids[(1, 1)], ids[(1, 2)]
    store = read_store(where)  # read only, as mtmc search and the dashboard open it
    matcher_rows = store.rows()
    assert fix.corrections(store) == [] and fix.flagged(store) == {} and store.identities() == 3
    new = fix.split(store, 3, 1)  # B and what follows it: a new identity
    assert new not in ids.values()
    assert _keys(store.journey(g)) == [(1, 1)] and _keys(store.journey(new)) == [(3, 1), (2, 1)]
    assert store.global_id((2, 1)) == new and store.global_id((1, 1)) == g and store.identities() == 4
    assert {(s.camera, s.track): s.global_id for s in store.find(colour="red")} == {(1, 1): g, (3, 1): new, (2, 1): new}
    assert sorted(store.features()[0].tolist()) == sorted([g, new, new, lone, ids[(2, 2)]])
    assert [span[0] for span in store.spans()] == [g, new, new, lone, ids[(2, 2)]]
    assert store.rows() == matcher_rows  # the matcher's own grouping is untouched
    assert fix.merge(store, lone, new) == lone  # the split-off part joins the lone vehicle
    assert _keys(store.journey(lone)) == [(3, 1), (2, 1), (1, 2)] and store.journey(new) == [] and store.identities() == 3
    fix.flag(store, lone, "two cars")
    fix.flag(store, g)
    assert fix.flagged(store) == {lone: "two cars", g: ""}
    fix.flag(store, lone, "three cars")  # again: the note is replaced
    fix.unflag(store, g)
    assert fix.flagged(store) == {lone: "three cars"}
    listed = fix.corrections(store)
    assert [(c["id"], c["kind"]) for c in listed] == [(1, "split"), (2, "merge"), (3, "flag"), (4, "flag"), (5, "flag"), (6, "unflag")]
    assert listed[0]["args"] == {"camera": 3, "track": 1, "global_id": g, "new_id": new} and listed[1]["args"] == {"keep": lone, "other": new}
    assert listed[2]["args"] == {"global_id": lone, "note": "two cars"} and all(c["time"] > 1.7e9 for c in listed)
    fix.undo(store, 2)  # the merge goes, the split stays; the flag stays on lone's first sighting
    assert _keys(store.journey(new)) == [(3, 1), (2, 1)] and _keys(store.journey(lone)) == [(1, 2)]
    assert fix.flagged(store) == {lone: "three cars"}
    fix.undo(store, 1)
    assert _keys(store.journey(g)) == [(1, 1), (3, 1), (2, 1)] and store.identities() == 3
    store.close()


def test_bad_corrections_are_one_line(tmp_path, where) -> None:
    ids = _run(tmp_path, where)
    g = ids[(1, 1)]
    store = read_store(where)
    cases = [
        (lambda: fix.split(store, 1, 1), f"camera 1 track 1 is identity {g}'s first sighting: nothing earlier"),
        (lambda: fix.split(store, 1, 2), "first sighting"),  # a lone sighting
        (lambda: fix.split(store, 9, 9), "no sighting camera 9 track 9 with an identity in"),
        (lambda: fix.merge(store, g, g), f"cannot merge identity {g} with itself"),
        (lambda: fix.merge(store, g, 404), r"no identity 404 in .* \(3 identities stored\)"),
        (lambda: fix.flag(store, 404), "no identity 404"),
        (lambda: fix.unflag(store, g), f"identity {g} is not flagged"),
        (lambda: fix.undo(store, 1), r"no correction 1 in .* \(none; mtmc correct OUT list shows them\)"),
    ]
    for call, message in cases:
        with pytest.raises(MtmcError, match=message) as error:
            call()
        assert len(str(error.value).splitlines()) == 1
    assert fix.corrections(store) == []
    store.close()


def test_corrections_survive_the_matchers_rebuild_and_renumbering_and_a_new_run_drops_them(tmp_path, where) -> None:
    """A restarted matcher (or mtmc run --resume) rebuilds the store from its journal: the
    corrections are carried over and still apply, also when the matcher's ids change under them."""
    if not is_url(where):
        where = str(tmp_path / "out" / "sightings.db")
    config = _config(tmp_path, **settings(where))
    out = tmp_path / "out"
    payloads = [encode(b) for b in _batches()]
    first = MatcherService(config, out)
    first.journal.append(payloads)
    first.replay()
    first.state.writer.close()
    first.state.store.close()
    first.journal.close()
    store = read_store(where)
    g = store.global_id((1, 1))
    new = fix.split(store, 2, 1)  # C splits off A+B
    fix.flag(store, g, "check")
    store.close()
    again = MatcherService(config, out)  # restart: the store is rebuilt from nothing, the journal replayed
    assert again.replay() == len(payloads)
    renumbered = again.state.store  # the matcher's revision gives A+B+C another id: the corrections follow the tracks
    renumbered.relabel({g: 500})
    renumbered.commit()
    store = read_store(where)
    assert store.matcher_id((2, 1)) == 500 and store.global_id((2, 1)) == new
    assert _keys(store.journey(500)) == [(1, 1), (3, 1)] and _keys(store.journey(new)) == [(2, 1)]
    assert fix.flagged(store) == {500: "check"} and len(fix.corrections(store)) == 2
    renumbered.clear_corrections()  # what a run started over (no --resume) does
    renumbered.commit()
    assert fix.corrections(store) == [] and _keys(store.journey(500)) == [(1, 1), (3, 1), (2, 1)]
    store.close()
    again.state.writer.close()
    renumbered.close()
    again.journal.close()


def test_a_resumed_matcher_keeps_the_corrections_and_a_run_started_over_drops_them(tmp_path, free_port, where) -> None:
    """The serving matcher: started again on its journal (a restart, mtmc run --resume) the
    corrections still apply; started fresh (mtmc run without --resume) they name another run's
    tracks and are dropped."""
    import threading

    import zmq

    out = tmp_path / "out"
    config = _config(tmp_path, **({"url": where} if is_url(where) else {}))  # SQLite: OUT/sightings.db
    config.matcher.bind = f"tcp://127.0.0.1:{free_port}"
    readable = where if is_url(where) else out
    first = MatcherService(config, out)
    first.journal.append([encode(b) for b in _batches()])
    first.replay()
    first.state.writer.close()
    first.state.store.close()
    first.journal.close()
    store = read_store(readable)
    g = store.global_id((1, 1))
    new = fix.split(store, 2, 1)
    store.close()
    assert MatcherService(config, out).serve()["complete"]  # the journal replayed: every camera done
    store = read_store(readable)
    assert store.global_id((2, 1)) == new and _keys(store.journey(g)) == [(1, 1), (3, 1)]
    store.close()
    service = MatcherService(config, out, fresh=True)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(service.serve()), daemon=True)
    thread.start()
    peers = {}
    for camera in (1, 2, 3):
        peers[camera] = zmq.Context.instance().socket(zmq.DEALER)
        peers[camera].connect(config.matcher.bind)
    for batch in _batches():
        peers[batch.camera].send(encode(batch))
    thread.join(10)
    assert not thread.is_alive() and result["complete"]
    store = read_store(readable)
    assert fix.corrections(store) == [] and _keys(store.journey(g)) == [(1, 1), (3, 1), (2, 1)]
    store.close()
    for peer in peers.values():
        peer.close(0)


def test_a_split_id_the_matcher_issued_since_takes_the_next_free_one(tmp_path, where) -> None:
    ids = _run(tmp_path, where)
    store = read_store(where)
    new = fix.split(store, 3, 1)
    writer = _store(where)  # the live matcher gives that number to another identity after the split
    writer._db = writer._connect_write()
    writer.assign((2, 2), new)
    writer.commit()
    assert store.global_id((2, 2)) == new and store.global_id((3, 1)) == new + 1  # never two identities under one id
    assert _keys(store.journey(new + 1)) == [(3, 1), (2, 1)] and _keys(store.journey(new)) == [(2, 2)]
    assert store.identities() == len(set(ids.values())) + 1
    writer._db.close()
    store.close()


def test_a_version_1_store_is_read_and_migrated_by_its_first_correction(tmp_path, where) -> None:
    ids = _run(tmp_path, where)
    set_version(where, "1")  # a store written before corrections: no table, version 1
    if is_url(where):
        import psycopg

        with psycopg.connect(where, autocommit=True) as db:
            db.execute("DROP TABLE corrections")
            db.execute("DELETE FROM meta WHERE name = 'attributes'")
    else:
        db = sqlite3.connect(where)
        db.execute("DROP TABLE corrections")
        db.execute("DELETE FROM meta WHERE name = 'attributes'")
        db.commit()
        db.close()
    store = read_store(where)
    assert store.version == 1 and fix.corrections(store) == [] and store.has_attributes("colour")  # asked of the rows
    fix.flag(store, ids[(1, 1)], "old run")
    assert store.version == SCHEMA_VERSION and fix.flagged(store) == {ids[(1, 1)]: "old run"}
    store.close()
    assert read_store(where).version == SCHEMA_VERSION


def test_has_attributes_and_search_on_a_run_without_them(tmp_path, where, capsys) -> None:
    _run(tmp_path / "with", where if is_url(where) else str(tmp_path / "with" / "sightings.db"))
    store = read_store(where if is_url(where) else tmp_path / "with")
    assert store.has_attributes() and store.has_attributes("colour") and store.has_attributes("type")
    store.close()
    # a run with attributes: a colour that matches nothing is still "no sightings match", exit 0
    assert main(["search", where if is_url(where) else str(tmp_path / "with"), "--color", "green"]) == 0
    assert "no sightings match" in capsys.readouterr().out
    plain = _store(where if is_url(where) else str(tmp_path / "plain.db"))  # no attributes sent
    plain.record(tracklet(1, 1, 0.0, 2.0))
    plain.assign((1, 1), 1)
    plain.close()
    target = where if is_url(where) else str(tmp_path / "plain.db")
    store = read_store(target)
    assert not store.has_attributes() and not store.has_attributes("type")
    store.close()
    assert main(["search", target, "--color", "red"]) == 2
    err = capsys.readouterr().err.strip()
    assert "this run recorded no colours: run with `attributes:` on" in err and len(err.splitlines()) == 1
    assert main(["search", target, "--type", "car", "--color", "red"]) == 2
    assert "no colours or vehicle types" in capsys.readouterr().err
    assert main(["search", target, "--camera", "north-gate"]) == 0  # other filters still work
    assert "north-gate" in capsys.readouterr().out


def test_correct_cli_and_search_show_the_corrected_identities(tmp_path, capsys) -> None:
    ids = _run(tmp_path, str(tmp_path / "sightings.db"))
    g, out = ids[(1, 1)], str(tmp_path)
    assert main(["correct", out, "split", "c003", "1"]) == 0
    said = capsys.readouterr().out
    new = max(ids.values()) + 1
    assert f"split identity {g} at camera c003 track 1: its 2 sightings from 10.0 s on are identity {new}; 1 stay identity {g}" in said
    assert main(["search", out, "--id", str(new), "--json"]) == 0
    journey = json.loads(capsys.readouterr().out)
    assert [s["camera"] for s in journey["sightings"]] == ["c003", "c002"] and journey["flagged"] is None
    assert main(["correct", out, "flag", str(g), "--note", "two cars"]) == 0
    assert f"flagged identity {g}: two cars (correction 2)" in capsys.readouterr().out
    assert main(["search", out, "--id", str(g)]) == 0
    assert "flagged as wrong: two cars" in capsys.readouterr().out
    assert main(["correct", out, "merge", str(g), str(new)]) == 0
    assert f"merged identity {new} into {g}: 3 sightings (correction 3)" in capsys.readouterr().out
    assert main(["correct", out, "list"]) == 0
    table = capsys.readouterr().out
    assert f"split identity {g} at camera 3 track 1 -> {new}" in table and f"merge identity {new} into {g}" in table
    assert main(["correct", out, "list", "--json"]) == 0
    assert [c["kind"] for c in json.loads(capsys.readouterr().out)] == ["split", "flag", "merge"]
    assert main(["correct", out, "undo", "3"]) == 0
    assert f"undid correction 3 (merge identity {new} into {g})" in capsys.readouterr().out
    assert main(["correct", out, "unflag", str(g)]) == 0
    capsys.readouterr()
    for argv, message in (
        (["split", "nowhere", "1"], "no camera 'nowhere' in"),
        (["merge", "4", "4"], "cannot merge identity 4 with itself"),
        (["undo", "99"], "no correction 99"),
    ):
        assert main(["correct", out, *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.startswith("mtmc correct: error:") and len(err.splitlines()) == 1
    assert main(["correct", str(tmp_path / "nothing"), "list"]) == 2
    assert "no sightings database at" in capsys.readouterr().err


def test_export_reproduces_the_run_and_applies_corrections(tmp_path, capsys) -> None:
    ids = _run(tmp_path, str(tmp_path / "sightings.db"))
    run_files = {p.relative_to(tmp_path): p.read_bytes() for p in [tmp_path / "submission.txt", *(tmp_path / "mot").glob("*.txt")]}
    assert len(run_files) == 4 and all(run_files.values())
    assert main(["export", str(tmp_path)]) == 0
    assert "0 corrections applied, 0 rows" in capsys.readouterr().out
    for name, data in run_files.items():
        assert (tmp_path / "corrected" / name).read_bytes() == data, name  # the run's own files, byte for byte
    store = read_store(tmp_path)
    new = fix.split(store, 3, 1)
    store.close()
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "fixed")]) == 0
    assert "1 corrections applied, 10 rows of 3 camera tracks" in capsys.readouterr().out
    lines = (tmp_path / "fixed" / "submission.txt").read_text().splitlines()
    assert len(lines) == len(run_files[Path("submission.txt")].splitlines())
    by_camera = {}
    for line in lines:
        camera, global_id = map(int, line.split()[:2])
        by_camera.setdefault(camera, set()).add(global_id)
    assert by_camera[3] == {new} and new in by_camera[2] and ids[(1, 1)] in by_camera[1]
    mot = (tmp_path / "fixed" / "mot" / "c003.txt").read_text().splitlines()
    assert mot and {int(line.split(",")[1]) for line in mot} == {new}
    unchanged = (tmp_path / "fixed" / "mot" / "north-gate.txt").read_bytes()
    assert unchanged == run_files[Path("mot/north-gate.txt")]
    assert main(["export", str(tmp_path), "-o", str(tmp_path)]) == 2
    assert "is the run's own folder" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing")]) == 2
    assert "no submission.txt in" in capsys.readouterr().err

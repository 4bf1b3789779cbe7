"""The sightings store: record, assign, relabel (merges), journeys, filters, schema versions; the
matcher writing it (online and offline, revisions), a restarted matcher rebuilding it exactly from
the journal, and ``mtmc search`` on it. The same cases on SQLite and on PostgreSQL (a throwaway
cluster, ``tests/postgres_cluster.py``; skipped where PostgreSQL is not installed)."""

from __future__ import annotations

import json
import math
import sqlite3

import cv2
import numpy as np
import pytest
from postgres_cluster import postgres_cluster, postgres_url  # noqa: F401 (fixtures)
from test_runtime_reliability import _run, clips  # noqa: F401 (clips: the fixture of two short real clips)
from test_thumbnails import jpeg

from mtmc.cli import main
from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError
from mtmc.reid.attributes import VEHICLE_ATTRIBUTES
from mtmc.runtime.matcher import MatcherService, MatchState, store_of
from mtmc.runtime.results import ResultWriter
from mtmc.store import SCHEMA_VERSION, SightingStore, SQLiteStore, SQLStore, read_store
from mtmc.store.opening import is_url
from mtmc.transport.codec import MAX_THUMBNAIL_BYTES, THUMBNAIL_SIDE, Batch, TrackletUpdate, decode, encode
from mtmc.types import Tracklet

from helpers import synthetic_embedder

CAMERAS = {1: "north-gate", 2: "c002", 3: "c003"}


@pytest.fixture(params=["sqlite", "postgres"])
def where(request, tmp_path) -> str:
    """Where a test's store lives: ``tmp_path/sightings.db`` (a run's default) or an empty
    PostgreSQL database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "sightings.db")
    return request.getfixturevalue("postgres_url")


def writer(where: str, **options) -> SQLStore:
    """The store the matcher would write at ``where`` (opened afresh on first use)."""
    if is_url(where):
        from mtmc.store.postgres import PostgresStore

        return PostgresStore(where, **options)
    return SQLiteStore(where, **options)


def settings(where: str) -> dict:
    """The config's ``store:`` section naming ``where``."""
    return {"url": where} if is_url(where) else {"path": where}


def set_version(where: str, value: str) -> None:
    """Overwrite the stored schema version, as a database of another mtmc would have it."""
    if is_url(where):
        import psycopg

        with psycopg.connect(where, autocommit=True) as db:
            db.execute("UPDATE meta SET value = %s WHERE name = 'schema_version'", (value,))
        return
    db = sqlite3.connect(where)
    db.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (value,))
    db.commit()
    db.close()


def colour(name: str) -> np.ndarray:
    scores = np.full(7, 0.02, np.float32)
    scores[VEHICLE_ATTRIBUTES["colour"].index(name)] = 0.88
    return scores


def vtype(name: str) -> np.ndarray:
    scores = np.full(4, 0.1, np.float32)
    scores[VEHICLE_ATTRIBUTES["type"].index(name)] = 0.7
    return scores


def tracklet(camera: int, track: int, t0: float, t1: float, feature=None, **attributes) -> Tracklet:
    times = np.arange(t0, t1 + 1e-9, 0.5)
    boxes = np.tile([10.0, 20.0, 30.0, 40.0], (len(times), 1)) + np.arange(len(times))[:, None]
    return Tracklet(camera, track, np.arange(1, len(times) + 1) + int(t0 * 2), boxes, times, feature=feature,
                    feature_count=len(times) if feature is not None else 0, attributes=attributes, ended=True)  # fmt: skip


def _store(where: str) -> SQLStore:
    return writer(where, cameras=CAMERAS, labels=VEHICLE_ATTRIBUTES)


def test_store_records_assigns_relabels_and_answers_journeys_and_filters(where) -> None:
    store = _store(where)
    red_truck = {"colour": colour("red"), "type": vtype("truck")}
    a = tracklet(3, 7, 20.0, 24.0, np.array([0.6, 0.8, 0.0], np.float32), **red_truck)
    b = tracklet(1, 2, 0.0, 5.0, np.array([0.6, 0.8, 0.0], np.float32), **red_truck)
    c = tracklet(2, 4, 10.0, 12.0, None, colour=colour("blue"), type=vtype("car"))
    for t in (a, b, c):
        store.record(t)
    store.record(a)  # a key already stored is left as it is
    assert store.global_id(a.key) is None and store.find() == []  # undecided sightings are not found
    store.assign(a.key, 5)
    store.assign(b.key, 5)
    store.assign(c.key, 9)
    store.commit()
    journey = store.journey(5)
    assert [(s.camera_name, s.track) for s in journey] == [("north-gate", 2), ("c003", 7)]  # time order
    first = journey[0]
    assert (first.first_s, first.last_s, first.first_frame, first.last_frame) == (0.0, 5.0, 1, 11)
    assert [box[0] for box in first.boxes] == [1, 6, 11] and first.boxes[0][2:] == [10.0, 20.0, 30.0, 40.0]
    assert first.colour == "red" and first.vehicle_type == "truck"
    assert first.attributes["colour"]["scores"]["red"] == pytest.approx(0.88)
    np.testing.assert_allclose(first.feature, [0.6, 0.8, 0.0], atol=1e-3)  # float16 on disk
    assert store.journey(9)[0].feature is None and store.journey(404) == []
    assert [s.track for s in store.find(colour="red")] == [2, 7]
    assert [s.track for s in store.find(colour="RED", vehicle_type="truck", camera="c003")] == [7]
    assert [s.track for s in store.find(camera="1")] == [2]  # a camera by number too
    assert [s.track for s in store.find(since=11.0, until=21.0)] == [4, 7]  # seen at some time in [since, until]
    assert [s.track for s in store.find(until=4.0)] == [2]
    assert store.find(colour="green") == []
    # a merge: every sighting of the old id takes the new one
    store.relabel({9: 5})
    assert [s.track for s in store.journey(5)] == [2, 4, 7] and store.journey(9) == []
    rows = store.rows()
    store.close()
    again = read_store(where)
    assert again.rows() == rows and again.identities() == 1
    spans = [(5, "north-gate", 0.0, 5.0), (5, "c002", 10.0, 12.0), (5, "c003", 20.0, 24.0)]  # the camera graph's read
    assert again.spans() == SightingStore.spans(again) == spans
    again.close()


def test_store_refuses_another_schema_version_and_is_rebuilt_by_the_matcher(where) -> None:
    store = _store(where)
    store.record(tracklet(1, 1, 0.0, 1.0))
    store.close()
    set_version(where, "99")
    how = "drop its tables meta, sightings and corrections" if is_url(where) else "delete it"
    with pytest.raises(MtmcError, match=rf"schema version 99; this mtmc reads version {SCHEMA_VERSION}: {how} .*rebuilds"):
        read_store(where)
    fresh = _store(where)  # a store of another version is rebuilt by the matcher
    fresh.open()
    assert fresh.rows() == []
    fresh.close()
    assert read_store(where).rows() == []


def test_sqlite_store_refuses_other_files(tmp_path) -> None:
    with pytest.raises(MtmcError, match="no sightings database at"):
        SQLiteStore.read(tmp_path / "missing.db")
    (tmp_path / "notes.txt").write_text("precious\n" * 100)
    with pytest.raises(MtmcError, match="not a sightings database"):
        SQLiteStore.read(tmp_path / "notes.txt")
    with pytest.raises(MtmcError, match="refusing to replace it"):  # the matcher never overwrites another file
        _store(str(tmp_path / "notes.txt")).open()
    assert (tmp_path / "notes.txt").read_text().startswith("precious")


def test_postgres_store_refuses_other_tables_empty_databases_and_unreachable_servers(postgres_url) -> None:  # noqa: F811
    import psycopg

    with pytest.raises(MtmcError, match="no sightings database at postgresql://"):  # an empty database
        read_store(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("CREATE TABLE sightings (precious TEXT)")
        db.execute("INSERT INTO sightings VALUES ('keep me')")
    with pytest.raises(MtmcError, match="not a sightings database .*refusing to replace it"):
        _store(postgres_url).open()
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT precious FROM sightings").fetchall() == [("keep me",)]
    url = "postgresql://mtmc:secret@127.0.0.1:1/nowhere"  # nothing listens on port 1
    with pytest.raises(MtmcError) as error:
        read_store(url)
    message = str(error.value)
    assert "cannot reach the sightings database postgresql://mtmc:***@127.0.0.1:1/nowhere" in message
    assert "secret" not in message and "fix store.url" in message and len(message.splitlines()) == 1


def test_retention_drops_sightings_older_than_keep_days(where) -> None:
    store = writer(where, cameras=CAMERAS, keep_days=1.0)
    store.record(tracklet(1, 1, 0.0, 10.0))
    store.record(tracklet(1, 2, 50_000.0, 50_010.0))
    store.record(tracklet(1, 3, 96_400.0, 96_500.0))  # 1 day after track 1 ended (+90 s)
    assert store.prune() == 1
    assert [r[3] for r in store.rows()] == [2, 3]
    store.close()


# ---- the matcher writing it -------------------------------------------------------------------


def _angle(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees)), 0.0]


def _config(tmp_path, mode: str = "online", **store) -> MtmcConfig:
    return MtmcConfig(
        cameras=[CameraConfig(id=CAMERAS[k], source="x.mp4", number=k) for k in (1, 2, 3)],
        matcher={"mode": mode, "distances": [{"name": "cosine"}], "threshold": 0.5, "dashboard": None, "publish": None,
                 "network": {"learn": False}},  # a few vehicles: too few to learn the camera network from
        embedder=synthetic_embedder(3),
        attributes={"name": "openvino-vehicle-attributes"},
        output={"dir": tmp_path},
        store=store,
    )


def _update(camera: int, t0: float, degrees: float, paint: str, track: int = 1) -> TrackletUpdate:
    times = t0 + np.arange(5) * 0.5
    return TrackletUpdate(camera, track, 0, 0, np.arange(1, 6) + int(t0 * 2), np.tile([1, 2, 30, 40], (5, 1)), times,
                          np.array(_angle(degrees), np.float32), 5, {"colour": colour(paint), "type": vtype("car")},
                          ended=True, thumbnail=jpeg(30 + camera, 40 + track))  # fmt: skip


def _batches() -> list[Batch]:
    """A (camera 1, 0-2 s) and B (camera 3, 10-12 s) are two identities (64 degrees apart) until C
    (camera 2, 20-22 s) lies between them: C joins A and the revision merges B into A's identity.
    Then two more vehicles, far apart in appearance; in an order that honours each camera's numbering."""
    return [
        Batch(1, 1, 15.0, 10, updates=(_update(1, 0.0, 0, "red"),)),
        Batch(3, 1, 15.0, 10, updates=(_update(3, 10.0, 64, "red"),)),
        Batch(2, 1, 15.0, 10),
        Batch(2, 2, 25.0, 20, updates=(_update(2, 20.0, 31, "red"),)),
        Batch(1, 2, 25.0, 20),
        Batch(3, 2, 25.0, 20),
        Batch(1, 3, 40.0, 30, updates=(TrackletUpdate(1, 2, 0, 0, [61, 62], np.tile([1, 2, 30, 40], (2, 1)), [30.0, 30.5],
                                                      np.array([0, 0, 1.0], np.float32), 2, ended=True),)),  # fmt: skip
        Batch(2, 3, 40.0, 30, updates=(_update(2, 33.0, 180, "blue", track=2),)),
        Batch(3, 3, 40.0, 30),
        *(Batch(c, 4, 40.0, 40, done=True) for c in (1, 2, 3)),
    ]


def _run_state(tmp_path, config: MtmcConfig) -> list[tuple]:
    state = MatchState(config, ResultWriter(tmp_path, CAMERAS, {}), store=store_of(config, tmp_path))
    state.store.open()
    for batch in _batches():
        state.apply(batch)
    assert state.finished
    if state.online is None:
        state.finish_offline()
    state.writer.close()
    rows = state.store.rows()
    state.store.close()
    return rows


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_matcher_writes_sightings_and_revisions_leave_no_stale_id(tmp_path, where, mode) -> None:
    rows = _run_state(tmp_path, _config(tmp_path, mode, **settings(where)))
    store = read_store(where)
    assert store.rows() == rows and len(rows) == 5 and all(r[0] is not None for r in rows)
    ids = {(r[1], r[3]): r[0] for r in rows}
    merged = ids[(1, 1)]
    assert ids[(3, 1)] == ids[(2, 1)] == merged  # B was merged into A's identity: no stale id left
    assert len({merged, ids[(1, 2)], ids[(2, 2)]}) == 3
    assert [(s.camera_name, s.first_s) for s in store.journey(merged)] == [("north-gate", 0.0), ("c003", 10.0), ("c002", 20.0)]
    assert [s.track for s in store.find(colour="blue")] == [2] and store.find(camera="c002", colour="red")[0].first_s == 20.0
    assert store.thumbnail((3, 1)) == jpeg(33, 41) and store.thumbnail((1, 2)) is None  # the worker's crops travelled
    assert store.recorded_embedder() == synthetic_embedder(3)  # the run's embedder: search embeds with it
    # the files and the store agree on every final id ... except that in the files a tracklet
    # finalised before a merge keeps the id it had (here nothing was final before the merge)
    submission = {(int(line.split()[0]), int(line.split()[1])) for line in (tmp_path / "submission.txt").read_text().splitlines()}
    assert {(c, g) for (c, _), g in ids.items()} == submission
    store.close()


def test_store_disabled_writes_nothing(tmp_path) -> None:
    config = _config(tmp_path, enabled=False)
    assert store_of(config, tmp_path) is None
    state = MatchState(config, ResultWriter(tmp_path, CAMERAS, {}), store=store_of(config, tmp_path))
    for batch in _batches():
        state.apply(batch)
    assert not (tmp_path / "sightings.db").exists()


def test_restarted_matcher_rebuilds_exactly_the_uninterrupted_store(tmp_path, where) -> None:
    """kill -9 after part of the journal: the old store is half written (even a transaction left
    open); a fresh service replays the whole journal and its store equals an uninterrupted run's."""
    reference = _run_state(tmp_path / "ref", _config(tmp_path / "ref"))
    if not is_url(where):
        where = str(tmp_path / "db" / "s.db")
    config = _config(tmp_path, **settings(where))
    payloads = [encode(b) for b in _batches()]
    for cut in (4, 7):
        out = tmp_path / f"out{cut}"
        first = MatcherService(config, out)
        first.journal.append(payloads[:cut])
        assert first.replay() == cut
        first.state.store.record(tracklet(3, 99, 0.0, 1.0))  # written, never committed: killed here
        first.journal.close()
        killed = first.state.store._db
        first.state.store._db = None  # dropped as a kill would (its connection never closed) ...
        if is_url(where):
            killed.pgconn.finish()  # ... and a server notices a killed client's socket close
        again = MatcherService(config, out)
        assert again.replay() == cut
        again.journal.append(payloads[cut:])  # the rest arrives, is journaled and applied, as serve() does
        for payload in payloads[cut:]:
            again.state.apply(decode(payload))
        assert again.state.finished
        again.state.writer.close()
        again.state.store.close()
        again.journal.close()
        store = read_store(where)
        assert store.rows() == reference
        store.close()
        third = MatcherService(config, out)  # and a restart after the end replays the whole journal
        assert third.replay() == len(payloads)
        third.state.writer.close()
        third.state.store.close()
        third.journal.close()
        assert read_store(where).rows() == reference


def test_real_kill_9_of_the_matcher_leaves_the_store_of_an_uninterrupted_run(tmp_path, clips, free_port, where) -> None:  # noqa: F811
    """The supervisor's run of two real clips, the matcher killed with SIGKILL mid-run and restarted
    (tests/test_runtime_reliability.py): the same sightings, row for row (PostgreSQL: the killed
    run writes the database the uninterrupted one wrote, after its rows were read)."""
    extra = f"store: {{url: '{where}'}}\n" if is_url(where) else ""
    reference, _ = _run(tmp_path / "plain", clips, "online", free_port, extra=extra)
    store = read_store(where if is_url(where) else tmp_path / "plain" / "out")
    rows = store.rows()
    assert rows and all(r[0] is not None for r in rows)
    pictures = [s.thumbnail for s in store.find() if s.thumbnail is not None]
    assert len(pictures) >= len(rows) // 2  # the worker's crops of real vehicles, each a small JPEG
    for picture in pictures:
        image = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and max(image.shape[:2]) <= THUMBNAIL_SIDE and len(picture) <= MAX_THUMBNAIL_BYTES
    store.close()
    interrupted, supervisor = _run(tmp_path / "killed", clips, "online", free_port, kill="matcher", extra=extra)
    assert supervisor.matcher_restarts == 1 and interrupted == reference
    assert read_store(where if is_url(where) else tmp_path / "killed" / "out").rows() == rows


# ---- mtmc search ------------------------------------------------------------------------------


def test_search_cli_journey_filters_json_and_errors(tmp_path, where, capsys) -> None:
    rows = _run_state(tmp_path, _config(tmp_path, **settings(where)))
    merged = next(r[0] for r in rows if (r[1], r[3]) == (1, 1))
    out = where if is_url(where) else str(tmp_path)  # a run's folder names its sightings.db
    assert main(["search", out, "--id", str(merged), "--json"]) == 0
    journey = json.loads(capsys.readouterr().out)
    assert journey["global_id"] == merged
    assert [s["camera"] for s in journey["sightings"]] == ["north-gate", "c003", "c002"]
    assert [s["travel_s"] for s in journey["sightings"]] == [None, 8.0, 8.0]  # 2.0 -> 10.0, 12.0 -> 20.0
    assert journey["first_s"] == 0.0 and journey["last_s"] == 22.0
    assert main(["search", where, "--id", str(merged)]) == 0
    table = capsys.readouterr().out
    assert "north-gate" in table and "c003" in table and "8.0" in table
    assert main(["search", out, "--color", "red", "--camera", "c002", "--since", "15", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(s["camera"], s["global_id"]) for s in found["sightings"]] == [("c002", merged)]
    assert main(["search", out, "--type", "car", "--until", "12"]) == 0
    assert "north-gate" in capsys.readouterr().out
    assert main(["search", out, "--colour", "green"]) == 0
    assert "no sightings" in capsys.readouterr().out
    # one-line errors
    assert main(["search", out, "--id", "404"]) == 2
    assert "no identity 404" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "nothing")]) == 2
    assert "no sightings database at" in capsys.readouterr().err
    set_version(where, "0")
    assert main(["search", out, "--id", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "schema version 0" in err and len(err.splitlines()) == 1


def test_serving_matcher_commits_per_tick_readers_see_it_live_and_the_end_is_the_reference(tmp_path, free_port, where) -> None:
    import threading
    import time

    import zmq

    reference = _run_state(tmp_path / "ref", _config(tmp_path / "ref"))
    endpoint = f"tcp://127.0.0.1:{free_port}"
    config = _config(tmp_path, **({"url": where} if is_url(where) else {}))  # SQLite: OUT/sightings.db
    config.matcher.bind = endpoint
    readable = where if is_url(where) else tmp_path / "out"
    (tmp_path / "out").mkdir()
    if is_url(where):  # a table of the store's name that is not a sightings store
        import psycopg

        with psycopg.connect(where, autocommit=True) as db:
            db.execute("CREATE TABLE meta (name TEXT)")
    else:
        (tmp_path / "out" / "sightings.db").write_bytes(b"")  # an empty file is not a sightings database
    (tmp_path / "out" / "submission.txt").write_text("the run found here\n")
    with pytest.raises(MtmcError, match="refusing to replace it"):
        MatcherService(config, tmp_path / "out", fresh=True).serve()
    assert (tmp_path / "out" / "submission.txt").read_text() == "the run found here\n"  # left untouched
    if is_url(where):
        with psycopg.connect(where, autocommit=True) as db:
            db.execute("DROP TABLE meta")
    else:
        (tmp_path / "out" / "sightings.db").unlink()
    service = MatcherService(config, tmp_path / "out", fresh=True)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(service.serve()), daemon=True)
    thread.start()
    peers = {}
    for camera in (1, 2, 3):
        peers[camera] = zmq.Context.instance().socket(zmq.DEALER)
        peers[camera].connect(endpoint)
    batches = _batches()
    for batch in batches[:6]:  # A, B and C decided, B merged into A
        peers[batch.camera].send(encode(batch))
    deadline = time.monotonic() + 10
    live = []
    while time.monotonic() < deadline and len(live) < 3:
        time.sleep(0.2)
        try:
            reader = read_store(readable)  # while the matcher writes
        except MtmcError:  # not created yet
            continue
        live = reader.find()
        reader.close()
    assert len(live) == 3 and len({s.global_id for s in live}) == 1
    for batch in batches[6:]:
        peers[batch.camera].send(encode(batch))
    thread.join(10)
    assert not thread.is_alive() and result["complete"]
    assert read_store(readable).rows() == reference
    for peer in peers.values():
        peer.close(0)


def test_store_config_takes_a_postgresql_url_or_a_path_not_both(tmp_path) -> None:
    from pydantic import ValidationError

    assert _config(tmp_path, url="postgresql://mtmc@db.example/city").store.url == "postgresql://mtmc@db.example/city"
    with pytest.raises(ValidationError, match="must be a postgresql:// URL, got 'db.example/city'"):
        _config(tmp_path, url="mysql://mtmc:secret@db.example/city")  # the password is not repeated
    with pytest.raises(ValidationError, match="path .SQLite. or url .PostgreSQL., not both"):
        _config(tmp_path, path="s.db", url="postgresql://db.example/city")

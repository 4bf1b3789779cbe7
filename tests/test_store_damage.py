"""A damaged or unwritable sightings database is one line, never a traceback: a store with corrupt
pages (``mtmc search`` and the dashboard, whether the damage shows at open or mid-query), and a
store on a folder this user cannot write (read as it is; the matcher says it cannot write there)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mtmc.cli import main
from mtmc.dashboard import LiveState, StoreView, serve
from mtmc.errors import MtmcError
from mtmc.store import SQLiteStore
from mtmc.types import Tracklet

CORRUPT = "the sightings database is corrupt (database disk image is malformed); rebuild it: run the matcher again"
NOBODY = 65534


def build(path: Path, sightings: int = 40) -> Path:
    """A real store of ``sightings`` decided sightings (two per identity), each with a feature and a
    2 KiB thumbnail, so the table spans many pages; closed (its -wal checkpointed away)."""
    store = SQLiteStore(path, cameras={1: "north-gate", 2: "depot"})
    for k in range(sightings):
        times = np.arange(10.0 * k, 10.0 * k + 3.0, 0.5)
        t = Tracklet(1 + k % 2, k, np.arange(len(times)), np.tile([1.0, 2.0, 3.0, 4.0], (len(times), 1)), times,
                     feature=np.ones(256, np.float32), feature_count=3, ended=True, thumbnail=bytes(range(256)) * 8)  # fmt: skip
        store.record(t)
        store.assign(t.key, k // 2)
    store.close()
    return path


def garble(path: Path, pages: range | list[int]) -> None:
    """Overwrite whole pages (1-based) with 0xff bytes, as a bad sector or a torn copy would."""
    db = sqlite3.connect(path)
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(path, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(b"\xff" * size)


def pages_of(path: Path) -> tuple[dict[str, int], int]:
    """Each table's and index's root page, and the file's page count."""
    db = sqlite3.connect(path)
    roots = dict(db.execute("SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0").fetchall())
    count = db.execute("PRAGMA page_count").fetchone()[0]
    db.close()
    return roots, count


def data_pages_garbled(path: Path) -> Path:
    """Every page after the schema's root pages (the sightings' rows and index leaves) garbled: the
    store still opens (its meta table is whole) and a search hits the damage mid-query."""
    roots, count = pages_of(path)
    first = max(roots.values()) + 1
    assert count - first > 10, "the store should span many data pages"
    garble(path, range(first, count + 1))
    return path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in captured.err + captured.out, captured.err
    return err


def test_search_on_a_store_with_corrupt_data_pages_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_pages_garbled(build(tmp_path / "sightings.db"))
    store = SQLiteStore.read(path)  # opens: the damage is met mid-query
    with pytest.raises(MtmcError, match="^" + re.escape(f"{path}: {CORRUPT}")):
        store.find()
    store.close()
    for argv in (["search", str(tmp_path)], ["search", str(path), "--color", "red", "--json"], ["search", str(tmp_path), "--id", "7"]):
        assert main(argv) == 2
        err = one_line_error(capsys)
        assert err.startswith(f"mtmc search: error: {path}: {CORRUPT}") and err.endswith("OUT/matcher.journal"), err


def test_a_corrupt_meta_page_is_corrupt_not_another_file_and_the_matcher_rebuilds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    path = build(tmp_path / "sightings.db")
    roots, _ = pages_of(path)
    garble(path, [roots["sqlite_autoindex_meta_1"], roots["meta"]])
    assert main(["search", str(path), "--id", "1"]) == 2
    err = one_line_error(capsys)
    assert err.startswith(f"mtmc search: error: {path}: {CORRUPT}") and "not a sightings database" not in err, err
    fresh = SQLiteStore(path)  # its schema still names our tables: the matcher may replace it
    fresh.open()
    assert fresh.rows() == []
    fresh.close()


def test_dashboard_answers_a_corrupt_store_with_a_503_and_its_line(tmp_path: Path) -> None:
    path = data_pages_garbled(build(tmp_path / "sightings.db"))
    view = StoreView(lambda: SQLiteStore.read(path), str(path))
    server, port = serve(LiveState(["north-gate", "depot"]), "127.0.0.1", 0, view=view, live=False)
    try:
        for route in ("/api/search", "/api/search?colour=red", "/api/identity/7", "/api/graph", "/api/thumbnail/1/8.jpg"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", route)
            response = conn.getresponse()
            body = response.read()
            conn.close()
            assert response.status == 503, (route, response.status, body[:200])
            assert response.headers["Content-Type"] == "application/json"
            answer = json.loads(body)
            assert answer["status"] == 503 and answer["error"].startswith(f"{path}: {CORRUPT}"), answer
            assert "\n" not in answer["error"] and "Traceback" not in answer["error"]
    finally:
        server.close()


@contextlib.contextmanager
def read_only_folder(store: Path) -> Iterator[None]:
    """``store``'s folder (0o555) and file (0o444) read only to this process: as root, which chmod
    does not stop, the effective user is ``nobody`` meanwhile (so SQLite really cannot create the
    WAL's -shm next to the file, as on read-only media)."""
    folder = store.parent
    store.chmod(0o444)
    folder.chmod(0o555)
    as_root = os.geteuid() == 0
    try:
        if as_root:
            try:
                os.setegid(NOBODY)
                os.seteuid(NOBODY)
            except PermissionError:
                pytest.skip("root without CAP_SETUID: cannot take a user that chmod stops")
        try:
            (folder / "probe").touch()
        except PermissionError:
            pass
        else:
            pytest.skip("this file system lets this user write a 0o555 folder")
        yield
    finally:
        if as_root:
            os.seteuid(0)
            os.setegid(0)
        folder.chmod(0o755)
        store.chmod(0o644)


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder ``nobody`` can reach (pytest's own tmp_path is 0o700 to root)."""
    folder = Path(tempfile.mkdtemp(prefix="mtmc-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for sub in folder.rglob("*"):
            if sub.is_dir():
                sub.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_store_on_a_read_only_folder_is_read_and_the_matcher_says_it_cannot_write(
    shared_folder: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    run = shared_folder / "run"
    run.mkdir(mode=0o755)
    path = build(run / "sightings.db")
    warm = shutil.copytree(run, shared_folder / "warm")  # a reader leaves an empty -wal and -shm: not in run
    assert main(["search", str(warm), "--id", "7", "--json"]) == 0  # every lazy import done while readable
    capsys.readouterr()
    with read_only_folder(path):
        assert sorted(p.name for p in run.iterdir()) == ["sightings.db"]  # SQLite must make the -shm to read
        assert main(["search", str(run), "--id", "7", "--json"]) == 0
        journey = json.loads(capsys.readouterr().out)
        assert [s["track"] for s in journey["sightings"]] == [14, 15]
        view = StoreView(lambda: SQLiteStore.read(path), str(path))
        assert view.search()["sightings"] == 40
        for target in (path, run / "another.db"):  # replacing the store, or a new one there
            with pytest.raises(MtmcError) as caught:
                SQLiteStore(target).open()
            message = str(caught.value)
            assert message == f"{target}: cannot write the sightings database (permission denied); set store.path to a writable place"
    assert not Path(f"{path}-wal").exists() and not (run / "another.db").exists()

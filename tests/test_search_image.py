"""Search by picture: the identity index against a brute-force scan, track-averaged identity
features, and ``mtmc search --image`` on a small store with a tiny embedder (right identity first,
--json shape, one-line errors for a bad picture, a wrong-sized embedder and no database)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mtmc.cli import main
from mtmc.detect.defaults import VEHICLE_EMBEDDER
from mtmc.errors import MtmcError
from mtmc.reid import EMBEDDERS
from mtmc.reid.embedder import Embedder
from mtmc.store import SQLiteStore, SQLStore, read_store
from mtmc.store import image_search
from mtmc.store.base import SightingStore
from mtmc.store.image_search import PictureSearch, embedder_part, read_picture, search_by_image
from mtmc.store.index import IdentityIndex, identity_features
from mtmc.types import Tracklet
from postgres_cluster import postgres_cluster, postgres_url  # noqa: F401 (fixtures)
from test_embedder import ChannelMeans

TINY = "test-thumbnail"
CAMERAS = {1: "north-gate", 2: "c002", 3: "c003"}


class Thumbnail(Embedder):
    """A stand-in re-id model: the crop shrunk to 2 x 2 pixels, 12 numbers; colours in different
    places tell the test's vehicles apart, as a real embedder's features would."""

    def __init__(self, **options) -> None:
        super().__init__(dim=12, input_size=(2, 2), **{k: v for k, v in options.items() if k != "threads"})

    def run_model(self, batch: np.ndarray) -> np.ndarray:
        return batch.reshape(len(batch), -1)


if TINY not in EMBEDDERS.names():
    EMBEDDERS.register(TINY)(Thumbnail)

# Each vehicle: its top and bottom halves' BGR colours.
VEHICLES = {1: ((0, 0, 220), (200, 60, 0)), 2: ((0, 200, 0), (0, 0, 200)), 3: ((230, 230, 230), (20, 20, 20))}


def picture(top: tuple, bottom: tuple, seed: int = 0, size: tuple[int, int] = (60, 90)) -> np.ndarray:
    """A vehicle crop (H, W, 3) BGR of two colours, with a little noise so no two are identical."""
    image = np.zeros((*size, 3), np.uint8)
    image[: size[0] // 2], image[size[0] // 2 :] = top, bottom
    noise = np.random.default_rng(seed).integers(-12, 13, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def _tracklet(camera: int, track: int, t0: float, feature: np.ndarray, frames: int) -> Tracklet:
    times = t0 + 0.5 * np.arange(frames)
    boxes = np.tile([10.0, 20.0, 40.0, 50.0], (frames, 1))
    return Tracklet(camera, track, np.arange(1, frames + 1) + int(2 * t0), boxes, times, feature=feature,
                    feature_count=frames, ended=True)  # fmt: skip


def _fill(store: SQLStore) -> None:
    """Vehicles 1-3, vehicle 1 seen three times on two cameras, features from :class:`Thumbnail`."""
    embedder = Thumbnail()
    sightings = [(1, 1, 1, 0.0), (2, 2, 1, 5.0), (1, 3, 1, 20.0), (2, 1, 2, 8.0), (3, 1, 3, 8.0)]  # camera, track, vehicle, t0
    for k, (camera, track, vehicle, t0) in enumerate(sightings):
        crop = picture(*VEHICLES[vehicle], seed=10 + k)
        feature = embedder.embed(crop, np.array([[0, 0, crop.shape[1], crop.shape[0]]]))[0]
        store.record(_tracklet(camera, track, t0, feature, frames=6), global_id=vehicle)
    store.close()


@pytest.fixture
def store_dir(tmp_path):
    """A run folder with its sightings.db (:func:`_fill`, recording the tiny embedder as the
    matcher records the run's) and a config naming it."""
    _fill(SQLiteStore(tmp_path / "sightings.db", cameras=CAMERAS, embedder={"name": TINY}))
    (tmp_path / "run.yaml").write_text(f"embedder: {{name: {TINY}}}\n")
    return tmp_path


@pytest.fixture(params=["sqlite", "postgres"])
def where(request, tmp_path) -> str:
    """A filled store on each backend: a SQLite file, or an empty PostgreSQL database's URL."""
    if request.param == "sqlite":
        _fill(SQLiteStore(tmp_path / "sightings.db", cameras=CAMERAS))
        return str(tmp_path / "sightings.db")
    from mtmc.store.postgres import PostgresStore

    url = request.getfixturevalue("postgres_url")
    _fill(PostgresStore(url, cameras=CAMERAS))
    return url


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def test_index_equals_brute_force_on_random_data() -> None:
    rng = np.random.default_rng(0)
    features = rng.standard_normal((3000, 64)).astype(np.float32)
    ids = rng.permutation(100_000)[:3000]
    index = IdentityIndex(ids, features)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    for query in rng.standard_normal((20, 64)):
        distances = 1 - unit.astype(np.float64) @ (query / np.linalg.norm(query))
        order = np.argsort(distances)[:10]
        found, found_d = index.search(query, 10)
        assert found.tolist() == ids[order].tolist()
        assert found_d == pytest.approx(distances[order], abs=1e-5)
    assert len(index.search(rng.standard_normal(64), 5000)[0]) == 3000  # k beyond N: all, in order
    same = IdentityIndex([9, 4, 7], np.ones((3, 2)))
    assert same.search(np.array([1.0, 1.0]), 2)[0].tolist() == [4, 7]  # ties (at the cut too): smaller id
    with pytest.raises(ValueError, match="3-d query"):
        index.search(np.ones(3), 1)


def test_identity_feature_is_the_count_weighted_track_mean() -> None:
    features = np.array([[1, 0], [0, 1], [0, 2]], np.float32)
    ids, means = identity_features(np.array([5, 5, 2]), np.array([3, 1, 4]), features)
    assert ids.tolist() == [2, 5]
    assert means[0] == pytest.approx([0, 1]) and means[1] == pytest.approx(np.array([3, 1]) / np.sqrt(10))


def test_both_backends_read_the_features_as_the_generic_read_and_find_by_picture(where) -> None:
    store = read_store(where)
    try:
        fast, generic = store.features(), SightingStore.features(store)  # three columns vs every Sighting
    finally:
        store.close()
    order = np.lexsort((fast[2][:, 0], fast[0])), np.lexsort((generic[2][:, 0], generic[0]))
    for a, b in zip(fast, generic):
        assert np.array_equal(a[order[0]], b[order[1]])
    assert fast[2].shape == (5, 12) and fast[2].dtype == np.float32
    found = PictureSearch(where, embedder=Thumbnail()).search(_png(picture(*VEHICLES[2], seed=5)), 2)
    assert [r["global_id"] for r in found][:1] == [2] and found[0]["cameras"] == ["c002"]


def test_search_image_finds_the_right_identity_first_with_its_journey(store_dir, capsys) -> None:
    query = store_dir / "query.jpg"
    query.write_bytes(cv2.imencode(".jpg", picture(*VEHICLES[1], seed=99, size=(80, 120)))[1].tobytes())
    config = str(store_dir / "run.yaml")
    assert main(["search", str(store_dir), "--image", str(query), "--config", config, "--top", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"image", "top", "identities"} and out["top"] == 2
    first, second = out["identities"]
    assert set(first) == {"rank", "distance", "global_id", "cameras", "first_s", "last_s", "sightings"}
    assert (first["rank"], first["global_id"], second["rank"]) == (1, 1, 2)
    assert 0 <= first["distance"] < second["distance"] <= 2
    assert first["cameras"] == ["north-gate", "c002", "north-gate"]  # time order: 0 s, 5 s, 20 s
    assert (first["first_s"], first["last_s"]) == (0.0, 22.5)
    assert first["sightings"][1] == {"camera": "c002", "track": 2, "first_s": 5.0, "last_s": 7.5}
    assert main(["search", str(store_dir / "sightings.db"), "--image", str(query), "--config", config]) == 0
    table = capsys.readouterr().out
    assert "north-gate > c002 > north-gate" in table
    # the library call the dashboard makes: the same answer from the picture's bytes
    found = search_by_image(store_dir, query.read_bytes(), k=3, config=config)
    assert [r["global_id"] for r in found][0] == 1 and len(found) == 3


@pytest.mark.parametrize("case", ["text", "empty", "too many pixels", "missing"])
def test_bad_picture_is_one_line_and_a_failure(store_dir, capsys, monkeypatch, case) -> None:
    path = store_dir / "query.jpg"
    if case == "text":
        path.write_text("not a picture\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "too many pixels":
        monkeypatch.setattr(image_search, "MAX_PICTURE_PIXELS", 1000)
        path.write_bytes(_png(picture(*VEHICLES[2])))
    code = main(["search", str(store_dir), "--image", str(path), "--config", str(store_dir / "run.yaml")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and str(path) in err
    expected = {"text": "not an image", "empty": "empty", "too many pixels": "90 x 60 pixels", "missing": "cannot read"}
    assert expected[case] in err


def test_picture_limits_and_other_errors(store_dir, capsys, monkeypatch) -> None:
    monkeypatch.setattr(image_search, "MAX_PICTURE_BYTES", 100)
    with pytest.raises(MtmcError, match="MiB"):
        read_picture(_png(picture(*VEHICLES[3])))
    monkeypatch.undo()
    wrong = store_dir / "wrong.yaml"
    wrong.write_text("embedder: {name: onnx, weights: nothing.onnx}\n")
    query = store_dir / "q.png"
    query.write_bytes(_png(picture(*VEHICLES[1])))
    assert main(["search", str(store_dir / "nowhere"), "--image", str(query), "--config", str(wrong)]) == 2
    assert "no sightings database" in capsys.readouterr().err  # said before any model loads
    assert main(["search", str(store_dir), "--image", str(query), "--color", "red"]) == 2
    assert "--colour filter sightings" in capsys.readouterr().err
    with pytest.raises(MtmcError, match="12-d but the embedder gives 3-d"):
        image_search.PictureSearch(store_dir, embedder=ChannelMeans()).search(picture(*VEHICLES[1]), 1)


def test_without_a_config_the_default_embedder_is_said(caplog) -> None:
    with caplog.at_level("WARNING"):
        part = embedder_part(None)
    assert part == VEHICLE_EMBEDDER
    assert "default embedder" in caplog.text and "--config" in caplog.text


def test_without_a_config_the_store_s_recorded_embedder_is_used(tmp_path, store_dir, capsys, caplog) -> None:
    query = store_dir / "query.png"
    query.write_bytes(_png(picture(*VEHICLES[3], seed=42)))
    with caplog.at_level("WARNING"):
        assert main(["search", str(store_dir), "--image", str(query), "--top", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["identities"][0]["global_id"] == 3
    assert "default embedder" not in caplog.text  # the recorded one, not the default (12-d, not 1280-d)
    # a config given wins over the record: this one's model is missing, so it fails naming it
    wrong = store_dir / "wrong.yaml"
    wrong.write_text("embedder: {name: onnx, weights: nothing.onnx}\n")
    assert main(["search", str(store_dir), "--image", str(query), "--config", str(wrong)]) == 2
    assert "nothing.onnx" in capsys.readouterr().err
    # a motion-only run recorded no embedder: one line saying there is nothing to search by picture
    _fill(SQLiteStore(tmp_path / "motion" / "sightings.db", cameras=CAMERAS, embedder=None))
    assert main(["search", str(tmp_path / "motion"), "--image", str(query)]) == 2
    assert "embedder: null" in capsys.readouterr().err


def test_picture_search_reads_the_index_again_only_when_the_store_changed(store_dir) -> None:
    import sqlite3

    search = PictureSearch(store_dir, embedder=Thumbnail())
    crop = picture(*VEHICLES[3], seed=7)
    assert search.search(crop, 1)[0]["global_id"] == 3
    store = read_store(store_dir)
    try:
        index = search.index(store)
        assert search.index(store) is index  # unchanged file: the same index
    finally:
        store.close()
    db = sqlite3.connect(store_dir / "sightings.db")  # the matcher revises vehicle 3's id
    db.execute("UPDATE sightings SET global_id = 7 WHERE global_id = 3")
    db.commit()
    db.close()
    assert search.search(crop, 1)[0]["global_id"] == 7

"""Vehicle attributes: the OpenVINO classifier on real crops, which crops a worker classifies, each
track's running mean, and the scores on the wire and in the matcher's metadata distance."""

from __future__ import annotations

import numpy as np
import pytest

from mtmc.camera import attributes_for_matcher
from mtmc.config import CameraConfig, MtmcConfig, load_config
from mtmc.errors import MtmcError
from mtmc.match.distances import DISTANCES, Scene
from mtmc.match.offline import build_distances
from mtmc.reid.attributes import VEHICLE_ATTRIBUTES, build_attributes
from mtmc.runtime.emitter import TrackletEmitter
from mtmc.runtime.matcher import MatchState
from mtmc.runtime.results import ResultWriter
from mtmc.transport.codec import TrackletBuilder, decode, encode

CROPS = ["bus_0001_cam1.jpg", "car_0003_cam1.jpg", "truck_0001_cam1.jpg", "motorcycle_0002_cam2.jpg"]


def mosaic(data_dir, names: list[str], height: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Real crops side by side in one image, and their boxes x1y1x2y2."""
    import cv2

    tiles = []
    for name in names:
        crop = cv2.imread(str(data_dir / "vehicle-reid-2cam" / "images" / "train" / name))
        assert crop is not None, name
        tiles.append(cv2.resize(crop, (round(crop.shape[1] * height / crop.shape[0]), height)))
    widths = np.cumsum([0] + [t.shape[1] for t in tiles])
    boxes = np.array([[widths[k], 0, widths[k + 1], height] for k in range(len(tiles))], np.float64)
    return np.hstack(tiles), boxes


def test_classifier_gives_probability_vectors_on_real_crops_in_any_batch_size(data_dir) -> None:
    image, boxes = mosaic(data_dir, CROPS)
    boxes = np.vstack([boxes, [[5, 5, 5, 40]]])  # empty once clipped: a zero row, no crop
    one_batch = build_attributes(threads=1).classify(image, boxes)
    small = build_attributes(threads=1, batch_size=3).classify(image, boxes)
    assert set(one_batch) == {"colour", "type"}
    for name, classes in VEHICLE_ATTRIBUTES.items():
        scores = one_batch[name]
        assert scores.shape == (5, len(classes)) and scores.dtype == np.float32
        assert np.all(scores[:4] >= 0) and scores[:4].sum(1) == pytest.approx(np.ones(4), abs=1e-3)
        assert not scores[4].any()
        np.testing.assert_allclose(small[name], scores, atol=1e-4)


def test_bad_model_options_are_one_line() -> None:
    with pytest.raises(
        MtmcError, match=r"attributes: openvino-vehicle-attributes: bad option .*colour_space"
    ):
        build_attributes(colour_space="hsv")
    with pytest.raises(MtmcError, match="unknown attribute model 'resnet'"):
        build_attributes("resnet")


class Fixed:
    """A stand-in classifier: detection k gets colour one-hot at k % 7 and type at k % 4."""

    labels = VEHICLE_ATTRIBUTES

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def classify(self, image: np.ndarray, boxes: np.ndarray) -> dict[str, np.ndarray]:
        self.seen.append(boxes[:, 0].copy())
        k = boxes[:, 0].astype(int)  # boxes below start at x = detection index
        return {"colour": np.eye(7, dtype=np.float32)[k % 7], "type": np.eye(4, dtype=np.float32)[k % 4]}


def test_only_confirmed_tracks_due_this_frame_are_classified_in_one_batch() -> None:
    detections = np.array([[k, 0, k + 10, 10, 0.9, 2] for k in range(5)], np.float64)
    # tracks 7 and 8 matched detections 1 and 3; track 9 coasts without a detection (-1)
    tracks = np.array(
        [[1, 0, 11, 10, 7, 0.9, 2, 1], [3, 0, 13, 10, 8, 0.9, 2, 3], [0, 0, 9, 9, 9, 0.9, 2, -1]]
    )
    classifier = Fixed()
    scores = attributes_for_matcher(classifier, np.zeros((20, 20, 3), np.uint8), detections, tracks, frame=4)
    assert [list(s) for s in classifier.seen] == [[1.0, 3.0]]
    assert scores["colour"].shape == (5, 7) and scores["type"].shape == (5, 4)
    assert np.flatnonzero(scores["colour"].any(1)).tolist() == [1, 3]
    classifier.seen.clear()
    for frame in range(6):  # every 3rd frame per track, tracks staggered by id
        attributes_for_matcher(
            classifier, np.zeros((20, 20, 3), np.uint8), detections, tracks, frame, every=3
        )
    assert [list(s) for s in classifier.seen] == [[1.0], [3.0], [1.0], [3.0]]  # 7 at frames 1, 4; 8 at 2, 5


def test_emitter_sends_each_tracks_running_mean_which_reaches_the_matcher() -> None:
    emitter = TrackletEmitter(camera=2)
    red, blue = np.eye(7, dtype=np.float32)[3], np.eye(7, dtype=np.float32)[5]
    car, van = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[3]
    row = np.array([[0, 0, 10, 10, 4, 0.9, 2, 0]], np.float64)
    emitter.add(1, 0.0, row, None, {4}, {"colour": red[None], "type": car[None]})
    emitter.add(
        2, 0.1, row, None, {4}, {"colour": np.zeros((1, 7)), "type": np.zeros((1, 4))}
    )  # not classified
    emitter.add(3, 0.2, row, None, {4}, {"colour": blue[None], "type": van[None]})
    emitter.add(4, 0.3, row, None, {4})  # attributes off this frame
    [batch] = emitter.flush(first_number=1)
    [update] = decode(encode(batch)).updates
    np.testing.assert_allclose(update.attributes["colour"], (red + blue) / 2, atol=1e-3)
    np.testing.assert_allclose(update.attributes["type"], (car + van) / 2, atol=1e-3)
    builder = TrackletBuilder(2, 4)
    builder.add(update)
    tracklet = builder.tracklet()
    assert set(tracklet.attributes) == {"colour", "type"} and len(tracklet.frames) == 4


def _camera_stream(camera: int, colours: dict[int, int]) -> list:
    """Two vehicles seen at once by ``camera`` (so never one identity), looking the same to the
    embedder, told apart only by their colour ({track: colour index}); track t's box is at x = 100 t."""
    emitter = TrackletEmitter(camera)
    rows = np.array([[100 * t, 0, 100 * t + 10, 10, t, 0.9, 2, k] for k, t in enumerate(colours)], np.float64)
    scores = {
        "colour": np.eye(7, dtype=np.float32)[list(colours.values())],
        "type": np.eye(4, dtype=np.float32)[[0, 0]],
    }
    for frame in range(1, 6):
        emitter.add(
            frame, 10.0 * camera + 0.1 * frame, rows, np.ones((2, 4), np.float32), set(colours), scores
        )
    emitter.end_all()
    return [decode(encode(b)) for b in emitter.flush(first_number=1, done=True)]


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_metadata_distance_links_the_vehicles_that_appearance_cannot_tell_apart(tmp_path, mode) -> None:
    config = MtmcConfig(
        cameras=[CameraConfig(id="c001", source="a.mp4"), CameraConfig(id="c002", source="b.mp4")],
        attributes={"every": 2},
        matcher={"mode": mode, "dashboard": None, "publish": None, "network": {"learn": False},
                 "distances": [{"name": "cosine", "metadata": {"colour": 0.5, "type": 0.5}}]},
        output={"dir": tmp_path},
    )  # fmt: skip
    state = MatchState(config, ResultWriter(tmp_path, {1: "c001", 2: "c002"}, {}))
    # camera 1: track 1 red, track 2 blue; camera 2 lists them the other way round
    for batch in _camera_stream(1, {1: 3, 2: 5}) + _camera_stream(2, {1: 5, 2: 3}):
        state.apply(batch)
    if mode == "offline":
        state.finish_offline()
    state.writer.close()
    gid = {}
    for line in (tmp_path / "submission.txt").read_text().splitlines():
        camera, global_id, _, x = map(int, map(float, line.split()[:4]))
        gid[(camera, x // 100)] = global_id
    assert gid[(1, 1)] == gid[(2, 2)] != gid[(1, 2)] == gid[(2, 1)]


def test_metadata_distance_is_gamma_times_euclidean() -> None:
    from mtmc.types import Tracklet

    def tracklet(camera: int, colour: list[float]) -> Tracklet:
        return Tracklet(camera, 1, [1], [[0, 0, 1, 1]], [0.0], feature=[1.0, 0.0], feature_count=1,
                        attributes={"colour": np.array(colour, np.float32)})  # fmt: skip

    fn = DISTANCES.build("cosine", metadata={"colour": 0.5})
    dist = fn([tracklet(1, [1, 0]), tracklet(2, [0, 1])], Scene())
    assert dist[0, 1] == pytest.approx(0.5 * np.sqrt(2))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("matcher:\n  distances: [{name: cosine, metadata: {colour: 1}}]\n",
         r"city.yaml: \(top\): Value error, matcher.distances.0.metadata: no attribute 'colour'; add an attributes: section"),
        ("attributes: {}\nmatcher:\n  distances: [{name: cosine, metadata: {color: 1}}]\n",
         r"matcher.distances.0.metadata: no attribute 'color'; the attribute model sends colour, type"),
        ("attributes: {every: 0}\n", r"city.yaml: attributes.every: Input should be greater than or equal to 1"),
        ("attributes: {name: hsv}\n", r"city.yaml: attributes.name: Value error, unknown attribute model 'hsv'"),
    ],
)  # fmt: skip
def test_bad_attribute_config_is_one_line(tmp_path, text, expected) -> None:
    path = tmp_path / "city.yaml"
    path.write_text(text)
    with pytest.raises(MtmcError, match=expected) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_bad_metadata_weight_is_one_line() -> None:
    config = MtmcConfig(
        attributes={}, matcher={"distances": [{"name": "cosine", "metadata": {"colour": -1}}]}
    )
    with pytest.raises(
        MtmcError,
        match=r"matcher.distances: cosine: bad option \(metadata must map attribute names to weights >= 0",
    ):
        build_distances(config.matcher)

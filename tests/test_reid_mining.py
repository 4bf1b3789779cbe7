"""Mining re-id sets from tracks: crop collection and its filters, identity selection, time segments,
the ``folders`` set written and read back, caching, and the real pipeline on street-a.mp4."""

import json

import numpy as np
import pytest

from mtmc.errors import MtmcError
from mtmc.reid.data import load_dataset, mining, read_image
from mtmc.reid.data.mining import (
    EvenSample,
    MinedTrack,
    MiningOptions,
    TrackCollector,
    build_reid_set,
    mine_tracks,
    rejection_reason,
    select_identities,
    time_segments,
    write_reid_set,
)

HEIGHT, WIDTH = 352, 640


def fabricated_track(video: str, track: int, colour: int, crops: int = 12, first: int = 1, step: int = 5):
    """A track moving right over ``crops`` frames ``step`` apart, each crop a flat 40 x 30 image."""
    frames = first + step * np.arange(crops)
    x = 50 + 10 * np.arange(crops)
    boxes = np.column_stack([x, np.full(crops, 100), x + 40, np.full(crops, 130)])
    images = [np.full((30, 40, 3), (colour, 255 - colour, (7 * colour) % 256), np.uint8) for _ in range(crops)]
    return MinedTrack(video, track, frames, boxes, np.full(crops, 0.9), crop_frames=frames, crops=images)


def test_options_name_the_valid_range():
    with pytest.raises(ValueError, match=r"MiningOptions.segments must be an integer >= 2, got 1"):
        MiningOptions(segments=1)
    with pytest.raises(ValueError, match=r"min_score must be a number with 0 <= value <= 1, got 1.5"):
        MiningOptions(min_score=1.5)
    with pytest.raises(ValueError, match=r"segment_gap must be a number with 0 <= value < 1, got 1"):
        MiningOptions(segment_gap=1)
    with pytest.raises(ValueError, match=r"max_frames must be an integer >= 1 or None, got 0"):
        MiningOptions(max_frames=0)


def test_mined_track_checks_its_arrays():
    box = [[0, 0, 10, 10]] * 2
    with pytest.raises(ValueError, match="frames, boxes and scores must be non-empty and of one length"):
        MinedTrack("v", 1, [1, 2], box, [0.9])
    with pytest.raises(ValueError, match="frames must increase and hold every crop frame"):
        MinedTrack("v", 1, [1, 2], box, [0.9, 0.9], crop_frames=[3], crops=[np.zeros((10, 10, 3), np.uint8)])
    with pytest.raises(ValueError, match="1 crops but 2 crop frames"):
        MinedTrack("v", 1, [1, 2], box, [0.9, 0.9], crop_frames=[1, 2], crops=[np.zeros((10, 10, 3), np.uint8)])


def test_even_sample_is_bounded_and_evenly_spread():
    sample = EvenSample(8)
    for item in range(100):
        sample.offer(item)
    kept = sample.items()
    assert 4 <= len(kept) <= 8
    assert kept[0] == 0 and len(set(np.diff(kept))) == 1  # one step between all kept items
    assert kept[-1] >= 100 - np.diff(kept)[0]  # reaches the end of the stream
    with pytest.raises(ValueError, match="capacity must be >= 2"):
        EvenSample(1)


def test_collector_keeps_usable_crops_and_selection_drops_bad_tracks():
    options = MiningOptions(max_crops_per_track=8, min_track_frames=20, min_box_side=32, min_score=0.5)
    collector = TrackCollector("synthetic", options)
    # (track id, score, box at frame f): a good moving car, then one track per filter.
    tracks = {
        1: (0.9, lambda f: (100 + 8 * f, 100, 160 + 8 * f, 150)),  # kept
        2: (0.9, lambda f: (100 + 8 * f, 200, 160 + 8 * f, 250)),  # short: frames 1..5 only
        3: (0.4, lambda f: (80 + 8 * f, 250, 140 + 8 * f, 300)),  # low-score
        4: (0.9, lambda f: (300 + 4 * f, 20, 310 + 4 * f, 28)),  # tiny: 10 x 8 pixels
        5: (0.9, lambda f: (0, 40 + 5 * f, 60, 90 + 5 * f)),  # touches the left border
        6: (0.9, lambda f: (500, 200, 560, 250)),  # parked
    }
    for frame in range(1, 41):
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        live = [(k, score, box(frame)) for k, (score, box) in tracks.items() if k != 2 or frame <= 5]
        detections = np.array([[*box, score, 2] for _, score, box in live], np.float32)
        x1, y1, x2, y2 = live[0][2]
        image[y1:y2, x1:x2] = (10, 20, 30)  # track 1's pixels
        tracked = np.array([[*box, k, score, 2, i] for i, (k, score, box) in enumerate(live)], np.float32)
        collector.add(frame, image, tracked, detections)
    mined = {track.track: track for track in collector.tracks()}

    assert sorted(mined) == [1, 2, 3, 4, 5, 6]
    good = mined[1]
    assert len(good.frames) == 40 and good.span_frames == 40
    assert 4 <= len(good.crops) <= 8 and set(good.crop_frames) <= set(good.frames)
    assert all(crop.shape == (50, 60, 3) and crop.dtype == np.uint8 for crop in good.crops)
    assert all((crop == (10, 20, 30)).all() for crop in good.crops)
    assert mined[3].crops == [] and mined[4].crops == [] and mined[5].crops == []  # score, size, border
    assert len(mined[6].crops) > 0

    reasons = {k: rejection_reason(track, options) for k, track in mined.items()}
    assert reasons == {1: None, 2: "short", 3: "low-score", 4: "few-images", 5: "few-images", 6: "static"}
    kept, rejected = select_identities(list(mined.values()), options)
    assert [track.track for track in kept] == [1]
    assert rejected == {"short": 1, "low-score": 1, "few-images": 2, "static": 1}


def test_time_segments_split_the_crop_span_and_leave_a_gap():
    track = fabricated_track("v", 1, 0, crops=11, first=0, step=10)  # crops at frames 0, 10, ..., 100
    assert time_segments(track, 2).tolist() == [0] * 5 + [1] * 6
    assert time_segments(track, 2, gap=0.1).tolist() == [0, 0, 0, 0, 0, -1, 1, 1, 1, 1, 1]
    assert time_segments(track, 2, gap=0.25).tolist() == [0, 0, 0, 0, -1, -1, -1, 1, 1, 1, 1]
    assert time_segments(track, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]


def test_written_set_reads_back_with_disjoint_identities_and_segment_cameras(tmp_path):
    tracks = [fabricated_track("street", k, colour=40 * k) for k in range(1, 7)]
    options = MiningOptions(segment_gap=0.2)
    summary = write_reid_set(tracks, tmp_path / "set", test_fraction=0.5, seed=3, options=options)
    splits = load_dataset("folders", tmp_path / "set")

    train_names = {p.parts[-3] for p in (tmp_path / "set" / "train").glob("*/*/*.jpg")}
    query_names = {p.parts[-3] for p in (tmp_path / "set" / "query").glob("*/*/*.jpg")}
    gallery_names = {p.parts[-3] for p in (tmp_path / "set" / "gallery").glob("*/*/*.jpg")}
    assert len(train_names) == 3 and query_names == gallery_names and len(query_names) == 3
    assert not train_names & query_names
    assert splits.num_train_pids == 3 and splits.num_train_cams == 2
    # 12 crops at frames 1, 6, ..., 56: a training identity keeps all; an evaluation identity loses
    # the two within 0.1 of the span from its middle (frames 26 and 31), query 5 and gallery 5.
    assert len(splits.train) == 3 * 12 and len(splits.query) == 3 * 5 and len(splits.gallery) == 3 * 5
    assert summary["splits"] == {
        "train": {"identities": 3, "images": 36},
        "query": {"identities": 3, "images": 15},
        "gallery": {"identities": 3, "images": 15},
    }
    for query in splits.query:
        same = [g for g in splits.gallery if g.pid == query.pid]
        assert same and all(g.camid != query.camid for g in same)
        assert query.path.parent.name == "s0" and all(g.path.parent.name == "s1" for g in same)
    assert {s.path.stem for s in splits.query} == {"000001", "000006", "000011", "000016", "000021"}
    path = splits.query[0].path
    colour = 40 * int(path.parts[-3].split("_t")[1])
    image = read_image(path)  # (3, H, W) RGB of the crop painted BGR (colour, 255 - colour, 7 colour)
    assert image.shape == (3, 30, 40)
    assert np.abs(image.float().mean(dim=(1, 2)).numpy() - ((7 * colour) % 256, 255 - colour, colour)).max() < 3

    stored = json.loads((tmp_path / "set" / "summary.json").read_text())
    assert stored["complete"] and stored["options"]["segment_gap"] == 0.2
    assert {item["name"] for item in stored["identities"] if item["split"] == "test"} == query_names

    again = write_reid_set(tracks[::-1], tmp_path / "again", test_fraction=0.5, seed=3, options=options)
    assert [i["split"] for i in again["identities"]] == [i["split"] for i in summary["identities"]]


def test_writer_overwrites_only_its_own_sets(tmp_path):
    tracks = [fabricated_track("street", k, colour=40 * k) for k in range(1, 5)]
    write_reid_set(tracks, tmp_path / "set", test_fraction=0.5, seed=0)
    write_reid_set(tracks[:2], tmp_path / "set", test_fraction=0.0)  # replaces the first set
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["summary.json", "train"]
    assert len(list((tmp_path / "set" / "train").iterdir())) == 2
    assert load_dataset("folders", tmp_path / "set").num_train_pids == 2

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(MtmcError, match="not empty and holds no summary.json"):
        write_reid_set(tracks, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_writer_needs_enough_identities(tmp_path):
    with pytest.raises(MtmcError, match="1 identities found, need at least 2"):
        write_reid_set([fabricated_track("v", 1, 0)], tmp_path / "set", test_fraction=0.5)
    with pytest.raises(ValueError, match="test_fraction must be a number with 0 <= value < 1"):
        write_reid_set([fabricated_track("v", 1, 0)], tmp_path / "set", test_fraction=1.0)


def test_build_reid_set_skips_mining_when_the_parameters_match(tmp_path, monkeypatch):
    videos = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for video in videos:
        video.write_bytes(b"not decoded: mining is replaced below")
    calls = []

    def fake_mine(video, config, options, threads):
        calls.append(video.stem)
        return [fabricated_track(video.stem, k, colour=30 * k) for k in range(1, 4)]

    monkeypatch.setattr(mining, "mine_tracks", fake_mine)
    first = build_reid_set(videos, tmp_path / "set", test_fraction=0.5, seed=1)
    assert calls == ["a", "b"] and not first["cached"]
    assert first["videos"]["a"]["identities"] == 3 and first["splits"]["query"]["identities"] == 3

    second = build_reid_set(videos, tmp_path / "set", test_fraction=0.5, seed=1)
    assert calls == ["a", "b"] and second["cached"] and second["splits"] == first["splits"]

    build_reid_set(videos, tmp_path / "set", test_fraction=0.5, seed=2)
    assert calls == ["a", "b", "a", "b"]  # another seed: built again


def test_real_pipeline_finds_tracks_with_crops(data_dir):
    options = MiningOptions(max_frames=60)
    tracks = mine_tracks(data_dir / "videos" / "street-a.mp4", options=options)
    assert tracks and all(track.frames.max() <= 60 for track in tracks)
    with_crops = [track for track in tracks if track.crops]
    assert with_crops
    for track in with_crops:
        assert len(track.crops) <= options.max_crops_per_track
        assert set(track.crop_frames.tolist()) <= set(track.frames.tolist())
        for crop, frame in zip(track.crops, track.crop_frames):
            box = track.boxes[track.frames.tolist().index(frame)]
            assert crop.dtype == np.uint8 and crop.ndim == 3 and crop.shape[2] == 3
            assert min(crop.shape[:2]) >= options.min_box_side - 1
            assert abs(crop.shape[1] - (box[2] - box[0])) <= 1 and abs(crop.shape[0] - (box[3] - box[1])) <= 1

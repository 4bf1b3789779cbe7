"""A user who names no parts gets the best measured ones for the classes they ask for (issue 18)."""

from __future__ import annotations

import shutil

from mtmc.cli import main
from mtmc.config import MtmcConfig
from mtmc.detect.defaults import default_detector, default_embedder


def test_the_config_defaults_are_the_measured_best_vehicle_parts() -> None:
    config = MtmcConfig()
    assert (config.detector.name, config.detector.options()["weights"]) == ("openvino", "vehicle-detection-0202")
    assert config.detector.options()["score_threshold"] == 0.1  # the tracker's low-score stage needs them
    assert config.tracker.name == "deepsort-bot"
    assert config.embedder.options()["weights"] == "glamor-mobilenetv2-2cam"


def test_detector_and_embedder_are_chosen_by_class() -> None:
    assert default_detector(None).options()["weights"] == "vehicle-detection-0202"
    assert default_detector(["car", "bus"]).options() == {
        "weights": "vehicle-detection-0202", "score_threshold": 0.1, "classes": ["car", "bus"]
    }  # fmt: skip
    assert default_detector(["person"]).options()["weights"] == "person-vehicle-bike-detection-crossroad-0078"
    assert default_detector(["person", "car", "bicycle"]).name == "openvino"
    assert default_detector(["dog"]).name == "onnx-yolox"  # only YOLOX knows every COCO class
    assert default_embedder(None).name == "reid" and default_embedder(["truck"]) is not None
    assert default_embedder(["person"]) is None  # vehicle re-id hurts people (README: default parts)


def test_track_without_config_uses_and_names_the_class_defaults(data_dir, tmp_path, capsys) -> None:
    frames = tmp_path / "pets" / "img1"
    frames.mkdir(parents=True)
    for k in range(1, 5):
        shutil.copy(data_dir / "pets09-s2l1" / "img1" / f"{k:06d}.jpg", frames)
    out = tmp_path / "pets.txt"
    assert main(["track", str(frames), "-o", str(out), "--classes", "person", "-q"]) == 0
    err = capsys.readouterr().err
    assert "detector openvino (person-vehicle-bike-detection-crossroad-0078), tracker deepsort-bot, embedder none" in err
    assert len(out.read_text().splitlines()) >= 4  # PETS09 has several people on every frame


def test_city_yaml_shows_the_defaults_and_finds_the_shared_videos(data_dir) -> None:
    """configs/city.yaml says its values are what a user gets by leaving them out: keep it true."""
    from pathlib import Path

    from mtmc.config import load_config

    city = load_config(Path(__file__).parents[1] / "configs" / "city.yaml")
    assert [c.id for c in city.cameras] == ["detrac-intersection", "street-a", "street-b"]
    defaults = MtmcConfig()
    for section in ("detector", "tracker", "embedder", "attributes", "topology", "security"):
        assert getattr(city, section) == getattr(defaults, section), section
    matcher = city.matcher.model_dump()
    assert matcher == defaults.matcher.model_dump()
    assert city.worker == defaults.worker

"""``mtmc reid adapt``: its config and one-line errors, the clustering's calibration and cannot-link
constraints, pseudo-label merging into a training set, purity against ground truth, and a tiny
adaptation end to end on real footage."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mtmc.cli import main
from mtmc.errors import MtmcError
from mtmc.reid.adapt import load_adapt_config
from mtmc.reid.adapt.config import AdaptModelConfig, RoundsConfig
from mtmc.reid.adapt.pseudo_labels import (
    calibrated_threshold,
    cluster_tracks,
    label_statistics,
    one_track_one_identity,
    purity,
    track_features,
    write_training_set,
)
from mtmc.reid.adapt.tracks import CameraTrack, truth_ids
from mtmc.reid.data import load_dataset

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def camera_track(camera: str, track: int, first: int, frames: int = 10, crops: int = 2, truth=None, root=None):
    """A track of ``frames`` consecutive frames from ``first`` at 10 fps; crop files under ``root``."""
    frame_numbers = np.arange(first, first + frames)
    boxes = np.tile([10.0, 10.0, 50.0, 40.0], (frames, 1))
    crop_frames = frame_numbers[:crops]
    paths = []
    if root is not None:
        folder = root / camera / f"t{track}"
        folder.mkdir(parents=True, exist_ok=True)
        for frame in crop_frames.tolist():
            paths.append(folder / f"{frame:06d}.jpg")
            paths[-1].write_bytes(b"jpeg")
    else:
        paths = [Path(f"/nowhere/{camera}/{track}/{frame}.jpg") for frame in crop_frames.tolist()]
    return CameraTrack(
        camera=camera,
        track=track,
        frames=frame_numbers,
        boxes=boxes,
        scores=np.full(frames, 0.9),
        crop_frames=crop_frames,
        crop_paths=paths,
        offset_s=0.0,
        fps=10.0,
        truth=None if truth is None else np.asarray(truth),
    )


def write_config(path: Path, **sections) -> Path:
    config = {
        "source": {"scenario": "scenario"},
        "training": {"optimiser": {"name": "adam", "lr": 1.0e-3}, "epochs": 1},
        **sections,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_config_reads_with_defaults_and_paths_relative_to_the_file(tmp_path):
    config = load_adapt_config(write_config(tmp_path / "adapt.yaml", mining={"min_track_frames": 12}))
    assert config.source.scenario == tmp_path / "scenario"
    assert config.model.name == "glamor" and config.model.init == "imagenet-mobilenetv2"
    assert config.model.model_options() == {"backbone": "mobilenetv2", "pretrained": True}
    assert config.mining_options().min_track_frames == 12
    assert config.rounds.count == 0 and config.training.size == (128, 128) and config.training.per_camera
    assert AdaptModelConfig(init="scratch", options={"depth": 18}).model_options() == {"depth": 18}


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"mining": {"min_frames": 3}}, "mining: Value error, unknown option 'min_frames'; valid: frame_stride"),
        ({"mining": {"min_score": 2}}, "mining: Value error, MiningOptions.min_score must be a number"),
        ({"source": {}}, "source: Value error, give run_config"),
        ({"model": {"options": {"backbone": "resnet"}}}, "init imagenet-mobilenetv2 needs backbone mobilenetv2"),
        ({"model": {"init": "scratch", "options": {"pretrained": True}}}, "contradicts options.pretrained"),
        ({"model": {"options": {"num_classes": 3}}}, "num_classes is the number of pseudo-identities"),
        ({"rounds": {"link_quantile": 0.7}}, "rounds.link_quantile: Input should be less than 0.5"),
        ({"rounds": {"count": 1, "epochs": 0}}, "rounds.epochs: Input should be greater than or equal to 1"),
    ],
)
def test_bad_configs_fail_in_one_line_naming_the_field(tmp_path, sections, message):
    path = write_config(tmp_path / "bad.yaml", **sections)
    with pytest.raises(MtmcError) as error:
        load_adapt_config(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_cli_help_and_a_bad_config_give_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["reid", "adapt", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--rounds" in text and "report.md" in text and "mtmc reid adapt configs/reid/" in text

    path = write_config(tmp_path / "adapt.yaml", rounds={"count": -1})
    assert main(["reid", "adapt", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"mtmc reid: error: {path}: rounds.count: Input should be greater than or equal to 0 (got -1)"

    path = write_config(tmp_path / "adapt.yaml", model={"name": "nonet", "init": "scratch"})
    (tmp_path / "scenario" / "c001").mkdir(parents=True)
    (tmp_path / "scenario" / "c001" / "vdo.mp4").write_bytes(b"")
    assert main(["reid", "adapt", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mtmc reid: error: model.name: unknown re-id model 'nonet': valid names are")

    path = write_config(tmp_path / "adapt.yaml", model={"name": "val", "init": "scratch"})
    assert main(["reid", "adapt", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert "model: val with init scratch:" in error and error.endswith("or set training.per_camera: false")
    assert "\n" not in error

    path = write_config(tmp_path / "adapt.yaml", model={"weights": "trained/last.pt"})
    assert main(["reid", "adapt", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"mtmc reid: error: model.weights: {tmp_path / 'trained' / 'last.pt'} not found; "
        "give a checkpoint of `mtmc reid train` (its last.pt)"
    )


def test_round_zero_starts_from_trained_weights_at_the_full_schedule(tmp_path):
    from mtmc.reid.adapt.runner import round_experiment

    config = load_adapt_config(write_config(tmp_path / "adapt.yaml", model={"weights": "trained.pt"}))
    first = round_experiment(config, tmp_path / "set", tmp_path / "r0", 9, 1, None, False, True)
    assert first.model.weights == tmp_path / "trained.pt" and first.optimiser.lr == 1.0e-3
    later = round_experiment(config, tmp_path / "set", tmp_path / "r1", 9, 1, tmp_path / "r0.pt", False, True)
    assert later.model.weights == tmp_path / "r0.pt"


def test_track_features_average_the_normalised_crop_features():
    tracks = [camera_track("c001", 1, 1, crops=2), camera_track("c001", 2, 20, crops=1)]
    crops = np.array([[3.0, 0.0], [0.0, 0.5], [0.0, -2.0]])
    assert np.allclose(track_features(crops, tracks), [[0.5, 0.5], [0.0, -1.0]])
    with pytest.raises(ValueError, match="2 crop features for 3 crops"):
        track_features(crops[:2], tracks)


def test_threshold_is_the_quantile_of_same_camera_distances():
    distance = np.array([[0.0, 0.2, 0.9, 0.4], [0.2, 0.0, 0.6, 0.8], [0.9, 0.6, 0.0, 0.1], [0.4, 0.8, 0.1, 0.0]])
    cameras = np.array([1, 1, 1, 2])  # same-camera pairs: (0,1) 0.2, (0,2) 0.9, (1,2) 0.6
    assert calibrated_threshold(distance, cameras, 0.5) == (0.6, 3)
    assert calibrated_threshold(distance, cameras, 0.25)[0] == pytest.approx(0.4)
    with pytest.raises(MtmcError, match="no camera has two pseudo-identity tracks"):
        calibrated_threshold(distance, np.array([1, 2, 3, 4]), 0.5)


def clustered(same_camera: bool, topology=None) -> np.ndarray:
    """Seven tracks: c001 holds A (frames 1-10), B (5-14, overlaps A), C (100-109), D (200-209) and
    E (500-509, looks like C); c002 holds A' and C' (frames 300 and 400). A and B look alike and A'
    lies nearer to B than to A. Same-camera distances: C-E 0.0012, A-B 0.006, D-E 0.95, the rest 1:
    their 15% quantile (linear) is 0.478, so everything that looks alike is close enough."""
    tracks = [
        camera_track("c001", 1, 1),
        camera_track("c001", 2, 5),
        camera_track("c001", 3, 100),
        camera_track("c001", 4, 200),
        camera_track("c001", 5, 500),
        camera_track("c002", 1, 300),
        camera_track("c002", 2, 400),
    ]
    a, b, c, d = np.eye(4)
    features = np.stack([a, 0.9 * a + 0.1 * b, c, d, c + 0.05 * d, 0.88 * a + 0.12 * b, c - 0.01 * d])
    rounds = RoundsConfig(count=1, link_quantile=0.15, same_camera=same_camera)
    clustering = cluster_tracks(tracks, features, rounds, topology)
    assert clustering.calibration_pairs == 11 and clustering.threshold == pytest.approx(0.478, abs=0.001)
    return clustering.labels


def test_clustering_links_across_cameras_and_never_two_overlapping_tracks_of_one_camera():
    labels = clustered(same_camera=False)
    assert labels[2] == labels[6]  # C and C' across cameras
    assert labels[1] == labels[5]  # A' joins B, its nearest ...
    assert labels[0] != labels[1]  # ... and A, which overlaps B in c001, is kept apart
    assert labels[4] != labels[2]  # E looks like C but is in C's camera
    assert len(set(labels.tolist())) == 5

    allowed = clustered(same_camera=True)  # non-overlapping tracks of one camera may merge now
    assert allowed[4] == allowed[2] == allowed[6]
    assert allowed[0] != allowed[1]  # overlapping ones never
    assert len(set(allowed.tolist())) == 4


def test_topology_gates_keep_pairs_outside_the_travel_times_apart():
    from mtmc.match.config import TopologyConfig

    near = TopologyConfig(links=[{"from": "c001", "to": "c002", "min_s": 0, "max_s": 100}])
    labels = clustered(same_camera=False, topology=near)
    assert labels[2] == labels[6] and labels[1] == labels[5]
    far = TopologyConfig(links=[{"from": "c001", "to": "c002", "min_s": 500, "max_s": 600}])
    labels = clustered(same_camera=False, topology=far)
    assert len(set(labels.tolist())) == 7  # no pair passes its gate: nothing is evidence


def test_merged_labels_make_one_identity_folder_per_cluster(tmp_path):
    tracks = [
        camera_track("c001", 1, 1, crops=2, root=tmp_path / "crops"),
        camera_track("c002", 7, 30, crops=3, root=tmp_path / "crops"),
        camera_track("c001", 2, 50, crops=2, root=tmp_path / "crops"),
    ]
    labels = np.array([0, 0, 1])
    write_training_set(tracks, labels, tmp_path / "set" / "train")
    assert sorted(p.name for p in (tmp_path / "set" / "train").iterdir()) == ["id00000", "id00001"]
    assert sorted(p.name for p in (tmp_path / "set" / "train" / "id00000").iterdir()) == ["c001", "c002"]
    splits = load_dataset("folders", tmp_path / "set")
    assert splits.num_train_pids == 2 and len(splits.train) == 7
    assert [s.pid for s in splits.train].count(0) == 5
    statistics = label_statistics(tracks, labels)
    assert statistics["identities"] == 2 and statistics["images"] == 7
    assert statistics["identities_by_tracks"] == {"1": 1, "2": 1}
    assert statistics["identities_by_cameras"] == {"1": 1, "2": 1}
    assert statistics["images_per_identity"] == {"min": 2, "median": 3.5, "max": 5}
    assert "truth" not in statistics

    write_training_set(tracks, one_track_one_identity(tracks), tmp_path / "set" / "train")  # replaces it
    assert load_dataset("folders", tmp_path / "set").num_train_pids == 3


def test_purity_and_link_precision_against_ground_truth():
    tracks = [
        camera_track("c001", 1, 1, crops=4, truth=[5, 5, 5, 9]),  # one crop of another vehicle
        camera_track("c002", 1, 1, crops=2, truth=[5, 5]),
        camera_track("c002", 2, 50, crops=2, truth=[6, -1]),  # one crop matched no box
        camera_track("c003", 1, 1, crops=2, truth=[6, 6]),
    ]
    labels = np.array([0, 0, 0, 1])  # vehicle 6 in c002 wrongly joined vehicle 5; 6 in c003 alone
    result = purity(tracks, labels)
    assert result["matched_images"] == 9
    assert result["image_purity"] == pytest.approx(7 / 9)  # identity 0: 5 of 7 are vehicle 5; identity 1: 2/2
    assert result["cross_camera_links"] == 2  # (t0, c002/1) right, (t0, c002/2) wrong
    assert result["link_precision"] == pytest.approx(0.5)
    assert result["link_recall"] == pytest.approx(0.5)  # true pairs: 5 in c001/c002, 6 in c002/c003
    assert result["vehicles"] == 2 and result["identities_per_vehicle"] == pytest.approx(1.5)


def test_truth_ids_take_the_best_overlapping_box_of_the_frame():
    truth = np.array([[1, 4, 0, 0, 10, 10], [1, 8, 5, 0, 15, 10], [2, 4, 100, 100, 110, 110]], float)
    frames = np.array([1, 1, 2, 3])
    boxes = np.array([[6, 0, 15, 10], [0, 0, 9, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    assert truth_ids(frames, boxes, truth).tolist() == [8, 4, -1, -1]


def test_tiny_adaptation_end_to_end(data_dir, tmp_path):
    """Two real clips as two cameras, 90 frames each; round 0 and one clustering round, 1 epoch
    each at 64 x 64: the whole command writes its weights, export and report."""
    run = {
        "cameras": [
            {"id": "c001", "source": str(data_dir / "videos" / "street-a.mp4")},
            {"id": "c002", "source": str(data_dir / "videos" / "street-b.mp4")},
        ],
        "tracker": {"name": "deepsort-byte"},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    path = write_config(
        tmp_path / "adapt.yaml",
        source={"run_config": "run.yaml"},
        mining={"max_frames": 90, "max_crops_per_track": 6, "min_travel": 0.5, "min_track_frames": 12},
        training={
            "size": [64, 64],
            "identities_per_batch": 2,
            "images_per_identity": 2,
            "optimiser": {"name": "adam", "lr": 1.0e-3},
            "epochs": 1,
        },
        rounds={"count": 1, "link_quantile": 0.2},
        check={"root": str(data_dir / "vehicle-reid-2cam"), "options": {"test_list": str(few_labelled(data_dir, tmp_path))}},
        output_dir="out",
    )
    assert main(["reid", "adapt", str(path), "--device", "cpu", "--workers", "1", "-q"]) == 0
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert [item["round"] for item in report["rounds"]] == [0, 1]
    mined = report["mining"]
    assert set(mined["cameras"]) == {"c001", "c002"} and mined["pseudo_identity_tracks"] >= 2
    assert report["rounds"][0]["statistics"]["identities"] == mined["pseudo_identity_tracks"]
    assert report["rounds"][1]["threshold"] > 0 and not mined["has_truth"]
    assert (out / "model.pt").is_file() and (out / "model.onnx").is_file() and (out / "report.md").is_file()
    assert report["outputs"]["feature_dim"] == 1280 and report["outputs"]["input_size"] == [64, 64]
    assert "| round | labels |" in (out / "report.md").read_text()
    check = report["check"]  # started from ImageNet: scored, and the adapted model ships whatever it scored
    assert check["kept"] == "adapted" and 0 < check["before"]["mean"]["mAP"] <= 1 and 0 < check["after"]["mean"]["mAP"] <= 1
    assert "## Check on labelled vehicles" in (out / "report.md").read_text()

    from mtmc.reid.embedder import build_embedder

    embedder = build_embedder("reid", weights=str(out / "model.onnx"))
    image = np.zeros((100, 100, 3), np.uint8)
    features = embedder.embed(image, np.array([[10, 10, 60, 50]]))
    assert features.shape == (1, 1280) and np.isclose(np.linalg.norm(features), 1.0)

    again = main(["reid", "adapt", str(path), "--device", "cpu", "--rounds", "0", "-q"])  # mining is cached
    assert again == 0 and json.loads((out / "report.json").read_text())["mining"]["cached"]


def few_labelled(data_dir: Path, tmp_path: Path, vehicles: int = 6) -> Path:
    """A vehicle-reid-2cam list of the first ``vehicles`` val vehicles (both views each)."""
    names = (data_dir / "vehicle-reid-2cam" / "val.txt").read_text().split()[: 2 * vehicles]
    path = tmp_path / "few.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_check_ships_the_input_model_when_adaptation_loses_on_labelled_vehicles(data_dir, tmp_path, monkeypatch, caplog):
    """Scores stand in for the two models' (the deployed path is tested in test_reid_evaluation):
    a loss beyond max_loss keeps the trained input and says so; within it, or with no trained
    input to keep, the adapted model ships."""
    from mtmc.reid.adapt import runner
    from mtmc.reid.engine.checkpoint import save_checkpoint
    from mtmc.reid.evaluation import deployed
    from mtmc.reid.modeling import build_model

    model = build_model("glamor", num_classes=2, backbone="mobilenetv2")
    state = {"model_name": "glamor", "model_options": {"backbone": "mobilenetv2"}, "num_classes": 2,
             "input_size": (32, 32), "feature_dim": 1280, "model": model.state_dict()}  # fmt: skip
    trained, adapted = save_checkpoint(state, tmp_path / "trained.pt"), save_checkpoint(state, tmp_path / "adapted.pt")
    calls = []

    def scored(embedder, directions):
        calls.append(sorted(directions))
        m = 0.9 if len(calls) % 2 else 0.85  # the start model, then the adapted one
        return {"mean": {"mAP": m, "rank1": m}, "recolour": {"auc": 0.9, "vehicles": 3}}

    monkeypatch.setattr(deployed, "deployed_scores", scored)
    check = {"root": str(data_dir / "vehicle-reid-2cam"), "options": {"test_list": str(few_labelled(data_dir, tmp_path))}}
    config = load_adapt_config(write_config(tmp_path / "a.yaml", model={"weights": str(trained)}, check=check))
    with caplog.at_level("WARNING"):
        result = runner.check_adaptation(config, adapted)
    assert calls[0] == ["cam1->cam2", "cam2->cam1"]
    assert result["kept"] == "input" and result["loss"] == pytest.approx(0.05)
    assert "adaptation lost 5.0 mAP on labelled vehicles; model.pt is the model it started from" in caplog.text
    tolerant = config.model_copy(update={"check": config.check.model_copy(update={"max_loss": 0.1})})
    assert runner.check_adaptation(tolerant, adapted)["kept"] == "adapted"
    untrained = config.model_copy(update={"model": config.model.model_copy(update={"weights": None})})
    assert runner.check_adaptation(untrained, adapted)["kept"] == "adapted"


def test_fine_tuning_starts_from_a_checkpoint_with_a_new_classifier(tmp_path):
    import torch

    from mtmc.reid.engine.checkpoint import save_checkpoint
    from mtmc.reid.engine.trainer import load_matching_weights
    from mtmc.reid.modeling import build_model

    torch.manual_seed(0)
    before = build_model("glamor", num_classes=2, backbone="mobilenetv2")
    state = {"model_name": "glamor", "model_options": {"backbone": "mobilenetv2"}, "num_classes": 2,
             "input_size": (64, 64), "feature_dim": 1280, "model": before.state_dict()}  # fmt: skip
    path = save_checkpoint(state, tmp_path / "round-0.pt")
    after = build_model("glamor", num_classes=5, backbone="mobilenetv2")  # other seed state: other weights
    load_matching_weights(after, path)
    for name, tensor in after.state_dict().items():
        if name == "classifier.weight":
            assert tensor.shape == (5, 1280)
        else:
            assert torch.equal(tensor, before.state_dict()[name]), name
    with pytest.raises(MtmcError, match="shares no tensor with Glamor"):
        load_matching_weights(build_model("glamor", num_classes=2), path)  # the ResNet one: no name and shape in common


def test_crops_become_one_crop_tracks_with_their_camera_from_the_folder_or_the_name(tmp_path):
    from mtmc.reid.adapt.config import ImageSourceConfig
    from mtmc.reid.adapt.images import image_tracks

    for camera, names in {"north": ["a.jpg", "b.png"], "south": ["c.jpg"]}.items():
        (tmp_path / "by-folder" / camera).mkdir(parents=True)
        for name in names:
            (tmp_path / "by-folder" / camera / name).write_bytes(b"image")
    (tmp_path / "by-folder" / "north" / "notes.txt").write_text("not an image")
    mined = image_tracks(ImageSourceConfig(root=tmp_path / "by-folder"))
    assert [(t.camera, t.camera_number, t.crop_paths[0].name) for t in mined.tracks] == [
        ("north", 1, "a.jpg"), ("north", 1, "b.png"), ("south", 2, "c.jpg")
    ]  # fmt: skip
    assert [t.track for t in mined.tracks] == [0, 1, 2] and not mined.has_truth
    assert {name: item["tracks"] for name, item in mined.cameras.items()} == {"north": 2, "south": 1}

    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("car_0001_cam1.jpg", "car_0001_cam2.jpg", "bus_0002_cam2.jpg"):
        (flat / name).write_bytes(b"image")
    (tmp_path / "list.txt").write_text("car_0001_cam2.jpg\nbus_0002_cam2.jpg\n\ncar_0001_cam1.jpg\n")
    source = ImageSourceConfig(root=flat, list=tmp_path / "list.txt", camera_pattern=r"_cam(?P<camera>\d+)\.",
                               truth_pattern=r"^(?P<identity>[a-z]+_\d+)_cam")  # fmt: skip
    mined = image_tracks(source)
    assert [(t.camera, t.camera_number) for t in mined.tracks] == [("2", 2), ("2", 2), ("1", 1)]
    assert mined.has_truth and [int(t.truth[0]) for t in mined.tracks] == [1, 0, 1]  # bus_0002, car_0001 sorted

    with pytest.raises(MtmcError, match=r"bus_0002_cam2.jpg is not in a camera folder; lay crops out as root/<camera>"):
        image_tracks(ImageSourceConfig(root=flat))
    with pytest.raises(MtmcError) as error:
        image_tracks(source.model_copy(update={"camera_pattern": r"_c(?P<camera>\d)\."}))
    assert str(error.value).startswith("source.images: car_0001_cam2.jpg does not match '_c(?P<camera>")
    (tmp_path / "list.txt").write_text("car_0009_cam1.jpg\ncar_0001_cam1.jpg\n")
    with pytest.raises(MtmcError, match=r"source.images.list: car_0009_cam1.jpg \(1 of 2 listed\) not found under"):
        image_tracks(source)
    with pytest.raises(MtmcError, match="is not a folder; give the folder of vehicle crops"):
        image_tracks(ImageSourceConfig(root=tmp_path / "none"))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"images": {"root": "crops"}, "run_config": "run.yaml"}, "images replaces run_config, scenario and cameras"),
        ({"images": {"root": "crops", "camera_pattern": "cam(\\d)"}}, "needs a named group (?P<camera>...)"),
        ({"images": {"root": "crops", "truth_pattern": "(?P<identity>"}}, "not a regular expression"),
    ],
)
def test_bad_crop_sources_fail_in_one_line(tmp_path, source, message):
    path = write_config(tmp_path / "bad.yaml", source=source)
    with pytest.raises(MtmcError) as error:
        load_adapt_config(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_adaptation_on_crops_clusters_them_with_the_start_model_in_round_zero(data_dir, tmp_path):
    """Six real vehicles' two views as unlabelled crops: round 0 is already a clustering across the
    two cameras (no one-crop identities to train on), the report tells crops and purity."""
    labelled = few_labelled(data_dir, tmp_path)
    path = write_config(
        tmp_path / "adapt.yaml",
        source={"images": {"root": str(data_dir / "vehicle-reid-2cam" / "images" / "train"), "list": str(labelled),
                           "camera_pattern": r"_cam(?P<camera>\d+)\.", "truth_pattern": r"^(?P<identity>[a-z]+_\d+)_cam"}},
        training={"size": [64, 64], "identities_per_batch": 2, "images_per_identity": 2,
                  "optimiser": {"name": "adam", "lr": 1.0e-4}, "epochs": 1},
        rounds={"link_quantile": 0.2},
        output_dir="out",
    )  # fmt: skip
    assert main(["reid", "adapt", str(path), "--device", "cpu", "-q"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["mining"]["pseudo_identity_tracks"] == 12 and report["mining"]["has_truth"]
    (round_zero,) = report["rounds"]
    assert round_zero["labels"] == "tracks clustered across cameras" and round_zero["threshold"] > 0
    statistics = round_zero["statistics"]
    assert statistics["images"] == 12 and statistics["identities"] < 12  # some views joined across cameras
    assert statistics["truth"]["cross_camera_links"] >= 1
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Crops (one vehicle each" in text and "| 1 | 6 |" in text and "## Against the ground truth" in text

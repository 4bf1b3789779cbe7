"""Re-id training engine on a tiny fake dataset: the experiment config and its schedule by hand,
the optimisers, checkpoints and a bit-for-bit resume, the on_epoch hook, evaluation, curves, errors."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mtmc.errors import MtmcError
from mtmc.reid.config import OptimiserConfig, ReidExperimentConfig, ScheduleConfig, load_experiment
from mtmc.reid.data import ReidSample, ReidSplits
from mtmc.reid.engine import (
    Trainer,
    build_optimiser,
    build_scheduler,
    evaluate_on_splits,
    load_checkpoint,
    load_model,
    resolve_device,
    write_curves,
)
from mtmc.reid.engine import curves as curves_module
from mtmc.reid.engine import trainer as trainer_module

SIZE = 32


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def write_folders_dataset(root: Path) -> Path:
    """train/: 4 ids x 2 cameras x 3 images; query/: 3 other ids, 1 image from camera 0; gallery/:
    the same 3 ids, 2 images from each camera. Each id is a flat colour with noise, 32 x 32."""
    rng = np.random.default_rng(0)
    layout = (
        ("train", range(4), (0, 1), 3),
        ("query", range(4, 7), (0,), 1),
        ("gallery", range(4, 7), (0, 1), 2),
    )
    for split, identities, cameras, per_camera in layout:
        for identity in identities:
            colour = rng.integers(0, 256, 3)
            for camera in cameras:
                for index in range(per_camera):
                    image = np.clip(colour + rng.normal(0, 20, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
                    path = root / split / f"v{identity}" / f"c{camera}" / f"{index}.jpg"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(path), image)
    return root


def tiny_config(root: Path, output: Path, **updates) -> ReidExperimentConfig:
    """GLAMOR (ResNet18) at 32 x 32, batches of 2 ids x 2 images, warm-up then halving every epoch."""
    config = {
        "model": {"name": "glamor", "options": {"depth": 18, "input_size": [SIZE, SIZE]}},
        "data": {
            "dataset": "folders",
            "root": str(root),
            "identities_per_batch": 2,
            "images_per_identity": 2,
            "num_workers": 0,
            "eval_batch_size": 8,
        },
        "optimiser": {"name": "adam", "lr": 1e-3},
        "schedule": {"warmup_epochs": 1, "gamma": 0.5, "step_every": 1},
        "epochs": 2,
        "eval_every": 1,
        "output_dir": str(output),
    }
    config.update(updates)
    return ReidExperimentConfig.model_validate(config)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_folders_dataset(tmp_path_factory.mktemp("fake-reid"))


# ---------------------------------------------------------------- config, schedule, optimiser


def test_glamor_warmup_1_and_step_decay_by_hand():
    """GLAMOR §3.1 / §6.2: 0.1 lr at epoch 0, +0.09 lr per epoch to lr at epoch 10, x0.6 every 20."""
    schedule = ScheduleConfig(warmup_epochs=10, warmup_factor=0.1, gamma=0.6, step_every=20)
    expected = {0: 0.1, 1: 0.19, 5: 0.55, 9: 0.91, 10: 1.0, 19: 1.0, 20: 0.6, 39: 0.6, 40: 0.36, 99: 0.6**4}
    for epoch, factor in expected.items():
        assert schedule.factor(epoch) == pytest.approx(factor), epoch
    milestones = ScheduleConfig(gamma=0.1, milestones=[60, 120, 150])  # AttributeNet §4.2
    assert [milestones.factor(e) for e in (0, 59, 60, 120, 150, 209)] == pytest.approx(
        [1, 1, 0.1, 0.01, 1e-3, 1e-3]
    )


def test_scheduler_sets_each_epochs_lr_and_optimisers_follow_the_config():
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimiser = build_optimiser([parameter], OptimiserConfig(name="amsgrad", lr=0.2, weight_decay=5e-4))
    assert isinstance(optimiser, torch.optim.Adam)
    assert optimiser.defaults["amsgrad"] and optimiser.defaults["weight_decay"] == 5e-4
    scheduler = build_scheduler(
        optimiser, ScheduleConfig(warmup_epochs=2, warmup_factor=0.5, gamma=0.1, milestones=[3])
    )
    rates = []
    for _ in range(4):
        rates.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    assert rates == pytest.approx([0.1, 0.15, 0.2, 0.02])
    sgd = build_optimiser([parameter], OptimiserConfig(name="sgd", lr=0.1, momentum=0.8))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.8
    assert not build_optimiser([parameter], OptimiserConfig(lr=1.0)).defaults["amsgrad"]


def test_config_errors_name_the_file_and_field(tmp_path):
    base = {
        "model": "{name: glamor}",
        "data": "{dataset: folders, root: x, identities_per_batch: 2, images_per_identity: 2}",
        "optimiser": "{lr: 0.1}",
        "epochs": "1",
    }
    for key, value, message in (
        ("schedule", "{step_every: 20, milestones: [40]}", "schedule: .*step_every or milestones, not both"),
        (
            "schedule",
            "{milestones: [40, 20]}",
            "schedule: .*milestones must be increasing epochs >= 1, got \\[40, 20\\]",
        ),
        (
            "model",
            "{name: glamor, options: {num_classes: 3}}",
            "model.options: .*num_classes is taken from the train split",
        ),
        ("optimiser", "{name: rmsprop, lr: 0.1}", "optimiser.name"),
        ("data", base["data"][:-1] + ", size: [0, 64]}", r"data.size: .*both >= 1"),
        ("epochs", "0", "epochs: Input should be greater than or equal to 1"),
        ("learning_rate", "0.1", "learning_rate: unknown key"),
    ):
        path = tmp_path / "experiment.yaml"
        path.write_text("".join(f"{k}: {v}\n" for k, v in {**base, key: value}.items()))
        with pytest.raises(MtmcError, match=f"experiment.yaml: {message}"):
            load_experiment(path)


def test_relative_paths_are_taken_from_the_config_file(tmp_path):
    path = tmp_path / "configs" / "experiment.yaml"
    path.parent.mkdir()
    path.write_text(
        "model: {name: glamor}\noptimiser: {lr: 0.1}\nepochs: 1\noutput_dir: ../runs/x\n"
        "data: {dataset: folders, root: ../data, identities_per_batch: 2, images_per_identity: 2}\n"
    )
    config = load_experiment(path)
    assert config.data.root == tmp_path / "data" and config.output_dir == tmp_path / "runs" / "x"


def test_devices():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(MtmcError, match="unknown device 'tpu': use one of auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MtmcError, match="torch sees no CUDA GPU here; use --device cpu or auto"):
            resolve_device("cuda")


# ---------------------------------------------------------------- training


def test_resume_continues_bit_for_bit_and_checkpoints_hold_the_run(dataset, tmp_path):
    straight = Trainer(tiny_config(dataset, tmp_path / "straight"), device="cpu", progress=False).fit()
    interrupted = tiny_config(dataset, tmp_path / "resumed", epochs=1)
    Trainer(interrupted, device="cpu", progress=False).fit()
    resumed = Trainer(interrupted.model_copy(update={"epochs": 2}), device="cpu", progress=False).fit(
        resume=True
    )

    a, b = load_checkpoint(straight.last_checkpoint), load_checkpoint(resumed.last_checkpoint)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][key], b["model"][key]) for key in a["model"])
    moments = [
        (s["exp_avg"], t["exp_avg"])
        for s, t in zip(a["optimiser"]["state"].values(), b["optimiser"]["state"].values())
    ]
    assert moments and all(torch.equal(s, t) for s, t in moments)
    assert [row["loss"] for row in straight.history] == [row["loss"] for row in resumed.history]
    assert straight.history[1]["mAP"] == resumed.history[1]["mAP"]

    # what a checkpoint holds
    assert a["epoch"] == 2 and a["model_name"] == "glamor" and a["num_classes"] == 4
    assert tuple(a["input_size"]) == (SIZE, SIZE) and a["feature_dim"] == 512
    assert a["model_options"] == {"depth": 18, "input_size": [SIZE, SIZE]}
    assert a["config"]["optimiser"]["lr"] == 1e-3 and set(a["rng"]) >= {"python", "numpy", "torch"}
    # the lr of each epoch: warm-up (0.1 x) then x0.5 per epoch
    assert [row["lr"] for row in straight.history] == pytest.approx([1e-4, 5e-4])
    # best.pt is the epoch with the best mAP, evaluated every epoch
    maps = [row["mAP"] for row in straight.history]
    assert straight.best_map == max(maps) and straight.best_epoch == 1 + int(np.argmax(maps))
    assert load_checkpoint(straight.best_checkpoint)["epoch"] == straight.best_epoch
    out = straight.output_dir
    assert {"last.pt", "best.pt", "history.json", "train.log"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob(".*part"))  # atomic writes leave no partial file
    log = (out / "train.log").read_text()
    assert "epoch 2/2: loss" in log and "mAP" in log and "4 identities, 24 train images" in log
    if curves_module.matplotlib_available():
        assert straight.curves == out / "curves.png" and cv2.imread(str(straight.curves)) is not None
    # the trained model comes back from its checkpoint and gives the recorded mAP
    model, spec = load_model(straight.last_checkpoint)
    assert not model.training and spec.input_size == (SIZE, SIZE) and spec.num_classes == 4
    resumed_again = Trainer(interrupted.model_copy(update={"epochs": 2}), device="cpu", progress=False).fit(
        resume=True
    )
    assert len(resumed_again.history) == 2  # nothing left to train


def test_on_epoch_runs_before_every_epoch_without_evaluation(dataset, tmp_path, monkeypatch):
    """eval_every 0: no evaluation, no best.pt; the model's stage hook sees epochs 0, 1, 2."""
    seen: list[tuple[int, bool]] = []
    build = trainer_module.build_model

    def spying_build(name, **options):
        model = build(name, **options)
        model.on_epoch = lambda epoch: seen.append((epoch, model.training))
        return model

    monkeypatch.setattr(trainer_module, "build_model", spying_build)
    config = tiny_config(dataset, tmp_path / "run", epochs=3, eval_every=0, schedule={})
    result = Trainer(config, device="cpu", progress=False).fit()
    assert [epoch for epoch, _ in seen] == [0, 1, 2]
    assert result.best_checkpoint is None and result.best_map is None
    assert not (tmp_path / "run" / "best.pt").exists()
    assert all("mAP" not in row for row in result.history)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]


def test_a_diverging_loss_stops_with_the_epoch_and_batch(dataset, tmp_path, monkeypatch):
    build = trainer_module.build_model

    def nan_build(name, **options):
        model = build(name, **options)
        model.losses = lambda outputs, batch: {"triplet": outputs["features"].sum() * float("nan")}
        return model

    monkeypatch.setattr(trainer_module, "build_model", nan_build)
    with pytest.raises(
        MtmcError, match=r"epoch 1, batch 1: the loss is nan \(triplet nan\); lower optimiser.lr"
    ):
        Trainer(tiny_config(dataset, tmp_path / "run"), device="cpu", progress=False).fit()


def test_setup_errors(dataset, tmp_path):
    with pytest.raises(MtmcError, match="--resume: no checkpoint at .*last.pt; start without --resume"):
        Trainer(tiny_config(dataset, tmp_path / "none"), device="cpu", progress=False).fit(resume=True)
    many = tiny_config(
        dataset,
        tmp_path / "p",
        data={**tiny_config(dataset, tmp_path).data.model_dump(), "identities_per_batch": 5},
    )
    with pytest.raises(
        MtmcError, match=r"data.identities_per_batch: .*at most the number of identities, 4, got 5"
    ):
        Trainer(many, device="cpu", progress=False).fit()


# ---------------------------------------------------------------- evaluation and curves


def test_evaluation_of_perfect_features_and_of_an_ensemble():
    def sample(pid: int, camid: int, track: int = -1) -> ReidSample:
        return ReidSample(Path("x.jpg"), pid, camid, track=track)

    splits = ReidSplits(
        "toy",
        Path("."),
        train=[],
        query=[sample(0, 0), sample(1, 0)],
        gallery=[sample(0, 1, 0), sample(1, 1, 1), sample(1, 1, 1)],
    )
    one_hot = np.eye(2)
    query, gallery = one_hot[[0, 1]], one_hot[[0, 1, 1]]
    results = evaluate_on_splits(splits, [query], [gallery])
    assert results["mAP"] == 1.0 and results["rank1"] == 1.0 and results["track_mAP"] == 1.0
    # a second model that swaps the identities: the averaged distances tie every gallery image
    swapped = evaluate_on_splits(splits, [query, query], [gallery, one_hot[[1, 0, 0]]])
    assert swapped["mAP"] < 1.0
    with pytest.raises(MtmcError, match="no query / gallery split"):
        evaluate_on_splits(ReidSplits("toy", Path("."), [], [], []), [query], [gallery])
    untracked = ReidSplits("toy", Path("."), [], splits.query, [sample(0, 1), sample(1, 1), sample(1, 1)])
    with pytest.raises(MtmcError, match="no track labels"):
        evaluate_on_splits(untracked, [query], [gallery], average_tracks=True)


def test_curves_png_or_none_without_matplotlib(tmp_path, monkeypatch):
    history = [
        {"epoch": 1, "loss": 2.0, "losses": {"triplet": 0.5, "softmax": 1.5}},
        {"epoch": 2, "loss": 1.0, "losses": {"triplet": 0.2, "softmax": 0.8}, "mAP": 0.4, "rank1": 0.5},
    ]
    if curves_module.matplotlib_available():
        path = write_curves(history, tmp_path / "curves.png")
        image = cv2.imread(str(path))
        assert image is not None and image.shape == (400, 1000, 3)
    monkeypatch.setattr(curves_module, "matplotlib_available", lambda: False)
    assert write_curves(history, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()

"""``mtmc reid adapt``: learn re-id from the camera network's own tracks, with no labels.

1. Mine (:mod:`mtmc.reid.adapt.tracks`): single-camera tracking of every camera; confident, long,
   moving tracks with their crops are the pseudo-identities, one track one identity. Or read a
   folder of crops (:mod:`mtmc.reid.adapt.images`), each its own one-crop track.
2. Round 0: train the model (GLAMOR from ImageNet MobileNetV2 by default) on them with the
   project's :class:`~mtmc.reid.engine.Trainer` and the model's own losses. Crops, one each, are
   clustered across cameras with the start model first (step 3 with round 0's model).
3. Rounds 1..N (optional): embed every track with the current model, cluster the tracks across
   cameras into identities (:mod:`mtmc.reid.adapt.pseudo_labels`), fine-tune on the clusters
   starting from the previous round's weights (a new classifier for the new identities), as
   clustering-based unsupervised re-id iterates.
4. Write ``OUT/model.pt`` (the last round's checkpoint: ``embedder: {name: reid, weights: ...}``
   runs it), ``OUT/model.onnx`` (its export, checked against PyTorch), ``OUT/report.json`` and
   ``OUT/report.md`` (pseudo-label statistics per round; purity when the cameras have ground
   truth), ``OUT/curves.png`` (every round's losses end to end) and ``OUT/round-K/`` (each
   round's training set, checkpoints, history, curves and log).
5. ``check:`` (labelled vehicles, :class:`~mtmc.reid.adapt.config.CheckConfig`): the model it
   started from and the adapted one scored on them; if adaptation lost mAP, the log and the report
   say so and ``model.pt`` is the model it started from: adaptation that only helps.

When the cameras have ground truth, the training runs also score cross-camera retrieval on
ground-truth-labelled crops of the same cameras every few epochs (the curves' right panel). That
is a diagnostic on the training vehicles, optimistic by construction; nothing is chosen by it:
``model.pt`` is the last epoch (each round folder's ``best.pt`` is the one it would pick).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.config import MtmcConfig
from mtmc.errors import MtmcError
from mtmc.reid.adapt.config import AdaptConfig, SourceConfig
from mtmc.reid.adapt.images import image_tracks
from mtmc.reid.adapt.pseudo_labels import (
    Clustering,
    cluster_tracks,
    label_statistics,
    link_or_copy,
    one_track_one_identity,
    track_features,
    write_training_set,
)
from mtmc.reid.adapt.report import write_summary
from mtmc.reid.adapt.tracks import CameraTrack, mine_source
from mtmc.reid.calibration import TWO_CAMERA_DATASET
from mtmc.reid.config import DataConfig, ModelConfig, ReidExperimentConfig, ScheduleConfig

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
ONNX_FILE = "model.onnx"
REPORT_FILE = "report.json"
SUMMARY_FILE = "report.md"
CURVES_FILE = "curves.png"
REPORT_FORMAT = "mtmc-reid-adapt-report/1"
VALIDATION_CROPS_PER_TRACK = 4  # ground-truth diagnostic: crops per track, evenly spread
VALIDATIONS_PER_ROUND = 4  # ... and how often a round scores it


@dataclass(frozen=True)
class AdaptResult:
    output_dir: Path
    checkpoint: Path
    onnx: Path
    report: dict[str, Any]


def source_run_config(source: SourceConfig) -> MtmcConfig:
    """The cameras (and parts, topology) that ``source`` names, scenario folders filled in."""
    from mtmc.config import load_config
    from mtmc.reid.data.mining import default_mining_config
    from mtmc.runtime.scenario import with_scenario

    config = load_config(source.run_config) if source.run_config is not None else default_mining_config()
    if source.scenario is not None:
        config = config.model_copy(update={"scenario": source.scenario, "cameras": []})
    config = with_scenario(config).model_copy(update={"embedder": None})
    if source.cameras is not None:
        known = [camera.id for camera in config.cameras]
        unknown = sorted(set(source.cameras) - set(known))
        if unknown:
            raise MtmcError(f"source.cameras: no camera {unknown[0]} in the source (it has {', '.join(known)})")
        config = config.model_copy(update={"cameras": [c for c in config.cameras if c.id in source.cameras]})
    if not config.cameras:
        raise MtmcError(f"source: {source.run_config or source.scenario} names no camera to mine")
    return config


def check_model(config: AdaptConfig) -> None:
    """Build the model once, so that a bad name or option fails before minutes of mining."""
    from mtmc.reid.modeling import build_model

    if config.model.weights is not None and not config.model.weights.is_file():
        raise MtmcError(
            f"model.weights: {config.model.weights} not found; give a checkpoint of `mtmc reid train` (its last.pt)"
        )
    if config.check is not None and not config.check.root.is_dir():
        raise MtmcError(f"check.root: {config.check.root} is not a folder; give a labelled re-id set, e.g. ../shared/data/vehicle-reid-2cam")
    options = config.model.model_options()
    if config.training.per_camera:
        options["per_camera"] = True
    if "pretrained" in options:
        options["pretrained"] = False  # the check needs the structure, not the ImageNet weights
    try:
        build_model(config.model.name, num_classes=2, **options)
    except MtmcError as error:
        raise MtmcError(f"model.name: {error}") from None
    except (TypeError, ValueError) as error:
        hint = "; or set training.per_camera: false" if config.training.per_camera else ""
        raise MtmcError(f"model: {config.model.name} with init {config.model.init}: {error}{hint}") from None


def adapt(
    config: AdaptConfig, *, device: str = "auto", progress: bool = True, echo: bool = True, workers: int = 2
) -> AdaptResult:
    """Run the whole adaptation of ``config`` into ``config.output_dir`` (see the module docstring);
    ``workers``: cameras mined in parallel."""
    from mtmc.reid.engine import Trainer, load_model, resolve_device
    from mtmc.reid.export import export_checkpoint
    from mtmc.runtime.matcher import topology_of

    started = time.perf_counter()
    out = config.output_dir
    crops = config.source.images
    run_config = None if crops is not None else source_run_config(config.source)
    check_model(config)
    resolve_device(device)
    # source.cameras may leave some of the run config's cameras out
    topology = None if run_config is None else topology_of(run_config, strict=False)
    out.mkdir(parents=True, exist_ok=True)

    if run_config is None:
        mined = image_tracks(crops)
        log.info("%d crops of %d cameras under %s", len(mined.tracks), len(mined.cameras), crops.root)
    else:
        log.info("mining %d cameras with %s + %s", len(run_config.cameras), run_config.detector.name, run_config.tracker.name)
        mined = mine_source(run_config, config.mining_options(), out / "mining", workers, progress)
    tracks = mined.tracks
    least = max(2, config.training.identities_per_batch)
    if len(tracks) < least:
        raise MtmcError(
            f"mining found {len(tracks)} pseudo-identities, training needs at least {least}: mine longer "
            "footage or relax mining (min_track_frames, min_mean_score, min_travel, min_box_side)"
        )
    log.info("%d pseudo-identity tracks, %d crops", len(tracks), sum(len(t.crop_paths) for t in tracks))

    for stale in out.glob("round-*"):  # a previous run's rounds: replaced, or beyond this run's count
        shutil.rmtree(stale)
    rounds: list[dict[str, Any]] = []
    histories: list[list[dict[str, Any]]] = []
    weights: Path | None = None
    for round_index in range(config.rounds.count + 1):
        run_dir = out / f"round-{round_index}"
        clustering = None
        if weights is None and crops is None:
            labels = one_track_one_identity(tracks)
        else:  # a later round, or crops (one each: round 0 clusters them with the start model)
            if weights is not None:
                model, spec = load_model(weights, resolve_device(device))
                size = spec.input_size
            elif config.model.weights is not None:
                model, spec = load_model(config.model.weights, resolve_device(device))
                size = spec.input_size
            else:
                model, size, _ = _initial_model(config)
            features = track_features(_crop_features(model, tracks, size, config, device), tracks)
            clustering = cluster_tracks(tracks, features, config.rounds, topology)
            labels = clustering.labels
            del model
        statistics = label_statistics(tracks, labels)
        log.info("round %d: %s", round_index, _describe(statistics, clustering))
        set_root = run_dir / "set"
        write_training_set(tracks, labels, set_root / "train")
        validated = mined.has_truth and _write_validation_set(tracks, set_root)
        epochs = config.training.epochs if round_index == 0 else config.rounds.epochs or config.training.epochs
        per_camera = config.training.per_camera
        experiment = round_experiment(
            config, set_root, run_dir, int(labels.max()) + 1, epochs, weights, validated, per_camera
        )
        round_started = time.perf_counter()
        result = Trainer(experiment, device=device, progress=progress, echo=echo).fit()
        weights = result.last_checkpoint
        histories.append(result.history)
        rounds.append(
            _round_report(
                round_index, statistics, clustering, per_camera, result.history, time.perf_counter() - round_started
            )
        )
        rounds[-1]["iterations"] = _iterations(labels, tracks, experiment)

    assert weights is not None
    check = None
    if config.check is not None:
        check = check_adaptation(config, weights)
        if check["kept"] == "input":
            weights = config.model.weights
    checkpoint = out / MODEL_FILE
    shutil.copy2(weights, checkpoint)
    export = export_checkpoint(checkpoint, out / ONNX_FILE)
    curves = _write_curves(histories, out / CURVES_FILE)
    report = {
        "format": REPORT_FORMAT,
        "config": config.model_dump(mode="json"),
        "mining": {
            "cameras": mined.cameras,
            "cached": mined.cached,
            "pseudo_identity_tracks": len(tracks),
            "crops": sum(len(t.crop_paths) for t in tracks),
            "has_truth": mined.has_truth,
        },
        "rounds": rounds,
        "check": check,
        "outputs": {
            "checkpoint": str(checkpoint),
            "onnx": str(export.path),
            "onnx_mb": round(export.path.stat().st_size / 1e6, 2),
            "onnx_max_abs_diff": export.max_abs_diff,
            "curves": None if curves is None else str(curves),
            "feature_dim": export.spec.feature_dim,
            "input_size": list(export.spec.input_size),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    _write_json(out / REPORT_FILE, report)
    write_summary(report, out / SUMMARY_FILE)
    log.info("done in %.0f s: %s, %s, %s", report["seconds"], checkpoint, export.path, out / SUMMARY_FILE)
    return AdaptResult(out, checkpoint, export.path, report)


def check_adaptation(config: AdaptConfig, adapted: Path) -> dict[str, Any]:
    """Score the model adaptation started from and ``adapted`` on ``config.check``'s labelled
    vehicles; which one ships (``kept``: ``input`` only when adaptation lost more than
    ``max_loss`` mAP and there is a trained input to keep)."""
    from mtmc.reid.data import load_dataset
    from mtmc.reid.embedder import TorchEmbedder
    from mtmc.reid.engine import load_model
    from mtmc.reid.evaluation.deployed import deployed_scores, two_camera_directions

    check = config.check
    assert check is not None
    if check.dataset == TWO_CAMERA_DATASET:
        directions = two_camera_directions(check.root, **check.options)
    else:
        directions = {"query->gallery": load_dataset(check.dataset, check.root, **check.options)}
    for name, splits in directions.items():
        if not splits.query or not splits.gallery or not splits.test_labelled:
            raise MtmcError(f"check: {check.dataset} at {check.root} has no labelled query / gallery ({name})")

    def scores(model: Any, input_size: tuple[int, int], dim: int) -> dict[str, Any]:  # on the CPU, as workers run
        return deployed_scores(TorchEmbedder(model, dim=dim, input_size=input_size), directions)

    if config.model.weights is not None:
        model, spec = load_model(config.model.weights)
        start = scores(model, spec.input_size, spec.feature_dim)
        start_name = str(config.model.weights)
    else:
        start = scores(*_initial_model(config))
        start_name = f"{config.model.name} at init {config.model.init}"
    model, spec = load_model(adapted)
    after = scores(model, spec.input_size, spec.feature_dim)
    loss = start["mean"]["mAP"] - after["mean"]["mAP"]
    kept = "input" if loss > check.max_loss and config.model.weights is not None else "adapted"
    data = f"{check.dataset} {check.options} ({check.root})"
    line = (f"check on {data}: mAP {100 * start['mean']['mAP']:.1f} -> {100 * after['mean']['mAP']:.1f}, rank-1 "
            f"{100 * start['mean']['rank1']:.1f} -> {100 * after['mean']['rank1']:.1f}, recolour AUC "
            f"{start['recolour']['auc']:.3f} -> {after['recolour']['auc']:.3f}")  # fmt: skip
    if loss <= check.max_loss:
        log.info("%s: adaptation kept", line)
    elif kept == "input":
        log.warning("%s: adaptation lost %.1f mAP on labelled vehicles; model.pt is the model it started from, %s",
                    line, 100 * loss, start_name)  # fmt: skip
    else:
        log.warning("%s: adaptation lost %.1f mAP against %s, and there is no trained input to keep "
                    "(start from labelled weights: model.weights)", line, 100 * loss, start_name)  # fmt: skip
    return {"data": data, "input": start_name, "before": start, "after": after, "loss": loss,
            "max_loss": check.max_loss, "kept": kept}  # fmt: skip


def _initial_model(config: AdaptConfig) -> tuple[Any, tuple[int, int], int]:
    """The network as round 0 starts it (seeded init's weights), its input size and feature size."""
    from mtmc.reid.engine.trainer import seed_everything
    from mtmc.reid.modeling import build_model

    seed_everything(config.seed)
    model = build_model(config.model.name, num_classes=2, **config.model.model_options())
    return model, tuple(config.training.size), model.feature_dim


def round_experiment(
    config: AdaptConfig,
    set_root: Path,
    run_dir: Path,
    identities: int,
    epochs: int,
    weights: Path | None,
    validated: bool,
    per_camera: bool,
) -> ReidExperimentConfig:
    """One round's training run as a ``mtmc reid train`` experiment on the round's ``folders`` set;
    ``per_camera``: the model's losses within each camera (labels that hold only there).

    A later round (``weights`` given) fine-tunes at the learning rate the first training ended at,
    constant: restarting the schedule at full rate undid what round 0 had learnt (on SynthCity
    street-a, cross-camera mAP on ground truth fell from 49% to 44% in one epoch)."""
    training = config.training
    optimiser, schedule = training.optimiser, training.schedule
    if weights is not None:
        final_lr = optimiser.lr * schedule.factor(training.epochs - 1)
        optimiser, schedule = optimiser.model_copy(update={"lr": final_lr}), ScheduleConfig()
    data = DataConfig(
        dataset="folders",
        root=set_root,
        size=training.size,
        identities_per_batch=min(training.identities_per_batch, identities),
        images_per_identity=training.images_per_identity,
        transforms=training.transforms,
        num_workers=training.num_workers,
        eval_batch_size=training.eval_batch_size,
    )
    return ReidExperimentConfig(
        model=ModelConfig(
            name=config.model.name,
            options={**config.model.model_options(), **({"per_camera": True} if per_camera else {})},
            weights=weights if weights is not None else config.model.weights,
        ),
        data=data,
        optimiser=optimiser,
        schedule=schedule,
        epochs=epochs,
        seed=config.seed,
        eval_every=max(1, epochs // VALIDATIONS_PER_ROUND) if validated else 0,
        deterministic=config.deterministic,
        output_dir=run_dir,
    )


def _crop_features(
    model: Any, tracks: Sequence[CameraTrack], size: tuple[int, int], config: AdaptConfig, device: str
) -> np.ndarray:
    """Inference features of every track's crops, track after track."""
    from mtmc.reid.data import ReidSample
    from mtmc.reid.engine import extract_features, resolve_device

    samples = [ReidSample(path=path, pid=0, camid=0) for track in tracks for path in track.crop_paths]
    return extract_features(
        model, samples, size, batch_size=config.training.eval_batch_size, device=resolve_device(device)
    )


def _write_validation_set(tracks: Sequence[CameraTrack], set_root: Path) -> bool:
    """``query/`` and ``gallery/`` of ground-truth-labelled crops (identity: the vehicle, camera: the
    camera), :data:`VALIDATION_CROPS_PER_TRACK` per track; False when no vehicle is in two cameras."""
    seen: dict[int, set[str]] = {}
    for track in tracks:
        vehicle = track.majority_truth()
        if vehicle >= 0:
            seen.setdefault(vehicle, set()).add(track.camera)
    if not any(len(cameras) >= 2 for cameras in seen.values()):
        return False
    for split in ("query", "gallery"):
        shutil.rmtree(set_root / split, ignore_errors=True)
    for track in tracks:
        vehicle = track.majority_truth()
        if vehicle < 0:
            continue
        ours = np.flatnonzero(track.truth == vehicle)
        chosen = ours[np.linspace(0, len(ours) - 1, min(VALIDATION_CROPS_PER_TRACK, len(ours))).round().astype(int)]
        splits = ("query", "gallery") if len(seen[vehicle]) >= 2 else ("gallery",)
        for split in splits:
            folder = set_root / split / f"v{vehicle:05d}" / track.camera
            folder.mkdir(parents=True, exist_ok=True)
            for index in chosen.tolist():
                path = track.crop_paths[index]
                link_or_copy(path, folder / f"t{track.track:05d}_{path.name}")
    return True


def _iterations(labels: np.ndarray, tracks: Sequence[CameraTrack], experiment: ReidExperimentConfig) -> int:
    """Optimiser steps of the round: the P x K batches of each epoch, as the trainer's sampler draws them."""
    from mtmc.reid.data import IdentityBatchSampler

    pids = np.repeat(labels, [len(track.crop_paths) for track in tracks])
    sampler = IdentityBatchSampler(
        pids.tolist(), experiment.data.identities_per_batch, experiment.data.images_per_identity, experiment.seed
    )
    steps = 0
    for epoch in range(experiment.epochs):
        sampler.set_epoch(epoch)
        steps += len(sampler)
    return steps


def _round_report(
    index: int,
    statistics: dict[str, Any],
    clustering: Clustering | None,
    per_camera: bool,
    history: list[dict[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    validation = [
        {"epoch": row["epoch"], "mAP": row["mAP"], "rank1": row["rank1"]} for row in history if "mAP" in row
    ]
    return {
        "round": index,
        "labels": "one track, one identity" if clustering is None else "tracks clustered across cameras",
        "per_camera_losses": per_camera,
        "threshold": None if clustering is None else clustering.threshold,
        "calibration_pairs": None if clustering is None else clustering.calibration_pairs,
        "statistics": statistics,
        "epochs": len(history),
        "loss_first": history[0]["loss"],
        "loss_last": history[-1]["loss"],
        "truth_validation": validation,
        "seconds": round(seconds, 1),
    }


def _describe(statistics: dict[str, Any], clustering: Clustering | None) -> str:
    text = f"{statistics['identities']} identities from {statistics['tracks']} tracks, {statistics['images']} crops"
    if clustering is not None:
        text += f" (clusters stop at cosine distance {clustering.threshold:.3f})"
    truth = statistics.get("truth")
    if truth is not None:
        text += f"; image purity {100 * truth['image_purity']:.1f}%"
        if truth["link_precision"] is not None:
            text += f", cross-camera link precision {100 * truth['link_precision']:.1f}%"
    return text


def _write_curves(histories: list[list[dict[str, Any]]], path: Path) -> Path | None:
    """Every round's history end to end, epochs numbered on."""
    from mtmc.reid.engine import write_curves

    rows, offset = [], 0
    for history in histories:
        rows += [{**row, "epoch": row["epoch"] + offset} for row in history]
        offset += len(history)
    return write_curves(rows, path)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.part")
    partial.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)

"""An adaptation experiment as one YAML file (``configs/reid/adapt-*.yaml``), read by ``mtmc reid adapt``.

    source:    {scenario: ../../runs/synthcity-street-a}     # or run_config: ../city.yaml, or images: {root: crops/}
    mining:    {min_track_frames: 15, max_crops_per_track: 24}
    model:     {name: glamor, init: imagenet-mobilenetv2}   # weights: a trained last.pt to start from
    training:  {size: [128, 128], identities_per_batch: 8, images_per_identity: 4,
                optimiser: {name: adam, lr: 3.5e-4}, epochs: 12}
    rounds:    {count: 2, epochs: 6, link_quantile: 0.01}
    check:     {root: ../../../shared/data/vehicle-reid-2cam}  # labelled vehicles it must not lose on
    seed: 0
    output_dir: ../../runs/reid/adapt-street-a

The training pieces are the ones of ``mtmc reid train`` (:mod:`mtmc.reid.config`): optimiser,
schedule and augmentation mean the same here. Relative paths are taken from the YAML file.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mtmc.reid.config import OptimiserConfig, ScheduleConfig, TransformConfig
from mtmc.reid.data.mining import MiningOptions
from mtmc.schema import StrictModel

Init = Literal["imagenet-mobilenetv2", "scratch"]


class ImageSourceConfig(StrictModel):
    """Vehicle crops without identities (:mod:`mtmc.reid.adapt.images`): one vehicle per image, its
    camera from its folder (``root/<camera>/<image>``) or from ``camera_pattern``. Round 0 clusters
    them across cameras with the start model; two crops of one camera count as different vehicles."""

    root: Path = Field(description="the folder of crops")
    list: Path | None = Field(None, description="a text file of image names under root, one per line (default: every image)")
    camera_pattern: str | None = Field(
        None, description="a regular expression searched in each file name; its 'camera' group is the camera"
    )
    truth_pattern: str | None = Field(
        None, description="its 'identity' group is the vehicle: only for the report's purity, never for training"
    )

    @field_validator("camera_pattern", "truth_pattern")
    @classmethod
    def _compiles(cls, pattern: str | None, info: Any) -> str | None:
        if pattern is None:
            return None
        group = "camera" if info.field_name == "camera_pattern" else "identity"
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        if group not in compiled.groupindex:
            raise ValueError(f"needs a named group (?P<{group}>...), got {pattern!r}")
        return pattern


class SourceConfig(StrictModel):
    """What the model adapts to: the cameras of an mtmc run config (its cameras or scenario,
    detector, tracker and topology; its embedder is not run), a scenario folder, or both (the
    scenario's cameras with the run config's parts); or ``images``, a folder of crops. Without a run
    config the parts are mining's defaults: YOLOX-Nano and ``deepsort-byte``, which keeps vehicles in
    whole tracks."""

    run_config: Path | None = Field(None, description="an mtmc run config (configs/*.yaml)")
    scenario: Path | None = Field(None, description="an AI City layout folder; replaces the run config's cameras")
    cameras: list[str] | None = Field(None, description="only these camera ids (default: every camera)")
    images: ImageSourceConfig | None = Field(None, description="crops instead of footage (no run_config, scenario)")

    @model_validator(mode="after")
    def _something_to_mine(self) -> SourceConfig:
        footage = self.run_config is not None or self.scenario is not None
        if self.images is not None and (footage or self.cameras is not None):
            raise ValueError("images replaces run_config, scenario and cameras; give images or footage, not both")
        if self.images is None and not footage:
            raise ValueError("give run_config (an mtmc run config) or scenario (a folder), or both; or images (crops)")
        return self


class AdaptModelConfig(StrictModel):
    """The network to adapt and where it starts. ``imagenet-mobilenetv2``: the model's MobileNetV2
    backbone from ImageNet (the one ImageNet initialisation available offline; sets the options
    ``backbone: mobilenetv2, pretrained: true``); ``scratch``: the model's own random initialisation."""

    name: str = Field("glamor", description="a registered model taking a backbone option: glamor, counter-glamor")
    init: Init = Field("imagenet-mobilenetv2", description="where the weights start: imagenet-mobilenetv2 or scratch")
    options: dict[str, Any] = Field(default_factory=dict, description="constructor options of the model")
    weights: Path | None = Field(
        None,
        description="start round 0 from this trained checkpoint (a `mtmc reid train` last.pt, e.g. trained on "
        "labelled vehicles) instead of init's weights; its classifier is replaced by the pseudo-identities'",
    )

    @model_validator(mode="after")
    def _options_agree_with_init(self) -> AdaptModelConfig:
        if "num_classes" in self.options:
            raise ValueError("num_classes is the number of pseudo-identities; remove it")
        if self.init == "imagenet-mobilenetv2":
            backbone = self.options.get("backbone", "mobilenetv2")
            if backbone != "mobilenetv2" or self.options.get("pretrained", True) is not True:
                raise ValueError(
                    f"init imagenet-mobilenetv2 needs backbone mobilenetv2, pretrained true (got backbone "
                    f"{backbone!r}, pretrained {self.options.get('pretrained')!r}); or use init: scratch"
                )
        elif self.options.get("pretrained"):
            raise ValueError("init scratch contradicts options.pretrained: true; remove it")
        return self

    def model_options(self) -> dict[str, Any]:
        """The constructor options the model is built with."""
        if self.init == "imagenet-mobilenetv2":
            return {**self.options, "backbone": "mobilenetv2", "pretrained": True}
        return dict(self.options)


class TrainingConfig(StrictModel):
    """One training run on the current pseudo-labels (the first round; later rounds change only the epochs)."""

    size: tuple[int, int] = Field((128, 128), description="(height, width) of the network's input")
    identities_per_batch: int = Field(8, ge=2, description="P: pseudo-identities per batch (at most their number)")
    images_per_identity: int = Field(4, ge=2, description="K: images per pseudo-identity in a batch")
    transforms: TransformConfig = Field(default_factory=TransformConfig)
    optimiser: OptimiserConfig
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    epochs: int = Field(ge=1, description="epochs of the first round (about one pass over the crops each)")
    per_camera: bool = Field(
        True,
        description="the model's per_camera losses: negatives and softmax classes from each image's own "
        "camera, positives from any. Two tracks of one camera are different vehicles; two tracks of "
        "different cameras that no confident link merged may still be one, so they are not pushed apart",
    )
    num_workers: int = Field(0, ge=0, description="data loading processes; 0: in the training process")
    eval_batch_size: int = Field(64, ge=1, description="images per batch when embedding crops")

    @field_validator("size")
    @classmethod
    def _positive_size(cls, size: tuple[int, int]) -> tuple[int, int]:
        if min(size) < 1:
            raise ValueError(f"must be [height, width], both >= 1, got {list(size)}")
        return size


class RoundsConfig(StrictModel):
    """Cross-camera pseudo-labelling after the first round (0: off), as clustering-based unsupervised
    re-id does: embed every track with the current model, average over the track, cluster tracks
    across cameras, fine-tune on the clusters (at the rate the first training ended at), repeat."""

    count: int = Field(0, ge=0, description="rounds of clustering + fine-tuning after the first training")
    epochs: int | None = Field(None, ge=1, description="fine-tuning epochs per round (default: training.epochs)")
    link_quantile: float = Field(
        0.01,
        gt=0.0,
        lt=0.5,
        description="merge only clusters closer than this quantile of the distances between tracks of one "
        "camera (different vehicles by the one-track-one-identity rule): a confident threshold that "
        "follows the model's own distance scale",
    )
    linkage: Literal["average", "complete"] = Field("average", description="cluster distance (the matcher's)")
    same_camera: bool = Field(
        False,
        description="false: tracks of one camera never merge (the tracker already decided there); "
        "true: only those overlapping in time are kept apart",
    )
    use_topology: bool = Field(
        True, description="gate cross-camera pairs by the source's topology travel times, when it has one"
    )


class CheckConfig(StrictModel):
    """The labelled vehicles that adaptation must not get worse on.
    The model adaptation started from and the adapted one are both scored on them through the
    deployed embedder path (``mtmc.reid.evaluation.deployed``); if the adapted one loses more than
    ``max_loss`` mAP, the run says so and ships the model it started from (``model.weights``).
    Best on vehicles neither model trained on; vehicles the start model trained on still tell
    whether adaptation unlearnt what the labels taught."""

    dataset: str = Field("vehicle-reid-2cam", description="a registered labelled re-id reader")
    root: Path = Field(description="the labelled set's folder")
    options: dict[str, Any] = Field(
        default_factory=lambda: {"test_list": "val.txt"},
        description="reader options; vehicle-reid-2cam: test_list, the vehicles scored (both directions)",
    )
    max_loss: float = Field(0.0, ge=0.0, le=1.0, description="mAP (0..1) the adapted model may lose")


class AdaptConfig(StrictModel):
    """The root of ``configs/reid/adapt-*.yaml``."""

    source: SourceConfig
    mining: dict[str, Any] = Field(
        default_factory=dict, description="MiningOptions: which tracks and crops make pseudo-identities"
    )
    model: AdaptModelConfig = Field(default_factory=AdaptModelConfig)
    training: TrainingConfig
    rounds: RoundsConfig = Field(default_factory=RoundsConfig)
    check: CheckConfig | None = Field(None, description="labelled vehicles the adapted model must not lose on")
    seed: int = Field(0, ge=0, description="seeds training and sampling")
    deterministic: bool = Field(True, description="deterministic kernels (reproducible, slower on GPU)")
    output_dir: Path = Field(Path("runs/reid/adapt"), description="weights, report and each round's run")

    @field_validator("mining")
    @classmethod
    def _mining_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        mining_options(options)
        return options

    def mining_options(self) -> MiningOptions:
        return mining_options(self.mining)


def mining_options(options: dict[str, Any]) -> MiningOptions:
    """``options`` as :class:`MiningOptions`; an unknown key names the valid ones."""
    valid = [field.name for field in fields(MiningOptions)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r}; valid: {', '.join(valid)}")
    return MiningOptions(**options)


def load_adapt_config(path: str | Path) -> AdaptConfig:
    """Read ``path`` (YAML) into an :class:`AdaptConfig`; one-line errors, as every config."""
    from mtmc.config import load_config

    return load_config(path, AdaptConfig)

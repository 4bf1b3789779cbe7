"""A re-id experiment as one YAML file (``configs/reid/*.yaml``), read by ``mtmc reid train``.

    model:      {name: glamor, options: {depth: 18}}
    data:       {dataset: veri776, root: ../data/VeRi, size: [208, 208], identities_per_batch: 6, ...}
    optimiser:  {name: adam, lr: 1.0e-4, weight_decay: 0}
    schedule:   {warmup_epochs: 10, gamma: 0.6, step_every: 20}
    epochs: 100
    seed: 0
    eval_every: 10
    output_dir: ../runs/reid/glamor-veri

Relative paths are taken relative to the YAML file (as every mtmc config). The learning rate of
epoch e (0-based) is ``lr * warmup(e) * decay(e)``: see :class:`ScheduleConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mtmc.schema import StrictModel


class ModelConfig(StrictModel):
    """A model registered in ``MODELS`` (``mtmc reid summary`` lists them) and its constructor
    options; ``num_classes`` is not an option: it is the train split's number of identities."""

    name: str = Field(description="registered model name: glamor, counter-glamor, val, anet, pgan")
    options: dict[str, Any] = Field(default_factory=dict, description="constructor options of the model")
    weights: Path | None = Field(
        None,
        description="fine-tune: start from this checkpoint's weights (fast-reid's MODEL.WEIGHTS); tensors "
        "of another shape, such as the classifier of other identities, keep their initialisation",
    )

    @field_validator("options")
    @classmethod
    def _no_num_classes(cls, options: dict[str, Any]) -> dict[str, Any]:
        if "num_classes" in options:
            raise ValueError("num_classes is taken from the train split's identities; remove it")
        return options


class TransformConfig(StrictModel):
    """Training augmentation, the arguments of :func:`mtmc.reid.data.train_transforms`."""

    flip_p: float = Field(0.5, ge=0.0, le=1.0, description="horizontal flip probability")
    padding: int = Field(10, ge=0, description="zero padding before a random crop back to size; 0: no crop")
    colour_jitter: float = Field(
        0.0, ge=0.0, le=1.0, description="brightness/contrast jitter (hue and saturation kept: paint is identity); 0: off"
    )
    saturation_jitter: float = Field(
        0.0, ge=0.0, le=1.0, description="saturation jitter; 0: off (a model trained with it learns to ignore paint)"
    )
    erasing_p: float = Field(0.5, ge=0.0, le=1.0, description="random erasing probability")
    low_resolution_p: float = Field(
        0.0, ge=0.0, le=1.0, description="probability of shrinking an image first (far, blurred vehicles); 0: off"
    )
    low_resolution_min: float = Field(0.3, gt=0.0, le=1.0, description="smallest fraction of its sides it shrinks to")


class DataConfig(StrictModel):
    """Where the images come from and how batches are drawn (P identities x K images)."""

    dataset: str = Field(
        description="registered dataset: veri776, vehicleid, veriwild, cityflow-reid, folders, vehicle-reid-2cam"
    )
    root: Path = Field(description="the dataset's folder")
    options: dict[str, Any] = Field(default_factory=dict, description="reader options, e.g. test_size")
    size: tuple[int, int] | None = Field(None, description="(height, width); default: the model's input_size")
    identities_per_batch: int = Field(ge=1, description="P: identities per batch")
    images_per_identity: int = Field(ge=1, description="K: images per identity in a batch")
    transforms: TransformConfig = Field(default_factory=TransformConfig)
    num_workers: int = Field(4, ge=0, description="data loading processes; 0: in the training process")
    eval_batch_size: int = Field(128, ge=1, description="images per batch when extracting features")

    @field_validator("size")
    @classmethod
    def _positive_size(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and min(size) < 1:
            raise ValueError(f"must be [height, width], both >= 1, got {list(size)}")
        return size

    @property
    def batch_size(self) -> int:
        return self.identities_per_batch * self.images_per_identity


class OptimiserConfig(StrictModel):
    """Adam (Kingma and Ba; GLAMOR, VAL, PGAN), Adam with the AMSGrad fix (AttributeNet) or SGD."""

    name: Literal["adam", "amsgrad", "sgd"] = Field("adam", description="the optimiser (torch.optim)")
    lr: float = Field(gt=0.0, description="base learning rate")
    weight_decay: float = Field(0.0, ge=0.0, description="L2 penalty on every parameter")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam / amsgrad moment decays")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd momentum")

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"both betas must lie in [0, 1), got {list(betas)}")
        return betas


class ScheduleConfig(StrictModel):
    """Per-epoch learning-rate factor: linear warm-up, then step decay.

    warmup(e) = warmup_factor + (1 - warmup_factor) * e / warmup_epochs for e < warmup_epochs, else 1
    (GLAMOR §3.1 "warmup-1": 0.1 lr at epoch 0 rising every epoch to lr at epoch 10, after Luo et al.);
    decay(e) = gamma ** (e // step_every), or gamma ** (number of milestones <= e).
    """

    warmup_epochs: int = Field(0, ge=0, description="epochs of linear warm-up; 0: none")
    warmup_factor: float = Field(0.1, gt=0.0, le=1.0, description="lr factor at epoch 0 of the warm-up")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="lr factor applied at each decay step")
    step_every: int | None = Field(None, ge=1, description="decay every this many epochs")
    milestones: list[int] = Field(default_factory=list, description="or decay at these epochs (0-based)")

    @model_validator(mode="after")
    def _one_decay_rule(self) -> ScheduleConfig:
        if self.step_every is not None and self.milestones:
            raise ValueError("give step_every or milestones, not both")
        if self.milestones != sorted(set(self.milestones)) or any(m < 1 for m in self.milestones):
            raise ValueError(f"milestones must be increasing epochs >= 1, got {self.milestones}")
        return self

    def factor(self, epoch: int) -> float:
        """The learning-rate multiplier of ``epoch`` (0-based)."""
        warmup = 1.0
        if epoch < self.warmup_epochs:
            warmup = self.warmup_factor + (1.0 - self.warmup_factor) * epoch / self.warmup_epochs
        if self.step_every is not None:
            steps = epoch // self.step_every
        else:
            steps = sum(milestone <= epoch for milestone in self.milestones)
        return warmup * self.gamma**steps


class ReidExperimentConfig(StrictModel):
    """The root of ``configs/reid/*.yaml``."""

    model: ModelConfig
    data: DataConfig
    optimiser: OptimiserConfig
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    epochs: int = Field(ge=1, description="training epochs")
    seed: int = Field(0, ge=0, description="seeds python, numpy, torch and the identity sampler")
    eval_every: int = Field(
        10, ge=0, description="evaluate query/gallery every N epochs and after the last; 0: never"
    )
    deterministic: bool = Field(True, description="deterministic kernels (reproducible runs, slower on GPU)")
    output_dir: Path = Field(Path("runs/reid"), description="checkpoints, history, curves and log go here")


def load_experiment(path: str | Path) -> ReidExperimentConfig:
    """Read ``path`` (YAML) into a :class:`ReidExperimentConfig`; one-line errors, as every config."""
    from mtmc.config import load_config

    return load_config(path, ReidExperimentConfig)

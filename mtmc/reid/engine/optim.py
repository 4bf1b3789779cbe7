"""The optimiser and the per-epoch learning-rate schedule of an experiment (fast-reid's
``build_optimizer`` / ``build_lr_scheduler``)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from mtmc.reid.config import OptimiserConfig, ScheduleConfig


def build_optimiser(
    parameters: Iterable[torch.nn.Parameter], config: OptimiserConfig
) -> torch.optim.Optimizer:
    """Every parameter is handed over, trainable or not: parameters frozen for a while (AttributeNet's
    second step) get no gradient and are skipped by the step, and the parameter groups stay the same
    across stages, so a checkpoint's optimiser state fits whatever stage it resumes in."""
    parameters = list(parameters)
    if config.name == "sgd":
        return torch.optim.SGD(
            parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.Adam(
        parameters,
        lr=config.lr,
        betas=config.betas,
        weight_decay=config.weight_decay,
        amsgrad=config.name == "amsgrad",
    )


def build_scheduler(optimiser: torch.optim.Optimizer, schedule: ScheduleConfig) -> LambdaLR:
    """Stepped once per epoch: after ``step()`` number e the learning rate is ``lr * schedule.factor(e)``."""
    # a plain function, not the bound method: LambdaLR keeps functions out of its state_dict
    return LambdaLR(optimiser, lambda epoch: schedule.factor(epoch))

"""Training and evaluation of the re-id models (fast-reid's ``engine``): the trainer, its
checkpoints, the optimiser and learning-rate schedule, feature extraction and the training curves.

    config = load_experiment("configs/reid/glamor-veri.yaml")
    result = Trainer(config, device="auto").fit(resume=False)
    model, spec = load_model(result.best_checkpoint)
"""

from mtmc.reid.engine.checkpoint import ModelSpec, load_checkpoint, load_model, model_spec, save_checkpoint
from mtmc.reid.engine.curves import write_curves
from mtmc.reid.engine.inference import evaluate_on_splits, extract_features
from mtmc.reid.engine.optim import build_optimiser, build_scheduler
from mtmc.reid.engine.trainer import Trainer, TrainingResult, resolve_device

__all__ = [
    "ModelSpec",
    "Trainer",
    "TrainingResult",
    "build_optimiser",
    "build_scheduler",
    "evaluate_on_splits",
    "extract_features",
    "load_checkpoint",
    "load_model",
    "model_spec",
    "resolve_device",
    "save_checkpoint",
    "write_curves",
]

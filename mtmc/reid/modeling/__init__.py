"""Re-id networks built by name, as fast-reid lays them out: ``backbones`` (feature extractors),
``layers`` (attention blocks), ``heads`` (embedding + classifier), ``losses`` and ``meta_arch``
(the papers' models, registered in :data:`MODELS`).

    model = build_model("glamor", num_classes=576)
"""

from __future__ import annotations

from typing import Any

from mtmc.reid.modeling.meta_arch.base import MODELS, ReidModel


def build_model(name: str, **options: Any) -> ReidModel:
    """The model registered as ``name`` (``mtmc reid summary`` lists them), built from ``options``."""
    import mtmc.reid.modeling.meta_arch  # noqa: F401  (registers every model)

    return MODELS.build(name, **options)


__all__ = ["MODELS", "ReidModel", "build_model"]

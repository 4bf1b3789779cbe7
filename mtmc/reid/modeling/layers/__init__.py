"""Attention blocks the papers' models are built from."""

from mtmc.reid.modeling.layers.se import SqueezeExcite

__all__ = ["SqueezeExcite"]

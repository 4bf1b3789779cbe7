"""Embedding heads shared by the models."""

from mtmc.reid.modeling.heads.bnneck import BNNeck

__all__ = ["BNNeck"]

"""Appearance embeddings for re-identification, built by name: ``build_embedder("mobilenetv2-imagenet")``."""

from __future__ import annotations

from mtmc.reid.embedder import EMBEDDERS, Embedder, build_embedder

__all__ = ["EMBEDDERS", "Embedder", "build_embedder"]

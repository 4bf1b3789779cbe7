"""Where tracks go: MOTChallenge text, AI City lines, JSON lines, and an annotated video."""

from mtmc.outputs.annotate import VideoAnnotator
from mtmc.outputs.writers import TrackWriter

__all__ = ["TrackWriter", "VideoAnnotator"]

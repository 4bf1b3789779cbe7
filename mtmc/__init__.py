"""mtmc: streaming multi-camera vehicle tracking.

Per-camera workers detect, track and embed vehicles; a central matcher links tracks across
cameras; ``mtmc.metrics`` scores the result by IDF1, CLEAR MOT and HOTA.
"""

__version__ = "0.1.0"

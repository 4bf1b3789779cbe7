"""Cross-camera association: tracklets of single-camera tracks -> global identities.

One idea per module: ``distances`` (registry by name), ``rerank`` (k-reciprocal), ``gates``
(time, topology, cannot-link), ``cluster`` (constrained agglomerative), ``offline`` (the core,
``associate(tracklets) -> labels``), ``geometry`` (homographies), ``files`` (read tracks, write identities), ``config``.
"""

from mtmc.match.config import MatchConfig, MatcherConfig
from mtmc.match.distances import DISTANCES, Scene
from mtmc.match.offline import associate

__all__ = ["DISTANCES", "MatchConfig", "MatcherConfig", "Scene", "associate"]

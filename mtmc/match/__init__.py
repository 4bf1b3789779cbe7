"""Cross-camera association: tracklets of single-camera tracks -> global identities.

One idea per module: ``distances`` (registry by name), ``rerank`` (k-reciprocal), ``gates``
(time, topology, cannot-link), ``cluster`` (constrained agglomerative), ``offline`` (the core,
``associate(tracklets) -> labels``), ``geometry`` (homographies), ``files`` (read tracks, write identities), ``config``.
"""

from typing import Any

from mtmc.match.config import MatchConfig, MatcherConfig

__all__ = ["DISTANCES", "MatchConfig", "MatcherConfig", "Scene", "associate"]


def __getattr__(name: str) -> Any:
    """The association core on first use: a camera worker reads the run config (``MatcherConfig``)
    but never associates, and scipy.stats alone is about 60 MB of its memory."""
    if name in ("DISTANCES", "Scene"):
        from mtmc.match import distances

        return getattr(distances, name)
    if name == "associate":
        from mtmc.match.offline import associate

        return associate
    raise AttributeError(f"module 'mtmc.match' has no attribute {name!r}")

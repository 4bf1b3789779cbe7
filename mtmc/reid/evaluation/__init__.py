"""Re-id evaluation: distances by name and ensembles (``distances``), mAP / CMC by the VeRi-776
protocol (``metrics``), gallery tracks (``tracks``: image-to-track, distance averaging by track),
k-reciprocal re-ranking with metadata (``rerank``), ``evaluate`` of features end to end
(``evaluator``), and whether a model tells a vehicle from itself repainted (``recolour``)."""

from mtmc.reid.evaluation.distances import METRICS, ensemble, l2_normalize, pairwise_distance
from mtmc.reid.evaluation.evaluator import evaluate, query_gallery_distance
from mtmc.reid.evaluation.metrics import average_precision, retrieval_metrics
from mtmc.reid.evaluation.recolour import greyed, is_coloured, recolour_auc, recoloured
from mtmc.reid.evaluation.rerank import Metadata, RerankConfig, k_reciprocal_rerank, metadata_distance
from mtmc.reid.evaluation.tracks import average_by_track, image_to_track, reduce_by_track

__all__ = [
    "METRICS",
    "Metadata",
    "RerankConfig",
    "average_by_track",
    "average_precision",
    "ensemble",
    "evaluate",
    "greyed",
    "image_to_track",
    "is_coloured",
    "k_reciprocal_rerank",
    "l2_normalize",
    "metadata_distance",
    "pairwise_distance",
    "query_gallery_distance",
    "recolour_auc",
    "recoloured",
    "reduce_by_track",
    "retrieval_metrics",
]

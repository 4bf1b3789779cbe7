"""Self-supervised re-id adaptation (``mtmc reid adapt``): the camera network's own tracks are the
labels. Mine confident tracks per camera (:mod:`.tracks`), train on one track = one identity, then
optionally cluster tracks across cameras with the current model and fine-tune again
(:mod:`.pseudo_labels`); the runner (:mod:`.runner`) writes the weights and a report (:mod:`.report`).

    config = load_adapt_config("configs/reid/adapt-synthcity-street-a.yaml")
    result = adapt(config, device="cpu")
    result.onnx      # embedder: {name: reid, weights: result.onnx}
"""

from mtmc.reid.adapt.config import AdaptConfig, load_adapt_config
from mtmc.reid.adapt.runner import AdaptResult, adapt

__all__ = ["AdaptConfig", "AdaptResult", "adapt", "load_adapt_config"]

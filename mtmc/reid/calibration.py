"""An embedder's appearance calibration: which one a run uses, and how ``mtmc reid calibrate``
measures one.

The matcher turns a cosine distance between two tracklets' mean features into evidence (a
log-likelihood ratio, :class:`~mtmc.match.evidence.AppearanceCalibration`) from the distances that
embedder gives between tracks of one vehicle and of two. Those depend on the weights, so they are
measured on labelled vehicles and travel with the weights. :func:`appearance_calibration` finds
them for a run's ``embedder:`` part, in this order:

1. the part's own ``calibration:`` option: a mapping, or a YAML file of ``mtmc reid calibrate``;
2. the weights manifest entry of the weights name (``mobilenetv2-imagenet`` without ``weights``:
   its own entry);
3. ``<weights path>.calibration.yaml`` beside a weights file;
4. :data:`~mtmc.match.evidence.UNCALIBRATED`, whose evidence is capped low, and a line saying how
   to measure one.

The matcher imports this module, so nothing heavy (torch, onnxruntime, cv2, matplotlib) is
imported at module level: measuring imports what it needs when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmc.errors import MtmcError
from mtmc.match.evidence import UNCALIBRATED, AppearanceCalibration

if TYPE_CHECKING:
    from mtmc.reid.data import ReidSample
    from mtmc.reid.embedder import Embedder

SIDECAR_SUFFIX = ".calibration.yaml"  # <weights file><this>: found beside the weights
IMAGENET_EMBEDDER = "mobilenetv2-imagenet"  # an embedder name and the manifest name of its weights
TWO_CAMERA_DATASET = "vehicle-reid-2cam"


def appearance_calibration(embedder: Mapping[str, Any] | None) -> tuple[AppearanceCalibration | None, str]:
    """The calibration of a run config's ``embedder:`` part (a dict; None: motion only) and where it
    came from, in words, for the matcher's log (module docstring for the order)."""
    if embedder is None:
        return None, "motion only"
    explicit = embedder.get("calibration")
    if isinstance(explicit, Mapping):
        return _parse(explicit, "the embedder's calibration option"), "the embedder's calibration option"
    if explicit is not None:
        path = Path(str(explicit))
        return read_calibration(path), str(path)
    weights = embedder.get("weights", IMAGENET_EMBEDDER if embedder.get("name") == IMAGENET_EMBEDDER else None)
    if weights is not None:
        from mtmc.weights import MANIFEST, load_manifest

        entry = load_manifest().get(str(weights))
        if entry is not None and entry.calibration is not None:
            return _parse(entry.calibration, f"{MANIFEST}: {entry.name}: calibration"), f"weights manifest ({entry.name})"
        sidecar = Path(f"{weights}{SIDECAR_SUFFIX}")
        if entry is None and sidecar.is_file():
            return read_calibration(sidecar), str(sidecar)
    model = str(weights) if weights is not None else str(embedder.get("name", "the embedder"))
    file = f"{model}{SIDECAR_SUFFIX}" if weights is not None else f"W{SIDECAR_SUFFIX}"
    return UNCALIBRATED, (
        f"uncalibrated ({model}: appearance evidence capped at +-{UNCALIBRATED.cap:g}); measure it with "
        f"`mtmc reid calibrate {weights or 'WEIGHTS'} DATA -o {file}`, then set embedder: {{calibration: {file}}}"
    )


def read_calibration(path: str | Path) -> AppearanceCalibration:
    """A YAML file of ``mtmc reid calibrate`` (``calibration: {same, different, data}``, or that
    mapping alone), or one error naming the file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MtmcError(f"calibration file not found: {path} (make it with: mtmc reid calibrate WEIGHTS DATA -o {path})") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MtmcError(f"{path}: not a calibration YAML file ({str(exc).splitlines()[0]})") from None
    if isinstance(data, Mapping) and "calibration" in data:
        data = data["calibration"]
    return _parse(data, str(path))


def _parse(values: Any, where: str) -> AppearanceCalibration:
    if not isinstance(values, Mapping):
        raise MtmcError(f"{where}: expected a mapping with same: and different:, as mtmc reid calibrate writes")
    try:
        return AppearanceCalibration.from_dict(values)
    except ValueError as exc:
        raise MtmcError(f"{where}: {exc}") from None


def calibration_yaml(calibration: AppearanceCalibration) -> str:
    """The file ``mtmc reid calibrate -o`` writes: ``calibration: {...}``, as in the manifest."""
    import yaml

    def rounded(value: Any) -> Any:  # 4 decimals: far finer than the pairs can tell, and readable
        if isinstance(value, dict):
            return {key: rounded(item) for key, item in value.items()}
        return round(value, 4) if isinstance(value, float) else value

    return yaml.safe_dump({"calibration": rounded(calibration.to_dict())}, sort_keys=False)


# ---- measuring (mtmc reid calibrate) -------------------------------------------------------------


def embedder_part(model: str) -> dict[str, Any]:
    """The ``embedder:`` part that runs MODEL as a run would: ``mobilenetv2-imagenet`` the ImageNet
    embedder, a manifest name with ONNX input options (``vehicle-reid-0001``) the ``onnx`` embedder,
    any other name or path the ``reid`` embedder. An unknown name or a missing file: one error."""
    if model == IMAGENET_EMBEDDER:
        return {"name": IMAGENET_EMBEDDER}
    from mtmc.weights import load_manifest, resolve_weights

    manifest = load_manifest()
    resolve_weights(model, manifest)
    entry = manifest.get(model)
    return {"name": "onnx" if entry is not None and entry.embedder else "reid", "weights": model}


def guess_dataset(root: Path) -> str:
    """vehicle-reid-2cam for its layout (images/train and the list files), else ``folders``; the
    other readers' layouts are named with ``--dataset``."""
    if (root / "images" / "train").is_dir() and (root / "train.txt").is_file():
        return TWO_CAMERA_DATASET
    return "folders"


def split_samples(root: Path, split: str, dataset: str) -> list[ReidSample]:
    """The labelled images of one split: for vehicle-reid-2cam those of ``<split>.txt``; for the
    other readers ``train``, or ``val`` / ``test`` (their query and gallery images together)."""
    from mtmc.reid.data import load_dataset

    if not root.is_dir():
        raise MtmcError(f"dataset folder not found: {root} (give a labelled re-id set, e.g. ../shared/data/vehicle-reid-2cam)")
    if dataset == TWO_CAMERA_DATASET:
        splits = load_dataset(dataset, root, train=[], test_list=f"{split}.txt")
        return splits.query + splits.gallery
    splits = load_dataset(dataset, root)
    if split == "train":
        return splits.train
    if split not in ("val", "test"):
        raise MtmcError(f"{dataset}: --split must be train, val or test (val and test: the query and gallery images), got {split!r}")
    if not splits.test_labelled:
        raise MtmcError(f"{dataset} at {root}: query / gallery identities are not public; use --split train")
    unique = {sample.path: sample for sample in splits.query + splits.gallery}  # VeRi's queries are gallery images too
    return list(unique.values())


def embed_images(embedder: Embedder, paths: Sequence[Path], progress: bool = True, chunk: int = 64) -> np.ndarray:
    """(N, D) unit features of whole images (each image is the vehicle's crop, resized as a worker
    resizes a box), read ``chunk`` at a time under a progress bar."""
    import cv2

    from mtmc.errors import InputFormatError
    from mtmc.progress import camera_bars

    features = np.zeros((len(paths), embedder.dim), np.float32)
    with camera_bars(disable=not progress, transient=True) as bars:
        task = bars.add_task("embedding", total=len(paths))
        for start in range(0, len(paths), chunk):
            crops = []
            for path in paths[start : start + chunk]:
                data = np.fromfile(path, np.uint8)
                image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
                if image is None:
                    raise InputFormatError(path, "cannot be decoded as an image")
                crops.append(embedder.crops(image, np.array([[0, 0, image.shape[1], image.shape[0]]]))[0][0])
            features[start : start + len(crops)] = embedder.embed_crops(np.stack(crops))
            bars.advance(task, len(crops))
    return features


def track_means(
    features: np.ndarray, identities: np.ndarray, cameras: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One L2-normalised mean feature per (identity, camera), as the matcher's track-mean features:
    (means, their identities, their cameras)."""
    keys, group = np.unique(np.stack([identities, cameras], axis=1), axis=0, return_inverse=True)
    sums = np.zeros((len(keys), features.shape[1]), np.float64)
    np.add.at(sums, group.reshape(-1), features)
    means = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return means, keys[:, 0], keys[:, 1]


def cross_camera_vehicles(samples: Sequence[ReidSample]) -> int:
    """How many identities have images from two or more cameras (each gives same-vehicle pairs)."""
    cameras: dict[int, set[int]] = {}
    for sample in samples:
        cameras.setdefault(sample.pid, set()).add(sample.camid)
    return sum(len(seen) >= 2 for seen in cameras.values())


def cross_camera_distances(
    embedder: Embedder, samples: Sequence[ReidSample], progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances (1 - cos, 0..2) between the track means (:func:`track_means`) of every two
    cameras: of one identity (same), of two (different). Pairs within a camera are left out: the
    matcher links across cameras."""
    features = embed_images(embedder, [s.path for s in samples], progress)
    identities = np.array([s.pid for s in samples], np.int64)
    means, identities, cameras = track_means(features, identities, np.array([s.camid for s in samples], np.int64))
    first, second = np.triu_indices(len(means), k=1)
    across = cameras[first] != cameras[second]
    first, second = first[across], second[across]
    distance = np.clip(1.0 - np.einsum("ij,ij->i", means[first], means[second]), 0.0, 2.0)
    same = identities[first] == identities[second]
    return distance[same], distance[~same]


def roc_auc(same: np.ndarray, different: np.ndarray) -> float:
    """The chance that a same-vehicle pair is closer than a different-vehicle pair (ties half)."""
    ordered = np.sort(np.asarray(different, np.float64))
    below = np.searchsorted(ordered, same, side="left")
    not_above = np.searchsorted(ordered, same, side="right")
    farther = len(ordered) - not_above
    return float((farther + 0.5 * (not_above - below)).sum() / (len(same) * len(ordered)))


def plot_calibration(
    calibration: AppearanceCalibration, same: np.ndarray, different: np.ndarray, path: Path, title: str
) -> None:
    """Histograms of both distance sets with their fitted Beta densities, and the LLR on a second
    axis: whether the fit follows the data, and where a distance turns into evidence for a link."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import beta

    grid = np.linspace(0.0, 2.0, 401)
    x = np.clip(grid / 2, 1e-6, 1 - 1e-6)
    upper = min(2.0, max(float(np.quantile(different, 0.999)), float(same.max())) + 0.1)
    bins = np.linspace(0.0, upper, 50)
    figure, density = plt.subplots(figsize=(7, 3.8), dpi=100)
    for values, sample, colour, label in (
        (same, calibration.same, "tab:green", "same vehicle"),
        (different, calibration.different, "tab:red", "different vehicles"),
    ):
        density.hist(values, bins=bins, density=True, alpha=0.35, color=colour, label=f"{label} ({len(values)} pairs)")
        density.plot(grid, beta.pdf(x, *sample.beta()) / 2, color=colour, lw=1.5)  # density of d = 2x
    crossing = calibration.distance_at(0.0)
    density.axvline(crossing, color="grey", lw=0.8, ls=":", label=f"LLR = 0 at {crossing:.2f}")
    density.set_xlim(0.0, upper)
    density.set_ylim(0.0, density.get_ylim()[1] * 1.3)  # room for the legend above the bars
    density.set_xlabel("cosine distance between track-mean features (1 - cos)")
    density.set_ylabel("density (bars: measured, lines: Beta fit)")
    evidence = density.twinx()
    evidence.plot(grid, calibration.llr(grid), color="black", lw=1.2, ls="--", label="LLR (right axis)")
    evidence.axhline(0.0, color="grey", lw=0.6)
    evidence.set_ylabel("log-likelihood ratio, same vs different")
    handles = density.get_legend_handles_labels()[0] + evidence.get_legend_handles_labels()[0]
    density.legend(handles=handles, loc="upper right", fontsize=8)
    density.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)

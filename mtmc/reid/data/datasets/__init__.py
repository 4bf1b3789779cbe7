"""Dataset readers by name (as fast-reid's ``DATASET_REGISTRY``): each turns a dataset's folder
into :class:`ReidSplits` (train / query / gallery lists of :class:`ReidSample`).

    splits = load_dataset("veri776", "/data/VeRi")
    splits = load_dataset("vehicleid", "/data/VehicleID", test_size=2400, seed=3)
    splits = load_dataset("vehicle-reid-2cam", "../shared/data/vehicle-reid-2cam", query_camera=2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtmc.registry import Registry
from mtmc.reid.data.datasets.bases import IMAGE_EXTENSIONS, LabelVocabulary, ReidSample, ReidSplits
from mtmc.reid.data.datasets.cityflow import read_cityflow
from mtmc.reid.data.datasets.folders import read_folders
from mtmc.reid.data.datasets.two_camera import read_two_camera
from mtmc.reid.data.datasets.vehicleid import read_vehicleid, split_one_per_identity
from mtmc.reid.data.datasets.veri import read_veri776
from mtmc.reid.data.datasets.veriwild import read_veriwild

DATASETS: Registry[ReidSplits] = Registry("re-id dataset")
DATASETS.register("veri776")(read_veri776)
DATASETS.register("vehicleid")(read_vehicleid)
DATASETS.register("veriwild")(read_veriwild)
DATASETS.register("cityflow-reid")(read_cityflow)
DATASETS.register("folders")(read_folders)
DATASETS.register("vehicle-reid-2cam")(read_two_camera)


def load_dataset(name: str, root: str | Path, **options: Any) -> ReidSplits:
    """The dataset registered as ``name`` read from ``root`` (options: ``test_size`` for vehicleid
    and veriwild, ``seed`` for vehicleid's query / gallery draw, ``train`` / ``test_list`` /
    ``query_camera`` for vehicle-reid-2cam)."""
    return DATASETS.build(name, root=root, **options)


__all__ = [
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "LabelVocabulary",
    "ReidSample",
    "ReidSplits",
    "load_dataset",
    "read_cityflow",
    "read_folders",
    "read_two_camera",
    "read_vehicleid",
    "read_veri776",
    "read_veriwild",
    "split_one_per_identity",
]

"""Re-id training and evaluation data, laid out as fast-reid's ``data`` package: dataset readers
by name (:data:`DATASETS`), an image ``Dataset`` with its collate, the P x K identity sampler and
the transforms.

    splits = load_dataset("veri776", "/data/VeRi")
    dataset = ReidImageDataset(splits.train, train_transforms((208, 208)))
    sampler = IdentityBatchSampler([s.pid for s in splits.train], identities_per_batch=6, images_per_identity=6)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_batch, num_workers=4)
"""

from __future__ import annotations

from mtmc.reid.data.datasets import DATASETS, ReidSample, ReidSplits, load_dataset
from mtmc.reid.data.image_dataset import ReidImageDataset, collate_batch, read_image
from mtmc.reid.data.mining import MinedTrack, MiningOptions, build_reid_set, mine_tracks, write_reid_set
from mtmc.reid.data.sampler import IdentityBatchSampler
from mtmc.reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD, test_transforms, train_transforms

__all__ = [
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IdentityBatchSampler",
    "MinedTrack",
    "MiningOptions",
    "ReidImageDataset",
    "ReidSample",
    "ReidSplits",
    "build_reid_set",
    "collate_batch",
    "load_dataset",
    "mine_tracks",
    "read_image",
    "test_transforms",
    "train_transforms",
    "write_reid_set",
]

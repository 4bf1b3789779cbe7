"""P x K batches for the batch-hard triplet loss (Hermans et al. 2017): each batch holds P
identities with K images each (GLAMOR §6.1: 6 x 6; VAL §4: 7 x 4; PGAN §4.2: 16 x 4)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class IdentityBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices, ``identities_per_batch`` (P) identities x ``images_per_identity``
    (K) images, the K images of an identity next to each other. Use it as
    ``DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_batch)``.

    One epoch follows Luo et al.'s ``RandomIdentitySampler`` (also fast-reid's
    ``NaiveIdentitySampler``): each identity's images are shuffled and cut into groups of K (an
    identity with fewer than K images draws K with replacement, so one-image identities are kept,
    their K copies augmented differently; a last group short of K is dropped); then, while P
    identities still have groups, P of them are drawn at random and give one group each. An epoch
    thus sees about every image once, in full batches only.

    The draw depends on ``seed`` and the epoch alone (not on global random state). The epoch
    advances after each complete pass, or is set with :meth:`set_epoch` as for
    ``DistributedSampler``; ``len()`` is the exact number of batches of the coming epoch.
    """

    def __init__(
        self, pids: Sequence[int], identities_per_batch: int, images_per_identity: int, seed: int = 0
    ) -> None:
        if identities_per_batch < 1:
            raise ValueError(f"identities_per_batch (P) must be an integer >= 1, got {identities_per_batch}")
        if images_per_identity < 1:
            raise ValueError(f"images_per_identity (K) must be an integer >= 1, got {images_per_identity}")
        self.indices_of: dict[int, list[int]] = defaultdict(list)
        for index, pid in enumerate(pids):
            self.indices_of[int(pid)].append(index)
        if len(self.indices_of) < identities_per_batch:
            raise ValueError(
                f"identities_per_batch (P) must be at most the number of identities, "
                f"{len(self.indices_of)}, got {identities_per_batch}"
            )
        self.identities_per_batch = identities_per_batch
        self.images_per_identity = images_per_identity
        self.seed = seed
        self.epoch = 0
        self._plans: dict[int, list[list[int]]] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._plan(self.epoch))

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.epoch
        yield from self._plan(epoch)
        self._plans.pop(epoch, None)
        if self.epoch == epoch:
            self.epoch = epoch + 1

    def _plan(self, epoch: int) -> list[list[int]]:
        """The epoch's batches, drawn once and kept until the epoch has been iterated."""
        if epoch not in self._plans:
            self._plans = {epoch: self._draw(np.random.default_rng([self.seed, epoch]))}
        return self._plans[epoch]

    def _draw(self, rng: np.random.Generator) -> list[list[int]]:
        k = self.images_per_identity
        groups: dict[int, list[list[int]]] = {}
        for pid in sorted(self.indices_of):
            indices = np.asarray(self.indices_of[pid])
            if len(indices) < k:
                indices = rng.choice(indices, size=k, replace=True)
            indices = rng.permutation(indices)
            groups[pid] = indices[: len(indices) - len(indices) % k].reshape(-1, k).tolist()
        available = sorted(groups)
        batches = []
        while len(available) >= self.identities_per_batch:
            chosen = rng.choice(len(available), size=self.identities_per_batch, replace=False)
            batch = []
            for position in chosen:
                batch.extend(groups[available[position]].pop())
            # drop identities out of groups, each swapped with the last one (the order is not used)
            for position in sorted((p for p in chosen if not groups[available[p]]), reverse=True):
                available[position] = available[-1]
                available.pop()
            batches.append(batch)
        return batches

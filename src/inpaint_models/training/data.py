"""Training batches: what a task's ``train_step`` receives, and the endless stream of sample keys.

A data source (:mod:`inpaint_models.training.sources`) yields samples; its
``collate`` stacks them into a :class:`Batch`. :class:`StreamBatchSampler`
draws the ``(index, epoch)`` keys of the samples, batch after batch, for one
process.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterator, Optional

import torch

#: the "epoch" of validation and preview draws: fixed, far from training epochs
VALIDATION_EPOCH = 1_000_003


# --------------------------------------------------------------------------- batches
@dataclass
class Batch:
    """One batch of training samples (on the CPU from ``collate``, on the training device in ``train_step``).

    Attributes:
        image: float (B, C, H, W) ground truth in [0, 1]; or (B, C, K, H, W) with
            the K = 2r + 1 planes around the target plane (the middle one) for a
            task reading ``r = TrainTask.context_planes`` neighbouring planes, when
            the source has them (a stack). 0 wherever the truth is unknown.
        mask: float, ``image``'s shape with 1 channel; 1 = hole (pixels the model
            must fill, and in volume batches also the unknown pixels of the
            neighbouring planes), 0 = known.
        bad_files: files that failed to decode while making this batch.
        weight: the pixels a loss (training) or a metric (validation) may read:
            None = every hole pixel of ``mask`` (the truth is known everywhere:
            image folders); else float like ``mask``, 1 where the output may be
            compared with ``image`` (artificial holes whose truth is known, in
            the target plane), 0 elsewhere: never on a pixel whose truth is
            unknown (a fit's real holes, its held-back pixels in training).
    """

    image: torch.Tensor
    mask: torch.Tensor
    bad_files: list[str] = field(default_factory=list)
    weight: Optional[torch.Tensor] = None

    @property
    def masked(self) -> torch.Tensor:
        """The model's input: ``image`` with the hole set to 0."""
        return self.image * (1.0 - self.mask)

    @property
    def size(self) -> int:
        """Number of images in the batch."""
        return int(self.image.shape[0])

    @property
    def scored(self) -> torch.Tensor:
        """float like ``mask``: the hole pixels a loss or metric reads (``mask``, times ``weight`` when set)."""
        return self.mask if self.weight is None else self.mask * self.weight

    def pin_memory(self) -> "Batch":
        """Page-locked copies (called by the DataLoader's ``pin_memory`` on CUDA runs)."""
        return Batch(self.image.pin_memory(), self.mask.pin_memory(), self.bad_files,
                     None if self.weight is None else self.weight.pin_memory())

    def to(self, device: torch.device, channels_last: bool = False) -> "Batch":
        """The batch on ``device`` (non-blocking copies; channels-last when asked, for 4D batches only)."""
        fmt = torch.channels_last if channels_last and self.image.ndim == 4 else torch.contiguous_format

        def move(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device, non_blocking=True).contiguous(memory_format=fmt)

        return Batch(move(self.image), move(self.mask), self.bad_files,
                     None if self.weight is None else move(self.weight))

    def target_plane(self) -> "Batch":
        """The middle plane of a (B, C, K, H, W) batch as a 4D batch (itself when already 4D)."""
        if self.image.ndim == 4:
            return self
        k = self.image.shape[2] // 2
        return Batch(self.image[:, :, k], self.mask[:, :, k], self.bad_files,
                     None if self.weight is None else self.weight[:, :, k])


def collate(samples: list) -> Batch:
    """Stack ``(image, mask, bad)`` or ``(image, mask, weight, bad)`` samples into a CPU :class:`Batch`."""
    if samples and len(samples[0]) == 4:
        images, masks, weights, bads = zip(*samples)
        weight: Optional[torch.Tensor] = torch.stack(weights)
    else:
        images, masks, bads = zip(*samples)
        weight = None
    return Batch(torch.stack(images), torch.stack(masks), [b for bad in bads for b in bad], weight)


# --------------------------------------------------------------------------- sampling
class StreamBatchSampler:
    """An endless stream of batches of ``(index, epoch)`` keys for one process.

    Each epoch is a :class:`torch.utils.data.DistributedSampler` permutation
    (shuffled with the run's seed; this process's shard when ``world_size`` > 1),
    and batches run on across epoch boundaries, so a dataset smaller than a
    batch still works. ``start`` samples are skipped (resume).
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 start: int = 0) -> None:
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start = start

    def _keys(self) -> Iterator[tuple[int, int]]:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(
            range(self.dataset_size), num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=self.seed
        )
        per_epoch = len(sampler)
        first_epoch, offset = divmod(self.start, per_epoch)
        for epoch in itertools.count(first_epoch):
            sampler.set_epoch(epoch)
            indices = list(sampler)
            for index in indices[offset:]:
                yield int(index), epoch
            offset = 0

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        keys = self._keys()
        while True:
            yield [next(keys) for _ in range(self.batch_size)]

    def __len__(self) -> int:  # DataLoader asks; the stream is effectively endless
        return 2**62

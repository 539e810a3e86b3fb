"""What the trainer reads: a *data source* and the sets of samples it yields.

A run's data comes from one :class:`DataSource`. Two are built in:

* :class:`~inpaint_models.training.folders.ImageFolders`: the image files under
  ``[train] data`` (a model's ordinary training run, ``inpaint train``);
* :class:`~inpaint_models.training.array_data.ArraySource`: the array being
  filled (``inpaint_models.fit``: crops of its known pixels with artificial
  holes like its own, never a loss on an unknown pixel), read crop by crop
  from numpy, memory-mapped, dask or zarr arrays of any size.

A run with a source set on its config (:attr:`TrainConfig.data_source
<inpaint_models.training.config.TrainConfig>`) reads that source; otherwise it
reads the image folders of ``[train] data``. Either way the trainer asks the
source once, at the start of the run, for its :class:`TrainingSets` and treats
every source alike: checkpoints, resume, validation, previews, events and
cancellation do not depend on where the samples come from.

What a sample is (the contract between a source and the tasks)
===============================================================

Each set is a :class:`torch.utils.data.Dataset` indexed by ``(index, epoch)``
(every random choice of a sample is drawn from a generator seeded by
``(seed, epoch, index)``, so a run is reproducible and resumes where it
stopped). A sample is a tuple of CPU tensors ``(image, mask, bad_files)``, or
``(image, mask, weight, bad_files)`` from a source whose truth is not known
everywhere; :func:`~inpaint_models.training.data.collate` stacks samples into a
:class:`~inpaint_models.training.data.Batch`:

* ``image``: float32 in [0, 1], the truth; (B, C, H, W), or (B, C, K, H, W) with
  the K = 2r + 1 planes around the target plane (the middle one) when the task
  reads ``r = TrainTask.context_planes`` > 0 neighbouring planes and the
  source has planes around it (a stack); 0 wherever the truth is unknown;
* ``mask``: float, ``image``'s shape with one channel; 1 = hole as the model
  sees it (the pixels it must fill), 0 = known;
* ``weight``: None (every hole pixel of ``mask`` may be compared with
  ``image``: a source whose truth is known everywhere), or float like
  ``mask``: 1 where a loss (training set) or a metric (validation set) may
  compare the output with ``image``. Zero on every pixel whose truth is unknown;
* ``bad_files``: files that failed to decode while making the batch (counted
  and reported by the trainer, never fatal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from torch.utils.data import Dataset

from inpaint_models.training.config import TrainSettings


@dataclass
class TrainingSets:
    """What the trainer takes from a data source for one run.

    Attributes:
        train: training samples, indexed by ``(index, epoch)``; its length paces
            the epochs of the batch stream (batches run on across epochs).
        validation: validation samples (may be empty: no validation).
        preview: samples shown in the preview grids (validation samples first).
            Samples of the three sets are the module docstring's tuples.
        statistics: called once at the start of a fresh run (not on resume):
            the data statistics for ``TrainTask.prepare`` (``"mean"``: numpy (C,)
            per-channel mean of training crops; ``"std"`` when the source
            measures it; ``"files"``: how many images or volumes).
        summary: one line describing the data (the run's first progress event).
        record: the run log's ``data`` record (JSON-able).
        skipped: files skipped before the run (path -> reason).
    """

    train: Dataset
    validation: Dataset
    preview: Dataset
    statistics: Callable[[], Mapping[str, Any]]
    summary: str
    record: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)


class DataSource(Protocol):
    """Where a run's samples come from (see the module docstring)."""

    def training_sets(self, settings: TrainSettings, context_planes: int) -> TrainingSets:
        """The training, validation and preview sets of a run.

        Args:
            settings: the run's ``[train]`` section (crop size, channels, seed,
                validation split and count, flips, preview count, masks...).
            context_planes: planes on each side of the target plane the task
                reads (``TrainTask.context_planes``; 0 for 2D models).

        Raises:
            ConfigError: the data cannot serve this run (no usable image, crops
                larger than the planes, channels that do not match...).
        """
        ...

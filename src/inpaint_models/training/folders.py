"""The image-folder data source: any folder tree of images, random crops, flips and masks.

:class:`ImageFolders` is the :class:`~inpaint_models.training.sources.DataSource`
of an ordinary training run (``[train] data``). Every random choice of a
sample (crop, flip, mask) is drawn from a generator seeded by
``(seed, epoch, index)``, so a run is reproducible for a seed no matter how
many loader workers or DDP processes share the work, and a resumed run sees
exactly the samples the interrupted one would have seen.

Files are found by extension (png, jpg, jpeg, tif, tiff, bmp, webp). Their headers
are read once at start: unreadable files and files whose shorter side is below
``min_image_size`` are skipped and counted. A file that passes the header check
but fails to decode later is replaced by the next file and reported in the
batch (``Batch.bad_files``), never fatal. Masks come from
:func:`inpaint_models.io.masks.make_mask` (``[train] mask``); the truth is known
everywhere, so batches carry no ``weight`` (every hole pixel counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from inpaint_models.contract.errors import ConfigError
from inpaint_models.contract.values import image_to_unit
from inpaint_models.io.imageio import IMAGE_SUFFIXES, read_image
from inpaint_models.io.masks import make_mask
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import VALIDATION_EPOCH
from inpaint_models.training.sources import TrainingSets


# --------------------------------------------------------------------------- files
def find_images(folders: Sequence[Path]) -> list[Path]:
    """Image files under ``folders`` (recursive), sorted, hidden files and folders excluded."""
    found: set[Path] = set()
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            if any(part.startswith(".") for part in path.relative_to(folder).parts):
                continue
            found.add(path)
    return sorted(found)


def image_shape(path: Path) -> Union[tuple[int, int], str]:
    """(height, width) from the file header, or the reason the file cannot be used."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = list(tif.series)
                shape, axes = tuple(series[0].shape), series[0].axes
            planes = [size for axis, size in zip(axes, shape) if axis not in "YXSC"]
            if len(series) > 1 or any(size > 1 for size in planes):
                return "a stack of planes (training uses single 2D images)"
            return int(shape[axes.index("Y")]), int(shape[axes.index("X")])
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
        return int(height), int(width)
    except Exception as error:  # any broken file is skipped, whatever the decoder raises
        return f"unreadable ({type(error).__name__})"


def read_unit_image(path: Path, channels: int) -> np.ndarray:
    """Read an image file as float32 (H, W, ``channels``) in [0, 1].

    Values become floats as a fill converts them (:func:`inpaint_models.contract.values.image_to_unit`:
    8-bit / 255, floats in [0, 1] as they are, other ranges stretched from the
    image's min to its max), so training sees what a fill will show the model;
    grey is repeated to RGB, RGB is converted to grey (ITU-R 601 luma), alpha is dropped.

    Raises:
        OSError / ValueError: the file cannot be decoded or has an unusable layout.
    """
    array = _read_array(path)
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (1, 2, 3, 4):
        array = np.moveaxis(array, 0, -1)  # planar TIFF
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image layout {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"unsupported image dtype {array.dtype}")
    # the fill's conversion, every pixel known: NaN / infinite values make the file unusable (skipped)
    unit = image_to_unit(array)
    count = unit.shape[-1]
    if count in (2, 4):  # drop alpha
        unit = unit[..., : count - 1]
    if channels == 3 and unit.shape[-1] == 1:
        unit = np.repeat(unit, 3, axis=-1)
    elif channels == 1 and unit.shape[-1] == 3:
        unit = (unit @ np.array([0.299, 0.587, 0.114], np.float32))[..., np.newaxis]
    return np.ascontiguousarray(np.clip(unit, 0.0, 1.0), dtype=np.float32)


def _read_array(path: Path) -> np.ndarray:
    """Decode a file to a numpy array with RGB(A) channel order (the CLI's reader)."""
    return np.asarray(read_image(path))


@dataclass
class FileScan:
    """Result of scanning the data folders.

    Attributes:
        train: usable training files.
        validation: usable validation files (held out or from the validation folders).
        skipped: files skipped with the reason (unreadable / too small).
    """

    train: list[Path]
    validation: list[Path]
    skipped: dict[str, str] = field(default_factory=dict)


def scan_files(settings: TrainSettings) -> FileScan:
    """Find, check and split the image files of a run (deterministic for the seed)."""
    skipped: dict[str, str] = {}

    def usable(paths: list[Path]) -> list[Path]:
        kept = []
        for path in paths:
            shape = image_shape(path)
            if isinstance(shape, str):
                skipped[str(path)] = shape
            elif min(shape) < settings.smallest_image:
                skipped[str(path)] = f"too small ({shape[1]}x{shape[0]} < {settings.smallest_image} px)"
            else:
                kept.append(path)
        return kept

    train = usable(find_images(settings.data))
    if settings.validation:
        validation = usable(find_images(settings.validation))
        validation_set = set(validation)
        train = [p for p in train if p not in validation_set]
    elif settings.validation_split > 0 and len(train) > 1:
        order = np.random.default_rng([settings.seed, 7]).permutation(len(train))
        count = min(len(train) - 1, max(1, int(round(settings.validation_split * len(train)))))
        held = set(order[:count].tolist())
        validation = [p for i, p in enumerate(train) if i in held]
        train = [p for i, p in enumerate(train) if i not in held]
    else:
        validation = []
    return FileScan(train=train, validation=validation[: settings.validation_images], skipped=skipped)


# --------------------------------------------------------------------------- samples
class ImageFolderDataset(Dataset):
    """Crops of image files with generated masks.

    Indexing takes ``(index, epoch)``; the sample's random crop (side uniform in
    ``crop_scale`` of the shorter side), flip and mask come from a generator
    seeded by ``(seed, epoch, index)``. With ``train=False`` the crop is the
    centred largest square and the mask is fixed per index (validation).
    Returns ``(image (C, S, S), mask (1, S, S), bad_files)``.
    """

    def __init__(self, files: Sequence[Path], settings: TrainSettings, train: bool = True) -> None:
        self.files = list(files)
        self.settings = settings
        self.train = train

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key):
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        s = self.settings
        rng = np.random.default_rng([s.seed, VALIDATION_EPOCH if not self.train else epoch, index])
        bad: list[str] = []
        image = None
        for attempt in range(len(self.files)):
            path = self.files[(index + attempt) % len(self.files)]
            try:
                image = read_unit_image(path, s.channels)
                if min(image.shape[:2]) < 1:
                    raise ValueError("empty image")
                break
            except Exception as error:  # a broken file never stops a run
                bad.append(f"{path}: {type(error).__name__}: {error}")
        if image is None:
            raise RuntimeError("no training image could be decoded: " + "; ".join(bad[:3]))
        crop = self._crop(image, rng)
        mask = make_mask(s.mask, (s.image_size, s.image_size), rng, s.mask_preset, **s.mask_params)
        if self.train:  # drawn after crop and mask, so runs without augmentation keep their samples
            crop = augment(crop, rng, s.rotate, s.colour_jitter)
        image_t = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))
        mask_t = torch.from_numpy(mask.astype(np.float32))[None]
        return image_t, mask_t, bad

    def _crop(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = self.settings
        height, width = image.shape[:2]
        short = min(height, width)
        if self.train:
            low, high = s.crop_scale
            side = max(1, int(round(short * rng.uniform(low, high))))
            top = int(rng.integers(0, height - side + 1))
            left = int(rng.integers(0, width - side + 1))
            flip = bool(s.flip and rng.random() < 0.5)
        else:
            side = short
            top, left, flip = (height - side) // 2, (width - side) // 2, False
        crop = image[top : top + side, left : left + side]
        if side != s.image_size:
            interpolation = cv2.INTER_AREA if side > s.image_size else cv2.INTER_LINEAR
            crop = cv2.resize(crop, (s.image_size, s.image_size), interpolation=interpolation)
            crop = crop.reshape(s.image_size, s.image_size, image.shape[2])
        if flip:
            crop = crop[:, ::-1]
        return np.clip(crop, 0.0, 1.0).astype(np.float32, copy=False)


def augment(crop: np.ndarray, rng: np.random.Generator, rotate: bool, colour_jitter: float) -> np.ndarray:
    """Random 90-degree rotation and colour jitter of a float32 (S, S, C) crop in [0, 1].

    ``colour_jitter`` = j: RGB channels permuted, then each channel scaled by a
    gain uniform in [1 - j, 1 + j] and shifted by one offset uniform in
    [-j/4, j/4], clipped to [0, 1]. Returns a float32 (S, S, C) array (the
    input itself when both are off; it is never modified); the mask is not
    rotated, since box and stroke masks are drawn isotropically.
    """
    if rotate:
        crop = np.rot90(crop, int(rng.integers(0, 4)), axes=(0, 1))
    if colour_jitter > 0:
        channels = crop.shape[2]
        if channels == 3:
            crop = crop[:, :, rng.permutation(3)]
        gains = rng.uniform(1.0 - colour_jitter, 1.0 + colour_jitter, size=channels).astype(np.float32)
        offset = np.float32(rng.uniform(-colour_jitter / 4, colour_jitter / 4))
        crop = np.clip(crop * gains + offset, 0.0, 1.0)
    return np.ascontiguousarray(crop, dtype=np.float32)


def dataset_mean(dataset: ImageFolderDataset, count: int = 64) -> np.ndarray:
    """Per-channel mean (C,) of up to ``count`` training crops (deterministic for the seed)."""
    total = None
    n = min(count, len(dataset))
    for index in range(n):
        image, _mask, _bad = dataset[(index, 0)]
        value = image.double().mean(dim=(1, 2))
        total = value if total is None else total + value
    return (total / max(n, 1)).float().numpy()


# --------------------------------------------------------------------------- the source
class ImageFolders:
    """The :class:`~inpaint_models.training.sources.DataSource` of the image files under ``[train] data``.

    Validation images come from ``[train] validation`` or are held out of the
    training files (``validation_split``); previews show validation images
    first, topped up with (centre-cropped) training images. A task reading
    neighbouring planes (``context_planes`` > 0) gets single planes: 2D images
    have none around them.
    """

    def training_sets(self, settings: TrainSettings, context_planes: int = 0) -> TrainingSets:
        """The sets of a run on the image files (see :meth:`DataSource.training_sets
        <inpaint_models.training.sources.DataSource.training_sets>`).

        Raises:
            ConfigError: no usable training image in the folders.
        """
        s = settings
        scan = scan_files(s)
        if not scan.train:
            detail = f" ({len(scan.skipped)} file(s) skipped as unreadable or too small)" if scan.skipped else ""
            raise ConfigError(
                f"[train] data: no usable training image found in {', '.join(map(str, s.data))}{detail}"
            )
        train = ImageFolderDataset(scan.train, s, train=True)
        validation = ImageFolderDataset(scan.validation, s, train=False)
        preview = ImageFolderDataset((scan.validation + scan.train)[: s.preview_images], s, train=False)

        def statistics() -> dict[str, Any]:
            return {"mean": dataset_mean(train), "files": len(scan.train)}

        summary = (f"{len(scan.train)} training and {len(scan.validation)} validation images "
                   f"({len(scan.skipped)} skipped)")
        record = {"train_images": len(scan.train), "validation_images": len(scan.validation),
                  "skipped": len(scan.skipped), "skipped_files": dict(list(scan.skipped.items())[:50])}
        return TrainingSets(train, validation, preview, statistics, summary, record, dict(scan.skipped))

"""Which file is an image's mask: one naming rule for every command and every way of giving masks.

The mask of ``photos/cat.jpg`` is a file named ``cat``, ``cat_mask`` or
``cat.mask`` (any image suffix) in the mask folder; beside the image (in the
image's own folder) only ``cat_mask`` and ``cat.mask`` count, since ``cat`` is
the image itself. The same rule pairs a single image, a folder of images with a
mask folder, and a folder of images whose masks sit beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from inpaint_models.io.imageio import IMAGE_SUFFIXES, list_images

#: what a mask file's stem ends with when it sits beside its image
MASK_ENDINGS = ("_mask", ".mask")


def mask_stems(stem: str, beside: bool = False) -> tuple[str, ...]:
    """The file stems a mask of an image named ``stem`` may have, in order of preference.

    ``beside``: the mask sits in the image's own folder (the bare ``stem`` is then the image).
    """
    named = tuple(f"{stem}{ending}" for ending in MASK_ENDINGS)
    return named if beside else (stem, *named)


def looks_like_mask(stem: str) -> bool:
    """Whether a file stem names a mask by the rule (``cat_mask``, ``cat.mask``)."""
    return stem.endswith(MASK_ENDINGS)


def expected_names(stem: str, beside: bool = False) -> str:
    """The accepted mask names of ``stem`` for a message: ``cat.png, cat_mask.png or cat.mask.png``."""
    names = [f"{name}.png" for name in mask_stems(stem, beside)]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def find_mask(image: Path, folder: Optional[Path] = None) -> Optional[Path]:
    """The mask file of ``image`` in ``folder`` (default: beside the image), or None.

    Any image suffix; never the image itself.
    """
    folder = image.parent if folder is None else folder
    beside = folder.resolve() == image.parent.resolve()
    for name in mask_stems(image.stem, beside):
        for suffix in IMAGE_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file() and path.resolve() != image.resolve():
                return path
    return None


def pair_folder(image_dir: Path, mask_path: Path) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """Pair each image of ``image_dir`` with its mask, by file stem.

    Args:
        image_dir: folder of images; a file named as another image's mask
            (``cat_mask.png`` beside ``cat.png``) is that image's mask, never an image to fill.
        mask_path: one mask file for every image, or a folder of masks named by
            the rule (the image folder itself included: its ``_mask`` / ``.mask``
            files are then masks, not images to fill).

    Returns:
        (image, mask) pairs, the images that have no mask, and the masks that
        match no image; all sorted.

    Raises:
        FileNotFoundError: ``mask_path`` is neither a file nor a folder.
    """
    images = list_images(image_dir)
    beside_masks = {name for image in images for name in mask_stems(image.stem, beside=True)}
    images = [image for image in images if image.stem not in beside_masks]  # another image's mask: not filled
    if mask_path.is_file():
        return [(image, mask_path) for image in images if image.resolve() != mask_path.resolve()], [], []
    if not mask_path.is_dir():
        raise FileNotFoundError(f"mask file or folder not found: {mask_path}")
    masks = list_images(mask_path)
    beside = mask_path.resolve() == image_dir.resolve()
    if beside:  # an image is not its own mask; other files named like masks are masks without an image
        masks = [mask for mask in masks if mask.stem in beside_masks or looks_like_mask(mask.stem)]
        images = [image for image in images if image not in masks]
    by_stem: dict[str, Path] = {}
    for mask in masks:
        by_stem.setdefault(mask.stem, mask)
    pairs, missing, used = [], [], set()
    for image in images:
        match = next((by_stem[name] for name in mask_stems(image.stem, beside) if name in by_stem), None)
        if match is None:
            missing.append(image)
        else:
            pairs.append((image, match))
            used.add(match)
    unmatched = [mask for mask in masks if mask not in used]
    return pairs, missing, unmatched

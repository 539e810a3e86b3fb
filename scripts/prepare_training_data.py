"""Build the training and held-out image sets of the default weights (issue 7).

Sources (nothing else, see docs/data.md for the licences):

* scikit-image's *bundled* photographs (no download): astronaut, coffee,
  chelsea, rocket, motorcycle (left image of ``stereo_motorcycle``), retina,
  hubble_deep_field, immunohistochemistry;
* the photographs of Debian's ``plasma-workspace-wallpapers`` (the abstract /
  rendered wallpapers of the package are not used);
* the photographs of Debian's ``opencv-doc`` (``examples/data``; calibration
  boards, text, logos, synthetic shapes, renders and paintings are not used,
  and of a stereo / sequence pair only one image).

Other wallpaper packages are deliberately never used: they are kept for
independent evaluation.

The splits are by *source photograph*: about 15 % of the photographs (chosen
with the seed, at least one per package) go to ``data/heldout/`` (the results
tables), one more photograph per package goes to ``data/validation/`` (the
trainer's choice of the best checkpoint), and none of their pixels reach
``data/train/``. Output::

    data/train/64/<source>_<n>.png      random crops resized to 64 px   (64 px models)
    data/train/256/<source>_<n>.png     random crops resized to 256 px  (256 px models)
    data/validation/64/<source>_<n>.png   crops of the validation photographs, 64 px
    data/validation/256/<source>_<n>.png  crops of the validation photographs, 256 px
    data/heldout/<source>_<n>.png       256 px crops of the held-out photographs (evaluation)
    data/manifest.json                  every source: file, package, version, licence, split

Crops are squares whose side is drawn log-uniformly between the target size
and the photograph's shorter side (capped, see ``MAX_SIDE``), resized with area
averaging: several scales of every photograph. Everything is seeded.

Usage::

    python scripts/prepare_training_data.py            # installs the two packages if missing (root)
    python scripts/prepare_training_data.py --out data --seed 0 --crops64 200 --crops256 48
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

#: scikit-image functions whose images ship inside the wheel (skimage/data/*), with licence notes
SKIMAGE_PHOTOS = {
    "astronaut": ("astronaut.png", "public domain (NASA, Great Images database)"),
    "coffee": ("coffee.png", "CC0 (photographer Rachel Michetti)"),
    "chelsea": ("chelsea.png", "CC0 (photographer Stefan van der Walt)"),
    "rocket": ("rocket.jpg", "public domain (SpaceX photos)"),
    "motorcycle": ("motorcycle_left.png", "Middlebury 2014 stereo benchmark (Scharstein et al.), free for research"),
    "retina": ("retina.jpg", "CC0 1.0 (Mikael Haggstrom, Wikimedia Commons)"),
    "hubble_deep_field": ("hubble_deep_field.jpg", "public domain (NASA / HubbleSite)"),
    "immunohistochemistry": ("ihc.png", "no known copyright restrictions (CMMI)"),
}

#: photographs among the plasma-workspace-wallpapers (the others are renders / vector art)
PLASMA_PHOTOS = (
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
    "Grey", "Kite", "OneStandsOut", "Path", "summer_1am",
)

#: photographs among opencv-doc's examples/data (one image of each stereo / sequence pair)
OPENCV_PHOTOS = (
    "aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "box_in_scene.png",
    "building.jpg", "butterfly.jpg", "chicky_512.png", "fruits.jpg", "graf1.png", "home.jpg",
    "leuvenA.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg",
    "stuff.jpg",
)

PLASMA_ROOT = Path("/usr/share/wallpapers")
OPENCV_ROOT = Path("/usr/share/doc/opencv-doc/examples/data")
MAX_SIDE = {64: 512, 256: 1024}  # largest crop side per target size (more context would only blur)
HELDOUT_FRACTION = 0.15
VALIDATION_PER_PACKAGE = 1


def package_version(package: str) -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def ensure_packages() -> None:
    """apt-get install the two Debian packages when their folders are missing."""
    missing = [pkg for pkg, root in (("plasma-workspace-wallpapers", PLASMA_ROOT), ("opencv-doc", OPENCV_ROOT))
               if not root.is_dir()]
    if not missing:
        return
    print(f"installing {', '.join(missing)} with apt-get", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", *missing], check=True)


def installed_files(package: str) -> list[Path]:
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True).stdout
    return [Path(line) for line in out.splitlines() if line.strip()]


def plasma_sources() -> list[dict]:
    files = installed_files("plasma-workspace-wallpapers")
    version = package_version("plasma-workspace-wallpapers")
    sources = []
    for name in PLASMA_PHOTOS:
        # the largest landscape rendition of the wallpaper (contents/images/WxH.ext)
        candidates = [f for f in files if f.parent == PLASMA_ROOT / name / "contents" / "images"
                      and f.suffix.lower() in (".jpg", ".jpeg", ".png")]
        if not candidates:
            raise SystemExit(f"plasma-workspace-wallpapers: no image of {name} installed")

        def area(path: Path) -> int:
            w, _, h = path.stem.partition("x")
            return int(w) * int(h) if w.isdigit() and h.isdigit() and int(w) >= int(h) else 0

        best = max(candidates, key=area)
        licence, authors = "LGPL-3.0 (metadata.json)", []
        meta = PLASMA_ROOT / name / "metadata.json"
        if meta.is_file():
            plugin = json.loads(meta.read_text(encoding="utf-8")).get("KPlugin", {})
            licence = f"{plugin.get('License', 'unknown')} (metadata.json); package copyright: GPL-2+"
            authors = [a.get("Name", "") for a in plugin.get("Authors", [])]
        sources.append({"name": f"plasma-{name}", "file": str(best), "package": "plasma-workspace-wallpapers",
                        "version": version, "licence": licence, "authors": authors})
    return sources


def opencv_sources() -> list[dict]:
    files = {f.name: f for f in installed_files("opencv-doc") if f.parent == OPENCV_ROOT}
    version = package_version("opencv-doc")
    sources = []
    for name in OPENCV_PHOTOS:
        if name not in files:
            raise SystemExit(f"opencv-doc: {name} is not installed under {OPENCV_ROOT}")
        sources.append({"name": f"opencv-{Path(name).stem}", "file": str(files[name]), "package": "opencv-doc",
                        "version": version,
                        "licence": "Apache-2.0 AND BSD-3-Clause (OpenCV sample data, debian/copyright 'Files: *')",
                        "authors": []})
    return sources


def skimage_sources() -> list[dict]:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    sources = []
    for name, (filename, licence) in SKIMAGE_PHOTOS.items():
        path = folder / filename
        if not path.is_file():  # bundled in every scikit-image wheel; never fetched with pooch here
            raise SystemExit(f"scikit-image {skimage.__version__}: {filename} is not bundled in {folder}")
        sources.append({"name": f"skimage-{name}", "file": str(path), "package": "scikit-image",
                        "version": skimage.__version__, "licence": licence, "authors": []})
    return sources


def read_rgb(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)  # BGR uint8, alpha dropped, grey repeated
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return image


def random_crops(image: np.ndarray, size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` square crops, side log-uniform in [size, min(short side, MAX_SIDE)], resized to ``size``."""
    height, width = image.shape[:2]
    short = min(height, width)
    if short < size:  # upscale small photographs so that a crop fits
        scale = size / short
        image = cv2.resize(image, (max(size, round(width * scale)), max(size, round(height * scale))),
                           interpolation=cv2.INTER_CUBIC)
        height, width = image.shape[:2]
        short = min(height, width)
    high = min(short, MAX_SIDE.get(size, 4 * size))
    crops = []
    for _ in range(count):
        side = int(round(np.exp(rng.uniform(np.log(size), np.log(max(high, size) + 1e-6)))))
        side = min(max(side, size), short)
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        crop = image[top: top + side, left: left + side]
        if side != size:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        crops.append(crop)
    return crops


def pick_per_package(sources: list[dict], rng: np.random.Generator, count, exclude: set[str] = frozenset()) -> set[str]:
    """``count(n)`` names drawn from each package's ``n`` photographs that are not in ``exclude``."""
    chosen = set()
    for package in sorted({s["package"] for s in sources}):
        names = sorted(s["name"] for s in sources if s["package"] == package and s["name"] not in exclude)
        size = count(len(names))
        if size:
            chosen.update(rng.choice(names, size=size, replace=False).tolist())
    return chosen


def split_sources(sources: list[dict], seed: int) -> set[str]:
    """Names of the held-out sources: ~15 % of each package's photographs (at least one each)."""
    return pick_per_package(sources, np.random.default_rng([seed, 15]),
                            lambda n: max(1, int(round(HELDOUT_FRACTION * n))))


def split_validation(sources: list[dict], held: set[str], seed: int) -> set[str]:
    """Names of the validation sources: ``VALIDATION_PER_PACKAGE`` training photographs of each package."""
    return pick_per_package(sources, np.random.default_rng([seed, 16]),
                            lambda n: VALIDATION_PER_PACKAGE if n > VALIDATION_PER_PACKAGE else 0, exclude=held)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data"), help="output folder (default: data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crops64", type=int, default=200, help="64 px crops per training photograph")
    parser.add_argument("--crops256", type=int, default=48, help="256 px crops per training photograph")
    parser.add_argument("--heldout-crops", type=int, default=6, help="256 px crops per held-out photograph")
    parser.add_argument("--validation-crops", type=int, default=8,
                        help="crops of each size per validation photograph")
    parser.add_argument("--no-install", action="store_true", help="do not run apt-get for missing packages")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    args = parser.parse_args(argv)

    if not args.no_install:
        ensure_packages()
    sources = skimage_sources() + plasma_sources() + opencv_sources()
    held = split_sources(sources, args.seed)
    validation = split_validation(sources, held, args.seed)

    out = args.out
    for sub in ("train", "validation", "heldout"):
        if (out / sub).exists():
            if not args.force:
                raise SystemExit(f"{out / sub} exists; pass --force to rebuild it")
            shutil.rmtree(out / sub)
    counts = {"train/64": 0, "train/256": 0, "validation/64": 0, "validation/256": 0, "heldout": 0}
    for index, source in enumerate(sources):
        image = read_rgb(source["file"])
        rng = np.random.default_rng([args.seed, index])
        source["shape"] = list(image.shape)
        source["split"] = ("heldout" if source["name"] in held
                           else "validation" if source["name"] in validation else "train")
        if source["split"] == "heldout":
            targets = [("heldout", 256, args.heldout_crops)]
        elif source["split"] == "validation":
            targets = [("validation/64", 64, args.validation_crops), ("validation/256", 256, args.validation_crops)]
        else:
            targets = [("train/64", 64, args.crops64), ("train/256", 256, args.crops256)]
        for folder, size, count in targets:
            (out / folder).mkdir(parents=True, exist_ok=True)
            for n, crop in enumerate(random_crops(image, size, count, rng)):
                cv2.imwrite(str(out / folder / f"{source['name']}_{n:03d}.png"), crop)
            counts[folder] += count
        print(f"{source['split']:8s} {source['name']}", file=sys.stderr)
    manifest = {
        "seed": args.seed,
        "heldout_fraction": HELDOUT_FRACTION,
        "counts": counts,
        "sources": sources,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

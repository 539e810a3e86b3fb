"""Draw the layers of the code, read from its imports: docs/images/architecture-layers.png.

Every module of ``src/inpaint_models`` and ``src/napari_inpaint`` is put in its
layer by the rule of ``tests/test_layering.py`` (the one owner of that rule),
and every import of the project's own modules, function-local ones included,
is counted between layers. Each layer is a band, bottom (contract) to top
(clients), with its modules (a model's folder is one box); the right column
says which layers it imports and how many module-to-module imports go there.
An import that goes up a layer (or from a client past the front) is drawn in red.

Pillow only (it comes with napari): no plotting library needed.

Usage::

    python scripts/make_architecture.py                # writes docs/images/architecture-layers.png
    python scripts/make_architecture.py -o other.png
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_layering import CLIENT_REACH, FRONT_MODULES, LAYERS, all_modules, import_graph, layer_of  # noqa: E402

OUTPUT = ROOT / "docs" / "images" / "architecture-layers.png"
SRC_MODELS = ROOT / "src" / "inpaint_models" / "models"

#: what each layer is for, under its name
ROLES = {
    "clients": "the inpaint command, the napari\nwidgets: the front, the contract\nand files only",
    "front": "fill, fit, train, evaluate,\nestimate, models, samples",
    "pipeline": "one fill: layout and values, plan,\ncrops, lazy (dask / zarr) fills,\nestimate",
    "models": "one folder per model: plugin.py,\nnetwork, task, configs/, weights/",
    "training": "the shared trainer,\nits data sources and tasks",
    "io": "image, mask, zarr and checkpoint\nfiles; example configs",
    "contract": "hookspecs, datatypes, options,\nvalues, errors, registry",
}
COLOURS = {
    "clients": "#f4d6e4", "front": "#fbe3c4", "pipeline": "#fff2b3", "models": "#d9efc9",
    "training": "#cde6f5", "io": "#dcd6f2", "contract": "#e6e6e6",
}
SCALE = 2  # pixels per layout unit: drawn at twice the size for sharp text
MARGIN, LABEL_WIDTH, BOXES_WIDTH, USES_WIDTH = 16, 250, 1120, 210
BOX_HEIGHT, BOX_GAP, ROW_GAP, BAND_GAP = 26, 8, 8, 10


def font(size: int, bold: bool = False, mono: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu when installed, else Pillow's own font, at ``size`` layout units."""
    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(name, size * SCALE)
    except OSError:
        return ImageFont.load_default(size=size * SCALE)


BOX_FONT, TEXT_FONT, NAME_FONT, TITLE_FONT = font(13, mono=True), font(12), font(17, bold=True), font(17, bold=True)
GROUP_FONT = font(12, bold=True)
GROUP_WIDTH = 150  # room for a group's name in front of its rows


def box_label(module: str) -> tuple[str, str]:
    """(group, box) a module is drawn in: a model's folder, or the module's name inside its package.

    The group is the package whose modules share a row (with its name in front of the row) in the
    clients' band; empty elsewhere.
    """
    parts = module.split(".")
    if parts[0] == "napari_inpaint":
        return "napari_inpaint", ".".join(parts[1:]) or "__init__"
    if len(parts) == 1:
        return "", module
    if parts[1] == "cli":
        return "inpaint_models.cli", ".".join(parts[2:]) or "__init__"
    if parts[1] == "models" and len(parts) >= 3 and (SRC_MODELS / parts[2]).is_dir():
        return "", f"{parts[2]}/"
    if parts[1] in FRONT_MODULES:
        return "", parts[1]
    return "", ".".join(parts[2:]) or "__init__"


def text_width(text: str, face: ImageFont.FreeTypeFont) -> float:
    """Width of ``text`` in layout units."""
    return face.getlength(text) / SCALE


def box_width(label: str) -> float:
    return text_width(label, BOX_FONT) + 16


@dataclass
class Band:
    """One layer: its module boxes ((group, label) -> lines of code), wrapped into rows."""

    layer: str
    boxes: dict[tuple[str, str], int]
    rows: list[tuple[str, list[str]]]  # (group shown in front of the row, or "") and its boxes
    uses: Counter

    @property
    def height(self) -> float:
        return max(len(self.rows) * (BOX_HEIGHT + ROW_GAP) + 22, 26 + 18 * (1 + ROLES[self.layer].count("\n")) + 30,
                   40 + 18 * len(self.uses))


def wrap(boxes: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """The boxes in rows no wider than the modules' column, each group starting a row behind its name."""
    rows: list[tuple[str, list[str]]] = []
    used = BOXES_WIDTH
    group = None
    for box_group, label in boxes:
        width = box_width(label)
        if box_group != group or used + width > BOXES_WIDTH:
            header = box_group if box_group != group else ""
            rows.append((header, []))
            used = GROUP_WIDTH if box_group else 0.0
            group = box_group
        rows[-1][1].append(label)
        used += width + BOX_GAP
    return rows


def layer_edges() -> tuple[dict[str, Counter], list[str]]:
    """Module-to-module imports counted per (importing layer -> imported layer); the wrong ones listed."""
    counts: dict[str, Counter] = {layer: Counter() for layer in LAYERS}
    wrong = []
    for name, targets in sorted(import_graph().items()):
        own = layer_of(name)
        for target in sorted(targets):
            theirs = layer_of(target)
            if theirs == own:
                continue
            counts[own][theirs] += 1
            if not allowed(own, theirs):
                wrong.append(f"{name} -> {target}")
    return counts, wrong


def allowed(own: str, theirs: str) -> bool:
    """The rule of tests/test_layering.py: downward only; the clients reach the front, contract and io."""
    return theirs in CLIENT_REACH if own == "clients" else LAYERS.index(theirs) <= LAYERS.index(own)


def bands() -> tuple[list[Band], list[str]]:
    """The layers, top (clients) first, with their boxes sorted and wrapped, and the wrong imports."""
    modules = all_modules()
    sizes: dict[str, Counter] = {layer: Counter() for layer in LAYERS}
    for name, path in modules.items():
        with path.open(encoding="utf-8") as file:
            sizes[layer_of(name)][box_label(name)] += sum(1 for _ in file)
    counts, wrong = layer_edges()
    result = []
    for layer in reversed(LAYERS):
        boxes = sorted(sizes[layer], key=lambda box: (box[0], box[1].endswith("/"), box[1]))
        result.append(Band(layer, dict(sizes[layer]), wrap(boxes), counts[layer]))
    return result, wrong


class Canvas:
    """A Pillow drawing in layout units (y down)."""

    def __init__(self, width: float, height: float) -> None:
        self.image = Image.new("RGB", (int(width * SCALE), int(height * SCALE)), "white")
        self.draw = ImageDraw.Draw(self.image)

    def box(self, x: float, y: float, width: float, height: float, fill: str, outline: str, radius: float) -> None:
        self.draw.rounded_rectangle([x * SCALE, y * SCALE, (x + width) * SCALE, (y + height) * SCALE],
                                    radius=radius * SCALE, fill=fill, outline=outline, width=SCALE)

    def text(self, x: float, y: float, text: str, face: ImageFont.FreeTypeFont, fill: str = "#222222",
             anchor: str = "la") -> None:
        self.draw.multiline_text((x * SCALE, y * SCALE), text, font=face, fill=fill, anchor=anchor,
                                 spacing=4 * SCALE)


def draw_band(canvas: Canvas, band: Band, top: float) -> None:
    """One layer: its name, role and size; its modules; the layers it imports."""
    x = MARGIN
    canvas.box(x, top, LABEL_WIDTH + BOXES_WIDTH + USES_WIDTH, band.height, COLOURS[band.layer], "#8a8a8a", 8)
    lines = sum(band.boxes.values())
    canvas.text(x + 12, top + 8, band.layer, NAME_FONT)
    canvas.text(x + 12 + text_width(band.layer, NAME_FONT) + 10, top + 13, f"{lines:,} lines", TEXT_FONT, "#555555")
    canvas.text(x + 12, top + 36, ROLES[band.layer], TEXT_FONT, "#333333")
    for row_index, (header, row) in enumerate(band.rows):
        y = top + 11 + row_index * (BOX_HEIGHT + ROW_GAP)
        bx = x + LABEL_WIDTH
        if header:
            canvas.text(bx, y + BOX_HEIGHT / 2, header, GROUP_FONT, anchor="lm")
        if header or any(group for group, _ in band.boxes):
            bx += GROUP_WIDTH
        for label in row:
            width = box_width(label)
            canvas.box(bx, y, width, BOX_HEIGHT, "white", "#7a7a7a", 5)
            canvas.text(bx + width / 2, y + BOX_HEIGHT / 2, label, BOX_FONT, anchor="mm")
            bx += width + BOX_GAP
    ux = x + LABEL_WIDTH + BOXES_WIDTH + 12
    if not band.uses:
        canvas.text(ux, top + 12, "imports no other layer", TEXT_FONT, "#555555")
        return
    canvas.text(ux, top + 12, "imports (module imports)", TEXT_FONT, "#555555")
    for index, name in enumerate(layer for layer in reversed(LAYERS) if layer in band.uses):
        ok = allowed(band.layer, name)
        canvas.text(ux + 8, top + 32 + 18 * index, f"\u2193 {name} ({band.uses[name]})",
                    TEXT_FONT if ok else font(12, bold=True), "#222222" if ok else "#c00000")


def draw(output: Path) -> None:
    """Draw every band top to bottom, title and any wrong import, and save ``output``."""
    layers, wrong = bands()
    title_height, footer = 44, 30 if wrong else 10
    height = title_height + sum(b.height for b in layers) + BAND_GAP * (len(layers) - 1) + footer + MARGIN
    canvas = Canvas(2 * MARGIN + LABEL_WIDTH + BOXES_WIDTH + USES_WIDTH, height)
    canvas.text(MARGIN, 14, f"Layers of inpaint_models and napari_inpaint, read from the imports: "
                f"{len(all_modules())} modules; each layer imports only the layers below it", TITLE_FONT)
    top = title_height
    for band in layers:
        draw_band(canvas, band, top)
        top += band.height + BAND_GAP
    if wrong:
        canvas.text(MARGIN, top + 4, "imports that go up: " + ", ".join(wrong[:4]) + (" ..." if len(wrong) > 4
                    else ""), TEXT_FONT, "#c00000")
    output.parent.mkdir(parents=True, exist_ok=True)
    canvas.image.quantize(colors=96).save(output, optimize=True)  # few colours: a small file, text stays sharp
    print(f"{output}: {len(layers)} layers, {len(wrong)} imports that go up")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help=f"PNG to write (default {OUTPUT})")
    draw(parser.parse_args(argv).output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The run's metrics log (JSONL or CSV) and the optional TensorBoard log.

Every record has ``kind`` (``train``, ``validation``, ``data``, ``event``),
``step`` and ``time`` (seconds since the epoch); train records add the losses,
``lr``, ``images_per_second``; validation records add the metrics of
:func:`inpaint_models.training.metrics.compute_metrics`. On resume the log is cut back
to the resumed step, so a killed run's extra lines are not repeated.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Mapping

from inpaint_models.io.atomic import atomic_write_text

logger = logging.getLogger("inpaint_models.training")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Append-only metrics log of a run (JSONL or CSV); a no-op when ``enabled`` is False."""

    def __init__(self, path: Path, log_format: str = "jsonl", enabled: bool = True) -> None:
        self.path = path
        self.format = log_format
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """Drop records after ``step`` (a resumed run repeats them)."""
        if not self.enabled or not self.path.is_file():
            return
        text = self.path.read_text(encoding="utf-8")
        if self.format == "jsonl":
            kept = []
            for line in text.splitlines():
                try:
                    if int(json.loads(line).get("step", 0)) <= step:
                        kept.append(line)
                except (ValueError, AttributeError):
                    continue  # a line cut short by a kill
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        else:
            rows = list(csv.DictReader(io.StringIO(text)))
            kept_rows = [row for row in rows if row.get("step", "").isdigit() and int(row["step"]) <= step]
            buffer = io.StringIO()
            if rows:
                writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()))
                writer.writeheader()
                writer.writerows(kept_rows)
            atomic_write_text(self.path, buffer.getvalue())

    def write(self, kind: str, step: int, values: Mapping[str, Any]) -> None:
        """Append one record."""
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, "time": round(time.time(), 3)}
        record.update({k: _clean(v) for k, v in values.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl":
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, default=str) + "\n")
            return
        # CSV: long format (one metric per row) so records of different kinds share one header
        new = not self.path.is_file() or self.path.stat().st_size == 0
        with open(self.path, "a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["kind", "step", "time", "name", "value"])
            for name, value in record.items():
                if name not in ("kind", "step", "time"):
                    writer.writerow([kind, step, record["time"], name, value])


class TensorBoardLog:
    """Scalars and preview images to TensorBoard, when the package is installed and enabled."""

    def __init__(self, directory: Path, enabled: bool) -> None:
        self.writer = None
        if not enabled:
            return
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(directory))
        except Exception as error:  # a broken optional install must not stop training
            logger.warning("TensorBoard log disabled: %s", error)

    @property
    def active(self) -> bool:
        return self.writer is not None

    def scalars(self, prefix: str, step: int, values: Mapping[str, float]) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def image(self, tag: str, step: int, rgb: Any) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, rgb, step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

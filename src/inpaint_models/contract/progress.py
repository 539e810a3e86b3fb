"""One fraction done and one line of text from the progress events of a fill or an evaluation.

A fill reports two levels of events (:class:`~inpaint_models.contract.datatypes.ProgressEvent`):
*outer* ones count the work the pipeline splits up (``"scan"`` per mask chunk,
``"fill"`` per hole region, ``"evaluate"`` per image and model; step ``k`` says
``k`` are done, step 0 announces the total), and *inner* ones count what a model
does inside one of them (``"sample"`` per network call of a diffusion fill,
``"solve"`` per thousand voxels of a large biharmonic fill). Every front end
shows the same thing: how much of the whole job is done, so a bar ends at 100 %
of what it counts and its remaining time is re-estimated from the real steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from inpaint_models.contract.datatypes import ProgressEvent

#: the outer phases and the word for one of their items
OUTER_UNITS = {"scan": "mask chunk", "fill": "region", "evaluate": "fill"}


@dataclass
class WorkDone:
    """Folds progress events into the fraction of the job done (0 to 1) and a line saying where it is.

    Feed every event to :meth:`update`; read :attr:`fraction` and :attr:`text`.
    The fraction never goes back within a phase; a new outer phase (a lazy
    fill's scan, then its fill) starts again from 0.
    """

    phase: Optional[str] = None
    done: int = 0
    total: int = 0
    inner_step: int = 0
    inner_total: int = 0
    inner_message: str = ""
    best: float = 0.0

    def update(self, event: ProgressEvent) -> None:
        """Take one event (any phase); events of unknown phases count as inner steps."""
        if event.phase in OUTER_UNITS:
            if event.phase != self.phase:
                self.phase, self.best = event.phase, 0.0
            self.done, self.total = max(0, event.step), max(0, event.total)
            self.inner_step = self.inner_total = 0
            self.inner_message = ""
        else:
            self.inner_step, self.inner_total = max(0, event.step), max(0, event.total)
            self.inner_message = event.message or f"{event.step} of {event.total}"
        self.best = max(self.best, self._fraction())

    def _fraction(self) -> float:
        inner = min(self.inner_step / self.inner_total, 1.0) if self.inner_total else 0.0
        if not self.total:  # no outer total yet: one piece of work
            return inner
        return min((min(self.done, self.total) + (inner if self.done < self.total else 0.0)) / self.total, 1.0)

    @property
    def fraction(self) -> float:
        """The share of the job done, 0 to 1, never lower than an earlier value in the same phase."""
        return self.best

    @property
    def finished(self) -> bool:
        """Whether every item of the current outer phase is done (or the single inner job is)."""
        return self.fraction >= 1.0

    @property
    def text(self) -> str:
        """Where the job is, e.g. ``"region 2 of 3, 12 of 25 steps"``; "" before the first event."""
        parts = []
        if self.total > 1:
            current = min(self.done + 1, self.total)  # the one being worked on (the last, once all are done)
            parts.append(f"{OUTER_UNITS.get(self.phase or '', 'item')} {current} of {self.total}")
        if self.inner_total and self.inner_message:
            parts.append(self.inner_message)
        return ", ".join(parts)

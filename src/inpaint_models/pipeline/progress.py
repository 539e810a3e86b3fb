"""Progress and cancellation of a fill, a fit or a training run: the one cancel check and the reporter built on it."""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from inpaint_models.contract.datatypes import ProgressEvent, Reporter
from inpaint_models.contract.errors import Cancelled

#: a callable returning True to stop, or an object with ``is_set()`` (a ``threading.Event``)
CancelCheck = Union[Callable[[], bool], Any]


def cancel_requested(cancel: Optional[CancelCheck]) -> bool:
    """Whether ``cancel`` (None, a callable or a ``threading.Event``) asks to stop now."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def make_reporter(progress: Optional[Reporter], cancel: Optional[CancelCheck]) -> Reporter:
    """A reporter forwarding to ``progress`` that raises :class:`Cancelled` once ``cancel`` is set."""

    def report(event: ProgressEvent) -> None:
        if progress is not None:
            progress(event)
        if cancel_requested(cancel):
            raise Cancelled(f"{event.phase} cancelled at step {event.step} of {event.total}")

    return report

"""Progress of one chat turn: each stage reported as it starts and as it ends.

::

    stages = Stages(report, clock)               # report: Callable[[StageEvent], None] | None
    with stages.stage("context", "retrieve context") as detail:
        ...                                      # detail["operations"] = 12 goes out with the end
    stages.note("check", "check the model's answer", attempt=1, problems=3)

The pipeline and the copilot service call it; the chat API streams the events (SSE) and the page
shows them live. The stage times also go into the turn's ``timings``. A failing report callback
never fails the turn (it is logged).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

StageState = Literal["started", "done", "failed"]


@dataclass(frozen=True)
class StageEvent:
    """One stage starting, ending or failing.

    Attributes:
        stage: its name (``context``, ``model``, ``check``, ``repair``, ``credentials``, ``passes``,
            ``validate``, ``store``).
        state: ``started``, ``done`` or ``failed`` (the stage raised; the turn may still answer).
        label: what the stage does, for people ("retrieve context").
        ms: how long it took (on ``done`` and ``failed``).
        detail: figures of the stage (operations retrieved, attempt and problems, guardrails...).
    """

    stage: str
    state: StageState
    label: str
    ms: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as the chat stream sends it."""
        out: dict[str, Any] = {"stage": self.stage, "state": self.state, "label": self.label}
        if self.ms is not None:
            out["ms"] = self.ms
        if self.detail:
            out["detail"] = dict(self.detail)
        return out


ProgressCallback = Callable[[StageEvent], None]


class Stages:
    """Times the stages of one turn, reports them to ``report`` and keeps each one's milliseconds.

    Args:
        report: called with every :class:`StageEvent` (from whichever thread runs the turn);
            ``None``: nothing is reported, the times are still kept.
        clock: seconds, monotonic (the pipeline's clock, so tests can drive it).
    """

    def __init__(self, report: ProgressCallback | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.report = report
        self.clock = clock
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, label: str, **detail: Any) -> Iterator[dict[str, Any]]:
        """Report ``name`` started, run the block, report it done (or failed, re-raising) with its
        time. The yielded dict is the end event's ``detail``: the block fills it in."""
        self._send(StageEvent(name, "started", label, detail=dict(detail)))
        started = self.clock()
        end: dict[str, Any] = {}
        state: StageState = "failed"
        try:
            yield end
            state = "done"
        finally:
            ms = round((self.clock() - started) * 1000, 2)
            self.timings[f"{name}_ms"] = round(self.timings.get(f"{name}_ms", 0.0) + ms, 2)
            self._send(StageEvent(name, state, label, ms=ms, detail=end))

    def note(self, name: str, label: str, **detail: Any) -> None:
        """A stage with no duration of its own (one check of the model's answer): reported done."""
        self._send(StageEvent(name, "done", label, detail=detail))

    def _send(self, event: StageEvent) -> None:
        if self.report is None:
            return
        try:
            self.report(event)
        except Exception:  # a listener that went away must not cost the person their turn
            log.warning("copilot: a progress listener failed on %s %s", event.stage, event.state, exc_info=True)


__all__ = ["ProgressCallback", "StageEvent", "Stages"]

"""The copilot's readiness. Its first answer loads the embedding model, litellm and the planner's
data (tens of seconds on a busy machine); ``flowwright serve`` does that in a background thread
at start (``FLOWWRIGHT_COPILOT_WARM_UP``) and ``/health`` reports how far it got, so a client or
a load balancer can wait for ``copilot: ready`` instead of guessing a timeout."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

log = logging.getLogger(__name__)

State = Literal["cold", "warming", "ready", "failed"]


class CopilotReadiness:
    """``cold`` (loads on first use), ``warming``, ``ready``, or ``failed`` (the warm-up raised; the
    copilot still loads on first use and reports its own error there)."""

    def __init__(self) -> None:
        self.state: State = "cold"
        self.seconds: float | None = None  # how long the warm-up took

    def start(self, warm: Callable[[], None]) -> None:
        """Run ``warm`` in a daemon thread (shutdown never waits for it)."""
        self.state = "warming"
        threading.Thread(target=self._run, args=(warm,), name="copilot-warm-up", daemon=True).start()

    def _run(self, warm: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            warm()
        except Exception:  # a warm-up is an optimisation: the first chat does the same work and reports it
            log.warning("copilot warm-up failed; the copilot loads on first use instead", exc_info=True)
            self.state = "failed"
            return
        self.seconds = round(time.monotonic() - started, 2)
        self.state = "ready"
        log.info("copilot ready in %.1f s", self.seconds)


__all__ = ["CopilotReadiness"]

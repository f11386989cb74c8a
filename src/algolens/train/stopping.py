"""When training stops before its last step: a metrics condition, or a signal.

Ctrl-C (SIGINT) and SIGTERM (``timeout``, a scheduler) both ask the trainer to finish the
current step, save a checkpoint and stop. A second Ctrl-C stops at once, except while a
checkpoint is being written: that finishes first, so the run directory stays consistent.
"""

from __future__ import annotations

import operator
import signal
import sys
from collections.abc import Callable
from typing import Any

from algolens.config import parse_stop_when

_COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def stop_rule(text: str) -> Callable[[dict[str, Any]], bool] | None:
    """``"val_loss<1e-3"`` -> a test of a metrics row (False while the key is missing)."""
    if not text:
        return None
    key, op, value = parse_stop_when(text)
    compare = _COMPARE[op]
    return lambda row: key in row and bool(compare(row[key], value))


class StopSignals:
    """Turns SIGINT and SIGTERM into a request to save and stop after the current step."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.stop = False
        self.signum = 0  # the first signal received: the exit code is 128 + it
        self.saving = False
        self._pending = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if sys.platform == "win32":
            return self
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals stay as they were
                break
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop and signum == signal.SIGINT:  # a second Ctrl-C: stop now
            if self.saving:
                self._pending = True  # once the checkpoint is on disk
                return
            raise KeyboardInterrupt
        self.stop = True
        self.signum = self.signum or signum

    def saved(self) -> None:
        """Called when a checkpoint is complete: a Ctrl-C that arrived meanwhile acts now."""
        self.saving = False
        if self._pending:
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

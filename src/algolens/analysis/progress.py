"""One labelled progress bar over the stages of an analysis (tqdm, silent without ``progress``).

An analysis that runs for more than a few seconds walks through named stages; the bar's label
says which analysis runs and its postfix which stage::

    with Stages("LEGO analysis", 3, progress) as stages:
        acc = stages.run("accuracy by position", position_accuracies, model, task)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


class Stages:
    """A tqdm bar of ``total`` stages labelled ``desc``; disabled when ``progress`` is False."""

    def __init__(self, desc: str, total: int, progress: bool) -> None:
        self.bar = tqdm(total=total, desc=desc, unit="stage", disable=not progress, leave=False)

    def run(self, label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with ``label`` shown beside the bar, then one step on."""
        self.bar.set_postfix_str(label, refresh=True)
        try:
            return fn(*args, **kwargs)
        finally:
            self.bar.update()

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The CLI's Rich progress bar: the implementation of vostool.progress.Progress for the terminal."""

from __future__ import annotations

import time
from typing import Mapping, Optional

from vostool.cli.app import _stderr
from vostool.progress import NoProgress


class RichProgress(NoProgress):
    """A Rich bar on stderr with the rate in the loop's unit/s, the time left and, when the loop reports
    a loss, its moving average (0.9 old + 0.1 new)."""

    def __init__(self, unit: Optional[str] = None) -> None:
        self.unit = unit  # shown instead of the loop's own unit (None: the loop's)

    def start(self, total: Optional[int], description: str, unit: str = "frames", done: int = 0) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                  console=_stderr(), transient=False)
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, completed=done, info="")
        self._shown_unit = self.unit or unit
        self._t0, self._first, self._done, self._loss = time.perf_counter(), done, done, None

    def _refresh(self) -> None:
        rate = (self._done - self._first) / max(time.perf_counter() - self._t0, 1e-9)
        info = (f"loss {self._loss:.4f}  " if self._loss is not None else "") + f"{rate:.2f} {self._shown_unit}/s"
        self._progress.update(self._task, completed=self._done, info=info)

    def advance(self, n: int = 1) -> None:
        self._done += n
        self._refresh()

    def update(self, metrics: Mapping[str, float], done: Optional[int] = None) -> None:
        loss = metrics.get("loss")
        if loss is not None:
            self._loss = loss if self._loss is None else 0.9 * self._loss + 0.1 * loss
        if done is not None:
            self._done = done
        self._refresh()

    def message(self, text: str) -> None:
        self._progress.console.print(text, highlight=False)

    def stop(self) -> None:
        self._progress.stop()

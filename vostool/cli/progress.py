"""Rich progress bars: the CLI's implementations of vostool.progress's protocols."""

from __future__ import annotations

import time
from typing import Optional

from vostool.cli.app import _stderr


class RichProgress:
    """A Rich progress bar with items/s (frames by default), for vostool.progress.ProgressReporter."""

    def __init__(self, unit: str = "frames") -> None:
        self.unit = unit

    def start(self, total: Optional[int], description: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=_stderr(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, rate="")
        self._t0 = time.perf_counter()
        self._done = 0

    def advance(self, frames: int = 1) -> None:
        self._done += frames
        rate = self._done / max(time.perf_counter() - self._t0, 1e-9)
        self._progress.update(self._task, advance=frames, rate=f"{rate:.2f} {self.unit}/s")

    def stop(self) -> None:
        self._progress.stop()


class RichTrainProgress:
    """A Rich progress bar with the loss (moving average), steps/s and the time left."""

    def start(self, total: int, done: int, description: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._console = _stderr()
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                  console=self._console)
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, completed=done, info="")
        self._t0, self._first, self._loss = time.perf_counter(), done, None

    def update(self, step: int, metrics: dict[str, float]) -> None:
        loss = metrics.get("loss")
        if loss is not None:
            self._loss = loss if self._loss is None else 0.9 * self._loss + 0.1 * loss
        rate = (step - self._first) / max(time.perf_counter() - self._t0, 1e-9)
        info = (f"loss {self._loss:.4f}  " if self._loss is not None else "") + f"{rate:.2f} steps/s"
        self._progress.update(self._task, completed=step, info=info)

    def message(self, text: str) -> None:
        self._progress.console.print(text, highlight=False)

    def stop(self) -> None:
        self._progress.stop()

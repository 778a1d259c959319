"""The one progress protocol of the library, a quiet default and a tqdm bar for library use.

Every long loop in vostool (segmenting frames, scoring sequences, training steps, downloads, counting
labels) reports through :class:`Progress`; the CLI passes its Rich implementation
(``vostool.cli.progress.RichProgress``), library users get :class:`TqdmProgress` or :class:`NoProgress`.
A reporter is started once per loop and stopped once (also on errors).
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    def start(self, total: int | None, description: str, unit: str = "frames", done: int = 0) -> None:
        """A loop of ``total`` items (None: unknown) begins, ``done`` of them already done (resumed runs)."""

    def advance(self, n: int = 1) -> None:
        """``n`` more items are done."""

    def update(self, metrics: Mapping[str, float], done: int | None = None) -> None:
        """Latest values (e.g. ``{"loss": 0.3}``); ``done``: the absolute position, when the loop knows it."""

    def message(self, text: str) -> None:
        """A line for the user that must not break the bar (notes, validation scores)."""

    def stop(self) -> None:
        """The loop ended (finished, failed or interrupted)."""


# The engine's name for the protocol.
ProgressReporter = Progress


class NoProgress:
    """Reports nothing: the quiet default. Implementations may subclass it for the calls they ignore."""

    def start(self, total: int | None, description: str, unit: str = "frames", done: int = 0) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def update(self, metrics: Mapping[str, float], done: int | None = None) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def stop(self) -> None:
        pass


class TqdmProgress(NoProgress):
    """The default progress bar for library use, on stderr. ``leave=False`` clears it when done."""

    def __init__(self, leave: bool = True) -> None:
        self.leave = leave
        self._bar: Any = None

    def start(self, total: int | None, description: str, unit: str = "frames", done: int = 0) -> None:
        from tqdm import tqdm

        scaled = unit == "B"  # bytes: KiB, MiB ...
        self._bar = tqdm(total=total, initial=done, desc=description, unit=unit, unit_scale=scaled,
                         unit_divisor=1024 if scaled else 1000, leave=self.leave)

    def advance(self, n: int = 1) -> None:
        self._bar.update(n)

    def update(self, metrics: Mapping[str, float], done: int | None = None) -> None:
        if done is not None:
            self._bar.update(done - self._bar.n)
        if metrics:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)

    def message(self, text: str) -> None:
        import sys

        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.close()


def reporter(progress: Progress | bool | None, leave: bool = True) -> Progress:
    """``True`` -> a tqdm bar, ``False``/``None`` -> silence, a reporter -> itself."""
    if progress is True:
        return TqdmProgress(leave=leave)
    if progress is False or progress is None:
        return NoProgress()
    return progress

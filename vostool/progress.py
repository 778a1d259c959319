"""Progress reporting for long loops: a protocol, a tqdm bar for library use, and silence."""

from __future__ import annotations

from typing import Protocol


class ProgressReporter(Protocol):
    def start(self, total: int | None, description: str) -> None: ...
    def advance(self, frames: int = 1) -> None: ...
    def stop(self) -> None: ...


class TqdmProgress:
    """The default progress bar for library use (the CLI passes a Rich one)."""

    def start(self, total: int | None, description: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=description, unit="frame")

    def advance(self, frames: int = 1) -> None:
        self._bar.update(frames)

    def stop(self) -> None:
        self._bar.close()


class NoProgress:
    def start(self, total: int | None, description: str) -> None:
        pass

    def advance(self, frames: int = 1) -> None:
        pass

    def stop(self) -> None:
        pass

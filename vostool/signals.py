"""SIGTERM handled like Ctrl-C, for long runs that must leave complete files behind.

A process manager (systemd, Slurm, Kubernetes, ``timeout``, ``kill``) stops a program with SIGTERM.
Python's default is to die on the spot: no ``finally`` runs, so a file being written atomically
leaves its hidden ``.partial`` temporary and the run's record is never written. Inside
:func:`sigterm_as_interrupt` SIGTERM raises KeyboardInterrupt instead, which every clean-up path
already handles; :class:`StopRequest` lets a loop finish its current step first (training).

Handlers can only be installed from the main thread; elsewhere both helpers change nothing. The
previous handlers are restored on exit, so nothing changes for the caller afterwards.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

# The exit status of a process ended by a signal, as shells report it (128 + the signal's number).
SIGNAL_EXIT_BASE = 128


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread (as Ctrl-C does)."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StopRequest:
    """Ctrl-C or SIGTERM asks a loop to stop after its current step; a second one aborts at once.

    ``requested`` turns true on the first signal and ``signum`` keeps which one, so the caller can
    exit with the conventional status (:attr:`exit_code`: 130 for Ctrl-C, 143 for SIGTERM).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequest":
        if _main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt(f"received {signal.Signals(signum).name} twice")
        self.requested, self.signum = True, signum

    @property
    def exit_code(self) -> int:
        """128 + the signal's number once a stop was requested, else 0."""
        return SIGNAL_EXIT_BASE + self.signum if self.signum is not None else 0

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

"""Errors that reach the user as one line of text and an exit code.

Anything raised as a :class:`VostoolError` is printed by the CLI as a single red line with no
traceback. ``InputError`` (exit code 2) means the user gave something we cannot use and the message
says how to fix it; other ``VostoolError`` (exit code 1) means the work itself failed.
"""

from __future__ import annotations


class VostoolError(Exception):
    """Base class: a failure that is explained in one line."""

    exit_code: int = 1


class InputError(VostoolError):
    """Bad input from the user (paths, files, options). Exit code 2."""

    exit_code = 2


class OptionError(InputError):
    """An unknown or malformed ``--set key=value`` option or command-line value."""


class VideoError(InputError):
    """A video or frame folder that is missing or cannot be decoded."""


class MaskError(InputError):
    """A mask that is missing, not a label image, or does not fit the video."""


class OutputError(InputError):
    """An output location that cannot be written or would overwrite results."""


class WeightsError(InputError):
    """Missing, unreadable or mismatched model weights."""


class MethodError(InputError):
    """An unknown or not yet available method name."""


class ModelFailure(VostoolError):
    """The model produced unusable values (e.g. NaN) while processing a video."""


class DatasetError(InputError):
    """A dataset folder without the expected layout, or a missing file in it."""


class ResultsError(InputError):
    """Result masks to be scored that are missing, unreadable or inconsistent with the ground truth."""


class SequencesFailed(VostoolError):
    """Some sequences of a dataset run failed; the others were finished. ``failures``: (name, one line)."""

    def __init__(self, message: str, failures: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.failures = failures

"""Evaluation: DAVIS J&F exactly as the official code (but fast), YouTube-VOS and DAVIS submissions.

::

    from vostool.evaluation import Protocol, evaluate_results
    evaluation = evaluate_results("results/", "DAVIS/", Protocol("davis17", "val"))
    evaluation.scores["J&F-Mean"]

Modules: ``protocol`` (datasets, tasks, per-sequence jobs and their checks), ``scoring`` (one
sequence's per-frame J and F), ``runner`` (processes over sequences), ``summary`` (statistics, global
row), ``report`` (CSVs, JSON, report folder), ``plots``, ``segment`` (the engine over a dataset,
zips), ``api`` (the entry points; the CLI calls ``evaluate_dataset``). Nothing here imports torch until a method runs.
"""

from vostool.evaluation.api import Outcome, evaluate_dataset, evaluate_davis, evaluate_results, evaluate_ytvos
from vostool.evaluation.protocol import DATASETS, TASKS, Protocol
from vostool.evaluation.segment import EngineSettings
from vostool.evaluation.summary import GLOBAL_COLUMNS, Evaluation

__all__ = ["DATASETS", "GLOBAL_COLUMNS", "TASKS", "EngineSettings", "Evaluation", "Outcome", "Protocol",
           "evaluate_dataset", "evaluate_davis", "evaluate_results", "evaluate_ytvos"]

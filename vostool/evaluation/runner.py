"""Score many sequences in parallel processes (one sequence per task, largest first).

The calling process scores too: with ``workers`` = n it starts n - 1 worker processes and takes
sequences from the same queue while they start, so a start-up that costs more than it saves is
never waited for, and one worker means no subprocess at all. By default n is the number of CPUs
that are free: the CPUs this process may use less the load already on them (``os.getloadavg``), so
a busy machine gets fewer processes fighting over the same cores.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Sequence

from vostool.evaluation.protocol import SequenceJob
from vostool.evaluation.scoring import SequenceScore, score_sequence
from vostool.progress import Progress



def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(cpus: int | None = None, load: float | None = None) -> int:
    """Processes to score with: the usable CPUs less the ones other work keeps busy, at least 1.

    ``load`` (default: the 1-minute load average) counts the runnable processes of the last minute;
    this run has only just started, so nearly all of it is other work and the free CPUs are
    ``cpus - load``, rounded to the nearest whole CPU.
    """
    cpus = usable_cpus() if cpus is None else cpus
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average on this platform: assume a quiet machine
            load = 0.0
    return max(1, min(cpus, int(cpus - load + 0.5)))


def object_labels(score: SequenceScore, unsupervised: bool) -> list[str]:
    """Legend names of a sequence's rows."""
    if unsupervised:
        return [f"{score.name}_{k + 1} (result {r} = object {g})" for k, (r, g) in enumerate(score.matches)]
    return [f"{score.name}_{k + 1}" for k in range(score.num_objects)]


def score_and_plot(job: SequenceJob, plot_dir: str | None) -> SequenceScore:
    """Score one sequence and, with ``plot_dir``, write its plot there (in the worker, in parallel)."""
    score = score_sequence(job)
    if plot_dir is not None:
        from vostool.evaluation.plots import plot_sequence

        labels = object_labels(score, job.task == "unsupervised")
        plot_sequence(os.path.join(plot_dir, f"{job.name}.png"), job.name, score.frame_ids, score.J, score.F, labels)
    return score


def _worker_init() -> None:
    import signal

    import cv2

    # One process per core already: OpenCV's own thread pool would only oversubscribe the CPUs.
    cv2.setNumThreads(1)
    # Ctrl-C is handled by the parent (it stops the pool and removes the unfinished report).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: workers fork from a clean single-threaded server that has imported the scoring
    # code once, so they start fast and never inherit the parent's threads (progress bars, torch).
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["vostool.evaluation.runner"])
        return context
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _without_main_module():
    """Keep new workers from re-running the caller's script.

    Workers need only vostool's own modules, but multiprocessing re-imports ``__main__`` in every
    spawned or forkserver child, which fails in scripts without an ``if __name__ == "__main__"``
    guard. Hiding the main module's file and spec while the workers start avoids that.
    """
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if main is not None and hasattr(main, name)}
    for name in saved:
        setattr(main, name, None) if name == "__spec__" else delattr(main, name)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def score_sequences(
    jobs: Sequence[SequenceJob],
    workers: int | None = None,
    progress: Progress | None = None,
    plot_dir: str | os.PathLike | None = None,
) -> list[SequenceScore]:
    """Scores of ``jobs`` in the same order. ``workers``: processes including this one (default: the
    free CPUs, :func:`default_workers`; 1 = only this process). With ``plot_dir``, each sequence's
    plot is written there as ``<name>.png`` by the process that scored it.

    The first error (a bad result file, say) stops the run and is raised as is.
    """
    workers = default_workers() if workers is None else max(1, workers)
    total = sum(len(job.scored) for job in jobs)
    plots = None if plot_dir is None else str(plot_dir)
    if progress is not None:
        progress.start(total, f"scoring {len(jobs)} sequences")
    # Longest sequences first so that no process is left with a long one at the end.
    queue = sorted(range(len(jobs)), key=lambda i: len(jobs[i].scored), reverse=True)
    results: dict[int, SequenceScore] = {}

    def finished(index: int, score: SequenceScore) -> None:
        results[index] = score
        if progress is not None:
            progress.advance(len(jobs[index].scored))

    try:
        helpers = min(workers, len(jobs)) - 1
        if helpers <= 0:
            for i in queue:
                finished(i, score_and_plot(jobs[i], plots))
        else:
            _score_with_helpers(jobs, queue, helpers, plots, finished)
        return [results[i] for i in range(len(jobs))]
    finally:
        if progress is not None:
            progress.stop()


def _score_with_helpers(jobs, queue: list[int], helpers: int, plots: str | None, finished) -> None:
    """Score ``queue`` (indices into ``jobs``) here and in ``helpers`` worker processes.

    At most one job per helper waits in the pool beyond the ones running, so whatever the helpers
    have not taken yet is still in ``queue`` for this process.
    """
    queue = list(queue)
    with ProcessPoolExecutor(max_workers=helpers, mp_context=_context(), initializer=_worker_init) as pool:
        futures: dict = {}

        def collect(block: bool) -> None:
            if not futures:
                return
            done, _ = wait(list(futures), timeout=None if block else 0, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    for other in futures:
                        other.cancel()
                    raise error
                finished(futures.pop(future), future.result())

        try:
            while queue or futures:
                collect(block=False)
                while queue and len(futures) < 2 * helpers:
                    index = queue.pop(0)
                    with _without_main_module():  # the first submission starts the workers
                        futures[pool.submit(score_and_plot, jobs[index], plots)] = index
                if queue:
                    index = queue.pop()  # the shortest job left: this process must not hold up the end
                    finished(index, score_and_plot(jobs[index], plots))
                else:
                    collect(block=True)
        except BaseException:
            for future in futures:
                future.cancel()
            raise

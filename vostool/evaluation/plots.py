"""One PNG per sequence: J and F over the scored frames for every object (matplotlib, no pyplot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vostool.io.masks import atomic_save, davis_palette


def _frame_axis(frame_ids: list[str]) -> tuple[np.ndarray, str]:
    if frame_ids and all(f.isdigit() for f in frame_ids):
        return np.array([int(f) for f in frame_ids]), "frame"
    return np.arange(len(frame_ids)), "scored frame (position)"


def plot_sequence(
    path: str | Path,
    name: str,
    frame_ids: list[str],
    J: np.ndarray,
    F: np.ndarray,
    labels: list[str],
) -> None:
    """Write ``path``: two panels (J, F) with one line per object. J, F: (N, n) per-frame values."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 1, sharex=True)
    figure.subplots_adjust(left=0.07, right=0.72, top=0.90, bottom=0.11, hspace=0.12)
    x, xlabel = _frame_axis(frame_ids)
    colours = davis_palette() / 255.0
    marker = "o" if len(x) <= 40 else None
    for k, label in enumerate(labels):
        colour = colours[1 + k % 255]
        axes[0].plot(x, J[k], color=colour, marker=marker, markersize=3, linewidth=1.4,
                     label=f"{label}: J {J[k].mean():.3f}, F {F[k].mean():.3f}")
        axes[1].plot(x, F[k], color=colour, marker=marker, markersize=3, linewidth=1.4)
    for ax, metric in ((axes[0], "J (region IoU)"), (axes[1], "F (boundary)")):
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
    if labels:
        figure.legend(loc="upper left", bbox_to_anchor=(0.73, 0.90), fontsize=8, title="object: mean over frames",
                      title_fontsize=8, frameon=False)
    axes[1].set_xlabel(xlabel)
    mean_jf = (J.mean() + F.mean()) / 2 if J.size else float("nan")
    figure.suptitle(f"{name}: per-frame J and F of {len(labels)} object(s), J&F {mean_jf:.3f}", fontsize=10)
    atomic_save(Path(path), lambda tmp: figure.savefig(tmp, format="png"))

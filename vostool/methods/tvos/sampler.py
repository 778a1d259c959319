"""Which earlier frames a target frame looks at, with which spatial prior, and which frames to keep.

The rule of the authors' ``sample_frames`` (``lib/predict.py``): for target frame ``t`` (frame 0 is the
annotated one) all earlier frames while ``t <= ref_num``; afterwards ``ref_num - 3`` sparse frames
``linspace(max(t - 4 - range, 0), t - 4, ref_num - 3)`` truncated to integers, then ``t-3, t-2, t-1``.
The spatial prior uses ``sigma1`` for the last 4 references and ``sigma2`` for the others once
``t > 15``, ``sigma1`` for all before.
"""

from __future__ import annotations

import numpy as np

DENSE = 3  # t-3, t-2, t-1
SIGMA1_REFS = 4  # the most recent references that keep sigma1 (the authors' ``continuous_frame``)
SIGMA1_ONLY_UNTIL = 15  # while t <= 15 every reference uses sigma1


def reference_frames(t: int, ref_num: int = 9, sparse_range: int = 40, keep_first_frame: bool = False) -> list[int]:
    """Indices of the reference frames of target frame ``t`` (>= 1), oldest first.

    With ``keep_first_frame`` frame 0 is put in front when the rule leaves it out (t > 4 + range);
    it is never repeated.
    """
    if t < 1:
        raise ValueError("frame 0 has no references")
    if t <= ref_num:
        frames = list(range(t))
    else:
        end = t - DENSE - 1
        start = max(end - sparse_range, 0)
        # numpy's linspace and truncation, so that fractional positions round exactly as the authors'.
        sparse = np.linspace(start, end, ref_num - DENSE).astype(int).tolist()
        frames = [int(i) for i in sparse] + [t - DENSE + j for j in range(DENSE)]
    if keep_first_frame and frames[0] != 0:
        frames = [0] + frames
    return frames


def reference_sigmas(t: int, num_refs: int, sigma1: float, sigma2: float) -> list[float]:
    """The spatial prior's sigma for each of the ``num_refs`` references of frame ``t``, oldest first."""
    if t <= SIGMA1_ONLY_UNTIL:
        return [sigma1] * num_refs
    older = max(num_refs - SIGMA1_REFS, 0)
    return [sigma2] * older + [sigma1] * (num_refs - older)


def oldest_needed(next_t: int, ref_num: int = 9, sparse_range: int = 40) -> int:
    """The oldest frame that any target ``>= next_t`` can still choose (frame 0 with keep_first_frame aside).

    While ``next_t <= ref_num`` every earlier frame is chosen. Afterwards a frame ``f`` is the first
    sparse reference of target ``f + 4 + range`` (the linspace starts exactly there), and no target
    ``t' >= next_t`` looks further back than ``t' - 4 - range``; so the answer is ``next_t - 4 - range``.
    """
    if next_t <= ref_num:
        return 0
    return max(next_t - DENSE - 1 - sparse_range, 0)

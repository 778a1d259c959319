"""`vostool train`'s validation J&F and `vostool evaluate`'s J&F are one computation: the same masks, scored
in memory by training.validate and from PNG files by evaluation.scoring, give the same numbers."""

import numpy as np
from PIL import Image

from vostool.evaluation.protocol import SequenceJob
from vostool.evaluation.scoring import score_sequence as score_files
from vostool.metrics import f_measure, jaccard
from vostool.training.validate import score_sequence as score_in_memory


def _masks(seed: int, frames: int = 6, height: int = 40, width: int = 56) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth with two moving boxes (object 2 leaves on frame 4) and a noisy prediction of it."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((frames, height, width), np.uint8)
    for t in range(frames):
        gt[t, 5 + t:20 + t, 4 + 2 * t:24 + 2 * t] = 1
        if t < 4:
            gt[t, 22:35, 30 + t:50] = 2
    pred = gt.copy()
    flip = rng.random(gt.shape) < 0.08
    pred[flip] = rng.integers(0, 3, size=int(flip.sum()))
    pred[:, :, :3] = 0
    return pred, gt


def test_validation_and_evaluate_give_the_same_j_and_f(tmp_path):
    for seed in range(3):
        pred, gt = _masks(seed)
        gt_dir, res_dir = tmp_path / f"gt{seed}", tmp_path / f"res{seed}"
        gt_dir.mkdir()
        res_dir.mkdir()
        names = [f"{t:05d}" for t in range(len(gt))]
        for t, name in enumerate(names):
            Image.fromarray(gt[t], mode="L").save(gt_dir / f"{name}.png")
            Image.fromarray(pred[t], mode="L").save(res_dir / f"{name}.png")
        job = SequenceJob("seq", tuple(str(gt_dir / f"{n}.png") for n in names), tuple(names), str(res_dir),
                          "semi-supervised")
        from_files = score_files(job)
        in_memory = score_in_memory(pred, gt)
        assert len(in_memory) == from_files.num_objects == 2
        for k, (j, f) in enumerate(in_memory):
            assert j == from_files.J[k].mean() and f == from_files.F[k].mean()
            # and the numbers are not trivial: the unwindowed reference of vostool.metrics agrees
            assert 0.3 < j < 1 and 0 < f < 1
            ref_j = np.mean([jaccard(pred[t] == k + 1, gt[t] == k + 1) for t in range(1, len(gt) - 1)])
            ref_f = np.mean([f_measure(pred[t] == k + 1, gt[t] == k + 1) for t in range(1, len(gt) - 1)])
            assert np.isclose(j, ref_j, rtol=0, atol=1e-12) and np.isclose(f, ref_f, rtol=0, atol=1e-12)

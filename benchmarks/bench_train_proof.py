"""Proof that training works: a short CPU run on synthetic video beats copying the first mask.

    python benchmarks/bench_train_proof.py                    # every method in PROOFS, 20 minutes each
    python benchmarks/bench_train_proof.py --methods frtm --minutes 20 --threads 1
    python benchmarks/bench_train_proof.py --demo             # TVOS's --weights demo model on the bundled example
    python benchmarks/bench_train_proof.py --demo --demo-method frtm

For each method: train for at most ``--minutes`` (wall clock, everything included) on synthetic videos
(seed 0) from random weights, then score ``last.pt`` on 10 held-out synthetic videos
(seed 1, never seen in training) with the DAVIS J&F rules, next to the copy-the-first-mask baseline
and, where a method has them, ablations (FRTM: the target model alone, "D-only"). Prints a Markdown
table for docs/benchmarks.md and writes ``OUT/proof-results.json``.

``--demo`` trains the demo weights from scratch (as on a fresh machine), then segments
examples/two_objects.mp4 through ``segment_video`` (the README's first command) and scores it against
the generator's ground truth, next to copying the first mask.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vostool.data.sources import open_source  # noqa: E402
from vostool.loader import load_method  # noqa: E402
from vostool.training import train  # noqa: E402
from vostool.training.validate import copy_baseline, evaluate, held_out_videos  # noqa: E402

from memory_attention import memory_attention  # noqa: E402


@dataclass
class Proof:
    """How a method is trained for the proof, and how its checkpoint is run for scoring."""

    settings: dict[str, str]  # --set values; departures from the paper are listed in ``departures``
    departures: str
    inference: dict[str, str] = field(default_factory=dict)  # method options for scoring
    ablations: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> extra method options
    data: str = "synthetic:videos=40,frames=16"
    size: tuple[int, int] = (240, 432)
    method: str = ""  # the method to train when the row's name is not one (e.g. an ablation trained apart)
    # Earlier training stages, in order; each starts from the previous one's last.pt through the recipe
    # field ``init``, and the main run (``settings``) from the last one's with the time left (RGMP's and
    # FlowVOS's two stages, the STM family's BatchNorm stages).
    stages: tuple["Stage", ...] = ()


@dataclass
class Stage:
    """A training stage before the main run: extra --set values over the proof's, its share of the minutes."""

    settings: dict[str, str]
    share: float
    data: str = ""  # the stage's videos when they differ from the proof's


# STM and FlowVOS's segmentation network train on one small CPU setting: MUNet's clips (more, cheaper steps:
# 4 consecutive frames, one clip per step), which learnt faster than STM-cycle's in 20 minutes, without the
# cycle loss (STM's own training has none; cheaper steps). From random weights an STM-family memory read
# collapses onto one memory position unless its attention is supervised (read_loss; docs/benchmarks.md,
# "The memory read collapses").
STM_PROOF = {"size": "96,176", "clip_frames": "4", "batch_size": "1", "objects": "2", "max_skip": "1",
             "optimizer": "adamw", "lr": "1e-4", "weight_decay": "0.01", "cycle": "false", "freeze_bn": "true",
             "read_loss": "10", "workers": "1"}


def bn_stages() -> dict:
    """Proof fields for the STM family's two BatchNorm stages: three quarters of the time on batch statistics
    (from random weights the residual branches need them), then the last quarter from those weights with
    BatchNorm frozen (the authors' setting), so the network adapts to the running statistics it is scored
    with. The batch statistics of one clip are one video's: two one-stage stm runs of one setting scored
    33.7 and 10.2 J&F (docs/benchmarks.md, "Why two runs of one setting score so differently")."""
    return {"stages": (Stage({"freeze_bn": "false"}, 0.75),)}


BN_STAGES_TEXT = ("BatchNorm on batch statistics (freeze_bn=false) for the first three quarters of the time, then "
                  "frozen as the authors' (freeze_bn=true) for the last quarter from those weights")
READ_LOSS = ("the auxiliary loss on the memory read's attention with weight 10 (read_loss=10, not in the papers; "
             "without it the read collapses onto one memory position)")
STM_PROOF_TEXT = ("AdamW lr 1e-4 with weight decay 0.01 instead of Adam lr 1e-5 with 5e-4 (from scratch); 96x176 "
                  "instead of 240x427; clips of 4 consecutive frames (max skip 1, as MUNet), one per step, up to 2 "
                  "objects instead of 3 frames with skips up to 50, 4 per step, up to 5 objects; " + READ_LOSS)

PROOFS: dict[str, Proof] = {
    "frtm": Proof(
        settings={"backbone": "resnet18", "size": "240,432", "batch_size": "2", "tm_num_aug": "5", "workers": "1"},
        departures="ResNet-18 (the paper's 'fast' backbone) with random frozen weights instead of ImageNet; 240x432 "
                   "instead of 480x854; batch 2 instead of 16; 5 first-frame samples for the training target "
                   "models instead of 15; scored with fast=true",
        inference={"fast": "true"},
        ablations={"D-only (no refiner)": {"refine": "false"}},
    ),
    "tvos": Proof(
        settings={"backbone": "resnet18", "crop": "128,128", "batch_size": "2", "workers": "1"},
        departures="ResNet-18 (the authors' code's small variant) trained from random initialisation instead of a "
                   "ResNet-50 from ImageNet; 128x128 crops instead of 256x256; batch 2 instead of 16; minutes "
                   "instead of 240 epochs (so the cosine schedule stays near lr 0.02); synthetic video instead of "
                   "DAVIS 2017 train; everything else (10 consecutive frames, flips, palette labels, loss, SGD) "
                   "is the recipe's default",
    ),
    "stm": Proof(
        settings=dict(STM_PROOF), **bn_stages(),
        departures="both ResNet-50 encoders from random weights instead of ImageNet; " + BN_STAGES_TEXT + "; " +
                   STM_PROOF_TEXT + "; STM-cycle's loss and augmentation without its cycle loss (cycle=false, as "
                   "STM's own training)",
        size=(96, 176),
    ),
    "flowvos": Proof(
        # The paper's two stages: the segmentation network alone on BatchNorm's batch statistics, then the
        # flow stage with BatchNorm frozen (so it also adapts the network to the statistics it is scored
        # with) and flow_mixer starting as the identity, so that it begins from the segmentation network's
        # output (random, it cost the first stage's progress: 17.3 J&F, below copying the first mask)
        settings={**STM_PROOF, "base_epochs": "0", "freeze_seg_every": "0", "flow_mixer_init": "identity"},
        stages=(Stage({"base_epochs": "480", "freeze_bn": "false"}, 0.6),),
        departures="the segmentation network's stage as stm's proof (random ResNet-50s, " + STM_PROOF_TEXT + ", no "
                   "cycle loss) on BatchNorm's batch statistics for 60% of the time; the flow stage from those "
                   "weights for the rest, BatchNorm frozen, without the alternate freezing (the paper: 240 epochs "
                   "each, the segmentation network frozen every other 5 epochs), flow_mixer starting as the "
                   "identity on the decoder's features (flow_mixer_init=identity; the authors: random); paper "
                   "mode (code_quirks=false)",
        size=(96, 176),
    ),
    "rgmp": Proof(
        # With the cross-entropy alone the masks vanished over the recurrence (12.9 J&F with bn_affine=true,
        # 4.0 without; with the BatchNorm stages stage 2's training IoU fell from 0.15 to 0.03 in 140 steps);
        # with the IoU term 17.8 over 3 recurrent frames, 29.5 over 5 (21.4 with stage 1 cut to 12%, 13.9 over 7);
        # with the last stage's rate decaying 33.4 and 30.9 (20/50/30% of the time), 32.9 and 34.3 (20/40/40%).
        # Stages 1 and 2 keep a constant rate for 100 epochs (the time ends them); the last stage's one epoch of
        # 7 repeats (269 steps) is about what its 8 minutes hold on 2 cores, so its cosine reaches lr_min near
        # the end (a faster machine stops after the epoch)
        settings={"stage": "2", "size": "96,160", "crop": "none", "clip_frames": "6", "batch_size": "2",
                  "max_skip": "1", "lr": "1e-3", "bn_affine": "true", "iou_weight": "1", "workers": "1",
                  "schedule": "cosine", "epochs": "1", "repeats": "7", "lr_min": "1e-5"},
        stages=(Stage({"stage": "1", "s1_crop": "96,96", "batch_size": "4", "freeze_bn": "false",
                       "schedule": "constant", "epochs": "100", "repeats": "4"}, 0.2),
                Stage({"freeze_bn": "false", "schedule": "constant", "epochs": "100", "repeats": "4"}, 0.4)),
        departures="both stages on synthetic video (stage 1: pairs simulated from its frames, 20% of the time; "
                   "stage 2 from its weights) with a random encoder instead of ImageNet, its BatchNorm trained on "
                   "batch statistics (freeze_bn=false) in stage 1 and the next 40% of the time in stage 2, then "
                   "frozen with its scale and shift trained (bn_affine=true: the residual branches start at zero "
                   "and would stay there) for the last 40%, its learning rate decaying from 1e-3 to 1e-5 along a "
                   "cosine over one epoch (the paper: a fixed rate); frames resized to 96x160 instead of 256x256 / "
                   "256x512 crops; the paper's 5 recurrent frames, consecutive (max skip 1) instead of random skips; a "
                   "soft IoU term with weight 1 added to the cross-entropy (iou_weight=1, not in the paper: the "
                   "background-dominated cross-entropy alone let the masks vanish); batch 2 (stage 1: 4); lr 1e-3 "
                   "instead of 1e-5 "
                   "(from scratch, few steps); scored at the one scale 0.35 (96x160, the training size) instead "
                   "of 0.5/0.75/1",
        inference={"scales": "0.35"},
    ),
}


# MUNet: the paper's recipe shrunk to what a CPU trains in minutes from a random backbone, and the
# paper's ablation baseline (the same recipe without the MU-Layer and MSAM).
MUNET_PROOF = {"size": "96,176", "crop": "none", "clip_frames": "4", "objects": "2", "batch_size": "1",
               "lr": "1e-4", "weight_decay": "0.01", "freeze_bn": "true", "read_loss": "10", "workers": "1"}
MUNET_DEPARTURES = ("random ResNet-50 weights instead of ImageNet; " + BN_STAGES_TEXT + "; 96x176 frames without "
                    "the 400x400 crop; clips of 4 frames instead of 6; lr 1e-4 and weight decay 0.01 instead of 2e-5 "
                    "and 0.5 (the paper's fine-tuning rates barely move random weights in minutes); " + READ_LOSS)
PROOFS.update({
    "munet": Proof(settings=dict(MUNET_PROOF), departures=MUNET_DEPARTURES, size=(96, 176), **bn_stages()),
    "munet-no-mu": Proof(settings={**MUNET_PROOF, "motion": "false"}, size=(96, 176), method="munet", **bn_stages(),
                         departures=MUNET_DEPARTURES + "; without the MU-Layer and MSAM (motion=false)"),
})


class _Bar:
    def start(self, total, done, description):
        self.t0, self.total = time.perf_counter(), total

    def update(self, step, metrics):
        if step % 10 == 0:
            print(f"  step {step}: loss {metrics.get('loss', float('nan')):.4f} "
                  f"({time.perf_counter() - self.t0:.0f} s)", flush=True)

    def message(self, text):
        print("  " + text, flush=True)

    def stop(self):
        pass


def prove(name: str, proof: Proof, minutes: float, out: Path, val_videos: int) -> dict:
    method = proof.method or name
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    settings, stage_steps = dict(proof.settings), []
    for index, stage in enumerate(proof.stages, 1):
        print(f"  stage {index}: {stage.settings}", flush=True)
        pre = train(method, [stage.data or proof.data], name=f"proof-{name}-stage{index}", runs_dir=out,
                    settings={**settings, **stage.settings}, max_minutes=minutes * stage.share,
                    backbone_weights="none", overwrite=True, progress=_Bar(), seed=0)
        settings["init"] = str(pre.run_dir / "last.pt")
        stage_steps.append(pre.step)
    minutes -= (time.perf_counter() - started) / 60
    result = train(method, [proof.data], name=f"proof-{name}", runs_dir=out, settings=settings,
                   max_minutes=minutes, backbone_weights="none", overwrite=True, progress=_Bar(),
                   seed=0)
    train_minutes = (time.perf_counter() - started) / 60
    load_end = os.getloadavg()[0]
    videos = held_out_videos([open_source(f"synthetic:videos={val_videos},seed=1", "val", proof.size)])
    weights = str(out / f"proof-{name}" / "last.pt")
    trained = load_method(method, proof.inference, weights=weights)
    row = {"method": name, "train_minutes": round(train_minutes, 2), "steps": result.step, "stage_steps": stage_steps,
           "samples": result.step * int(proof.settings.get("batch_size", 0) or 0),
           "copy": copy_baseline(videos, proof.size).as_dict(),
           "trained": evaluate(trained, videos, proof.size, torch.device("cpu")).as_dict(),
           "ablations": {}, "departures": proof.departures, "threads": torch.get_num_threads(),
           "load_average": [round(load_start, 2), round(load_end, 2)]}
    if hasattr(trained.network, "memorize"):  # STM family: did the memory read learn to match?
        row["memory attention"] = memory_attention(trained.network, videos, proof.size)
    for name, extra in proof.ablations.items():
        method_obj = load_method(method, {**proof.inference, **extra}, weights=weights)
        row["ablations"][name] = evaluate(method_obj, videos, proof.size, torch.device("cpu")).as_dict()
    row["margin"] = round(row["trained"]["J&F"] - row["copy"]["J&F"], 2)
    return row


# Method options for segmenting the example with a method's demo weights.
DEMO_INFERENCE = {"frtm": {"fast": "true"}}


def demo(out: Path, method: str = "tvos") -> dict:
    """Build ``method``'s demo weights from scratch and score them on the bundled example."""
    from vostool.data.synthetic import make_clip
    from vostool.engine import segment_video
    from vostool.training.demo import build_demo
    from vostool.training.validate import score_sequence

    path = out / f"demo-{method}.pt"
    started = time.perf_counter()
    build_demo(method, path, overwrite=True, device="cpu")  # as `vostool weights build-demo METHOD --out PATH`
    minutes = (time.perf_counter() - started) / 60
    clip = make_clip(num_frames=24, height=240, width=320, num_objects=2, seed=7)  # examples/make_example.py
    masks = out / "demo_masks"
    segment_video(ROOT / "examples/two_objects.mp4", mask=ROOT / "examples/two_objects_mask.png", method=method,
                  weights=str(path), options=DEMO_INFERENCE.get(method, {}), size=240, out_dir=masks, overwrite=True,
                  progress=False)
    from PIL import Image

    pred = np.stack([np.array(Image.open(p)) for p in sorted(masks.glob("*.png"))])
    ours = np.array(score_sequence(pred, clip.labels))
    copy = np.array(score_sequence(np.repeat(clip.labels[:1], len(clip.labels), 0), clip.labels))
    jf = lambda s: round(100 * float(s.mean()), 2)  # noqa: E731  mean of J and F over objects
    return {"demo_minutes": round(minutes, 2), "demo J&F": jf(ours), "copy J&F": jf(copy),
            "threads": torch.get_num_threads(), "load_average": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="*", default=list(PROOFS))
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--val-videos", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--demo", action="store_true", help="score the demo weights on the bundled example instead")
    parser.add_argument("--demo-method", default="tvos", help="whose demo weights --demo trains (the README uses tvos)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("VOSTOOL_CACHE", str(out / "cache"))  # keep proof caches out of the user's
        if args.demo:
            row = demo(out, args.demo_method)
            print(json.dumps(row, indent=2))
            print(f"\n| demo weights | training (min) | J&F on examples/two_objects.mp4 | copy first mask |\n"
                  f"|---|---|---|---|\n| {args.demo_method} | {row['demo_minutes']} | {row['demo J&F']} | {row['copy J&F']} |")
            return
        rows = []
        for method in args.methods:
            print(f"{method}: training for at most {args.minutes:g} minutes on {args.threads} thread(s)", flush=True)
            rows.append(prove(method, PROOFS[method], args.minutes, out, args.val_videos))
            print(json.dumps(rows[-1], indent=2), flush=True)
        (out / "proof-results.json").write_text(json.dumps(rows, indent=2))
        print("\n| method | minutes | steps | J&F trained | copy first mask | margin | ablations |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            ablations = "; ".join(f"{k}: {v['J&F']:.1f}" for k, v in r["ablations"].items()) or "-"
            steps = " + ".join(str(n) for n in [*r["stage_steps"], r["steps"]])
            print(f"| {r['method']} | {r['train_minutes']:.1f} | {steps} | {r['trained']['J&F']:.1f} | "
                  f"{r['copy']['J&F']:.1f} | {r['margin']:+.1f} | {ablations} |")


if __name__ == "__main__":
    main()

"""The prepared GPU check: CPU-vs-CUDA agreement and fp32/bf16 speed of every method, in one command.

    python benchmarks/gpu_check.py OUT_DIR            # on a CUDA machine, about 4-6 minutes on an H200
    python benchmarks/gpu_check.py OUT_DIR --tiny     # anywhere: a small clip, device=cpu standing in

For every method (FRTM ResNet-101 and the ResNet-18 "fast" variant, RGMP, TVOS, STM, FlowVOS, MUNet)
with the same seeded untrained weights, on the same generated 854x480 clips with 1 and 3 objects:

1. agreement: the CPU fp32 run against the CUDA fp32 run (TF32 off: see gpu_check_runs.tf32_off) —
   max |probability difference| and the share of pixels whose label differs — then CUDA bf16 against
   CUDA fp32;
2. model time per frame (CUDA events around ``Session.step``, after a warm-up session, median of the
   later frames) in fp32 (PyTorch's defaults, which let cuDNN use TF32), fp32 with cuDNN autotuning
   (``cudnn.benchmark``) and bf16 autocast; first-frame time; peak GPU memory;
3. end to end through ``segment_video`` (h264 decoding, resizing, labels, PNG writing), fp32 and bf16;
4. the paper's FPS and GPU beside the measured FPS.

Every frame count is fixed before the run starts (``Budget``); no clock decides what is measured.
Progress is printed per method and ``gpu_check.json`` / ``gpu_check.md`` in OUT_DIR are rewritten
after each step, so a run that is cut short leaves everything measured so far.
Untrained weights: the agreement and the speed do not depend on trained values, and nothing is
downloaded (the machine needs no network, only the packages of pyproject.toml).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_check_runs as runs  # noqa: E402
from gpu_check_table import markdown  # noqa: E402


@dataclass(frozen=True)
class Variant:
    name: str
    method: str
    options: dict
    paper_fps: float
    paper_gpu: str
    compare_frames: int  # frames of the CPU reference run (the CPU run is the expensive part)


# Frames of the CPU reference run per variant (the CPU run is the expensive part). FRTM re-optimises
# its target model every 8th frame: 10 frames include one update.
COMPARE_FRAMES = {"frtm": 10, "frtm-fast": 10, "rgmp": 4, "tvos": 5, "stm": 5, "flowvos": 4, "munet": 5}


def card_variants() -> tuple[Variant, ...]:
    """One variant per speed the papers published, read from the method cards (vostool/methods/<m>/card.py)."""
    from vostool.registry import get_card, method_names

    return tuple(Variant(s.variant, name, dict(s.options), s.fps, s.gpu, COMPARE_FRAMES.get(s.variant, 5))
                 for name in method_names() for s in get_card(name).speeds)


VARIANTS = card_variants()


@dataclass(frozen=True)
class Budget:
    """Frame counts, chosen up front. The full budget fits 8 minutes on an H200 with 16 CPU cores."""

    size: int = 480
    objects: tuple[int, ...] = (1, 3)
    compare_frames: int | None = None  # None: each variant's own count
    warmup: int = 5
    frames: int = 30  # timed model frames per precision and object count
    e2e_frames: int = 30
    e2e_warmup: int = 3


FULL = Budget()
TINY = Budget(size=64, compare_frames=2, warmup=1, frames=2, e2e_frames=2, e2e_warmup=1)


def environment(device: torch.device) -> dict:
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "cpu_threads": torch.get_num_threads(), "device_type": device.type}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        try:
            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            info["driver"] = "unknown (nvidia-smi not available)"
    else:
        info["gpu"] = f"none: CPU standing in for CUDA ({torch.get_num_threads()} threads)"
    return info


class Report:
    """The JSON and markdown files, rewritten atomically after every step."""

    def __init__(self, out: Path, protocol: dict) -> None:
        self.out = out
        self.data = {"protocol": protocol, "variants": {}}

    def variant(self, v: Variant) -> dict:
        return self.data["variants"].setdefault(v.name, {
            "method": v.method, "options": v.options, "paper_fps": v.paper_fps, "paper_gpu": v.paper_gpu,
            "status": "running", "objects": {}})

    def save(self) -> str:
        table = markdown(self.data)
        for name, text in (("gpu_check.json", json.dumps(self.data, indent=2) + "\n"), ("gpu_check.md", table)):
            tmp = self.out / f".{name}.partial"
            tmp.write_text(text)
            os.replace(tmp, self.out / name)
        return table


def log(text: str) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {text}", flush=True)


def check_variant(v: Variant, budget: Budget, device: torch.device, clips: dict, files: dict, report: Report,
                  workdir: Path, compile_mode: str | None) -> None:
    from vostool.loader import load_method

    entry = report.variant(v)
    started = time.perf_counter()
    cpu = torch.device("cpu")
    method = load_method(v.method, v.options, untrained=True, device=cpu)
    n_cmp = budget.compare_frames or v.compare_frames
    # 1. agreement; the same Method object moves to the device, so the weights are the same tensors.
    references = {}
    for k in budget.objects:
        log(f"{v.name}: {k} object(s), CPU fp32 reference, {n_cmp} frames")
        references[k], _ = runs.run_session(method, clips[k], n_cmp, "fp32", keep=True)
    method.to(device)
    for k in budget.objects:
        clip = clips[k].to(device)
        with runs.tf32_off():
            fp32, _ = runs.run_session(method, clip, n_cmp, "fp32", keep=True)
        bf16, _ = runs.run_session(method, clip, n_cmp, "bf16", keep=True)
        entry["objects"][str(k)] = {"agreement": {"cpu_vs_device_fp32": runs.compare(references[k], fp32),
                                                  "bf16_vs_fp32": runs.compare(fp32, bf16)}}
        log(f"{v.name}: {k} object(s), agreement {entry['objects'][str(k)]['agreement']}")
        report.save()
    # 2. model time.
    settings = [("fp32", "fp32", False), ("fp32_autotuned", "fp32", True), ("bf16", "bf16", False)]
    for k in budget.objects:
        clip = clips[k].to(device)
        model = entry["objects"][str(k)].setdefault("model", {})
        for label, precision, autotune in settings:
            with runs.cudnn_benchmark(autotune):
                model[label] = runs.time_model(method, clip, budget.warmup, budget.frames, precision)
            log(f"{v.name}: {k} object(s), {label}: {model[label].get('model_ms_median', 0):.1f} ms/frame")
            report.save()
    if compile_mode is not None:
        compiled_check(v, method, budget, clips, entry, compile_mode)
        report.save()
    # 3. end to end.
    for k in budget.objects:
        e2e = entry["objects"][str(k)].setdefault("e2e", {})
        if files.get(k) is None:
            e2e["skipped"] = files.get("reason", "no clip file")
            continue
        for precision in ("fp32", "bf16"):
            result = runs.end_to_end(method, *files[k], workdir / f"{v.name}-{k}-{precision}", budget.size,
                                     budget.e2e_frames, budget.e2e_warmup, precision)
            e2e[precision] = asdict(result)
            log(f"{v.name}: {k} object(s), end to end {precision}: {result.fps_total:.1f} FPS")
            report.save()
    entry["status"] = "ok"
    entry["seconds"] = round(time.perf_counter() - started, 1)


def compiled_check(v: Variant, method, budget: Budget, clips: dict, entry: dict, mode: str) -> None:
    """``--compile``: time the compiled network and compare its labels with the eager run's."""
    from vostool.compile import compile_network

    eager = {k: runs.run_session(method, clips[k].to(method.device), 3, "fp32", keep=True)[0] for k in budget.objects}
    entry["compiled_modules"] = compile_network(method.network, mode=None if mode == "default" else mode)
    for k in budget.objects:
        clip = clips[k].to(method.device)
        compiled, _ = runs.run_session(method, clip, 3, "fp32", keep=True)
        objects = entry["objects"][str(k)]
        objects["agreement"]["compiled_vs_eager_fp32"] = runs.compare(eager[k], compiled)
        objects["model"]["fp32_compiled"] = runs.time_model(method, clip, budget.warmup, budget.frames, "fp32")
        log(f"{v.name}: {k} object(s), compiled: {objects['model']['fp32_compiled'].get('model_ms_median', 0):.1f} ms")


def prepare_inputs(budget: Budget, workdir: Path) -> tuple[dict, dict]:
    """Clips as tensors (one per object count) and the same clips as h264 files + masks for end to end."""
    height = budget.size
    width = 2 * round(height * 854 / 480 / 2)
    frames = max(max(v.compare_frames for v in VARIANTS), budget.compare_frames or 0, budget.warmup, budget.frames)
    clips, files = {}, {}
    try:
        import av  # noqa: F401

        from vostool.benchmark import generated_clip
    except ImportError as exc:
        files["reason"] = f"skipped: {exc} (install PyAV for the end-to-end numbers)"
        generated_clip = None
    for k in budget.objects:
        seed = 100 * k
        clips[k], _ = runs.make_clip_tensors(k, frames, height, width, seed)
        if generated_clip is not None:
            files[k] = generated_clip(workdir, k, max(budget.e2e_frames, budget.e2e_warmup), budget.size, seed)
    return clips, files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--tiny", action="store_true", help="small clip and few frames (the test suite's mode)")
    parser.add_argument("--device", default=None, help="cuda (default) or cuda:N; --tiny defaults to cpu")
    parser.add_argument("--methods", default=",".join(v.name for v in VARIANTS),
                        help="comma-separated subset of: " + ", ".join(v.name for v in VARIANTS))
    parser.add_argument("--compile", nargs="?", const="default", default=None, metavar="MODE",
                        help="also time torch.compile'd networks (compile time is not in the 8-minute budget)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    from vostool.devices import resolve_device
    from vostool.errors import VostoolError

    chosen = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in {v.name for v in VARIANTS}]
    if unknown or not chosen:
        print(f"gpu_check: unknown method(s) {', '.join(unknown) or '(none given)'}; choose from "
              f"{', '.join(v.name for v in VARIANTS)}", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device or ("cpu" if args.tiny else "cuda"))
    except VostoolError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    budget = TINY if args.tiny else FULL
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    args.out.mkdir(parents=True, exist_ok=True)
    protocol = {"budget": asdict(budget), "environment": environment(device), "weights": "untrained (seeded)",
                "tf32_for_agreement": "off: torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 "
                                      "= False (restored after)",
                "fp32_timing": "PyTorch defaults (cuDNN convolutions may use TF32; matmul does not)",
                "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}
    report = Report(args.out, protocol)
    log(f"device {protocol['environment']['gpu']}, budget {asdict(budget)}")
    total = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vostool-gpu-check-") as tmp:
        clips, files = prepare_inputs(budget, Path(tmp))
        for v in (v for v in VARIANTS if v.name in chosen):
            log(f"{v.name}: start")
            try:
                check_variant(v, budget, device, clips, files, report, Path(tmp), args.compile)
            except Exception as exc:  # one method's failure must not lose the others' numbers
                report.variant(v)["status"] = f"failed: {type(exc).__name__}: {exc}"
                log(f"{v.name}: FAILED {type(exc).__name__}: {exc}")
                traceback.print_exc()
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            report.save()
    report.data["seconds"] = round(time.perf_counter() - total, 1)
    print(report.save())
    log(f"done in {report.data['seconds']} s; {args.out / 'gpu_check.json'}")
    return 0 if all(e["status"] == "ok" for e in report.data["variants"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

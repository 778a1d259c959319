"""DistributedDataParallel under torchrun: 2 CPU processes (gloo) end with identical weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = """
import json, sys, torch
from pathlib import Path
from vostool.training import train

out = Path(sys.argv[1])
settings = {"backbone": "resnet18", "size": "48,64", "batch_size": "4", "workers": "0", "tm_num_aug": "3",
            "tm_init_iters": "2,2", "tm_update_iters": "2", "cache": str(out / "cache")}
result = train("frtm", ["synthetic:videos=3,frames=5"], name="ddp", runs_dir=out / "runs", settings=settings,
               steps=3, backbone_weights="none")
rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else int(__import__("os").environ["RANK"])
torch.save(result.method.network.state_dict(), out / f"rank{rank}.pt")
(out / f"rank{rank}.json").write_text(json.dumps({"step": result.step, "files": sorted(
    p.name for p in (out / "runs" / "ddp").iterdir())}))
"""


def test_two_processes_end_with_identical_weights(tmp_path):
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:3]
    infos = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert infos[0]["step"] == infos[1]["step"] == 3
    # Both ranks trained (the weights moved), only rank 0 wrote the run.
    saved = torch.load(tmp_path / "runs" / "ddp" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], a[k]) for k in a)
    log = [json.loads(line) for line in (tmp_path / "runs" / "ddp" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    config = json.loads((tmp_path / "runs" / "ddp" / "config.json").read_text())
    assert config["world_size"] == 2
    from vostool.methods.frtm import FRTM

    start = FRTM.build({"backbone": "resnet18"}).network.state_dict()
    assert any(not torch.equal(start[k], a[k]) for k in a if k.startswith("refiner."))

    # The data was sharded: together the ranks learned the target models of exactly the 12 clips of the
    # first 3 global batches (each rank computes those of its own half of every batch).
    from vostool.data.clips import ClipDataset
    from vostool.data.sources import open_source
    from vostool.methods.frtm.recipe import FRTMRecipe

    dataset = ClipDataset([open_source("synthetic:videos=3,frames=5", size=(48, 64))], FRTMRecipe(size=(48, 64)), seed=0)
    dataset.set_epoch(0)
    expected = {(c["info"]["sequence"], f"{c['info']['frames'][0]:05d}.{c['info']['objects'][0]}.layer4.pth")
                for c in (dataset[i] for i in range(12))}
    cached = {(p.parent.name, p.name) for p in (tmp_path / "cache").rglob("*.layer4.pth")}
    assert cached == expected

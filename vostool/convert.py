"""``vostool weights convert``: the authors' checkpoints -> self-describing vostool checkpoints."""

from __future__ import annotations

from pathlib import Path

from vostool.errors import OutputError
from vostool.loader import checkpoint_for_method, load_method
from vostool.options import options_to_dict
from vostool.registry import get_method_class
from vostool.weights import load_state_strict, save_checkpoint


def convert_weights(src: Path, dst: Path, method: str, with_backbone: bool = False, overwrite: bool = False) -> str:
    """Read ``src`` (any format the method understands), check it strictly, write ``dst``.

    Parts the authors never shipped (FRTM's ImageNet backbone) are embedded only with
    ``with_backbone``; otherwise they are loaded from torchvision when the checkpoint is used.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise OutputError(f"{dst} exists; pass --overwrite to replace it")
    if not dst.parent.is_dir():
        raise OutputError(f"folder {dst.parent} does not exist")
    cls = get_method_class(method)
    defaults = cls.Options()
    checkpoint = checkpoint_for_method(cls, str(src), defaults)
    model = load_method(cls, dict(checkpoint.arch), untrained=True)
    # One path with --weights: the strict loader (which fills BatchNorm's num_batches_tracked that
    # PyTorch < 0.4 files lack). Parts a method completes (FRTM's ImageNet backbone) are taken from the
    # untrained network for the check and left out of the file unless --with-backbone.
    if with_backbone:
        state = model.complete_state_dict(checkpoint)
        filler: set[str] = set()
    else:
        state = dict(checkpoint.state_dict)
        own = model.network.state_dict()
        completed = cls.completed_prefixes
        filler = {k for k in own if completed and k.startswith(completed) and k not in state}
        state.update({k: own[k] for k in filler})
    load_state_strict(model.network, state, str(src), cls.name)
    state = {k: v for k, v in model.network.state_dict().items() if k not in filler}
    save_checkpoint(dst, cls.name, state, dict(checkpoint.arch), options_to_dict(model.options), source=src.name,
                    source_sha256=checkpoint.sha256)
    arch = ", ".join(f"{k}={v}" for k, v in checkpoint.arch.items()) or "default architecture"
    return f"wrote {dst}: {cls.name} ({arch}), {len(state)} tensors, source sha256 {checkpoint.sha256}"

"""FlowVOS's offline training: STM-cycle's (vostool.methods.stm.training) plus the flow module.

Stage 1 (epochs < ``base_epochs``) is STM-cycle's training of the segmentation network alone (the
decoder runs without the warped-mask input). Stage 2 adds, per segmentation of frame ``dest`` after
frame ``source`` (forward: t after t-1; cycle: 0 after t):

* the flow between the two frames warps the previous mask: the ground truth when the clip is
  teacher-forced (probability 0.5, drawn once per clip), else the network's previous soft output;
  rounded, it enters the decoder after RF2 (as at inference);
* Mask Flow Loss: bootstrapped CE + soft IoU between the warped previous mask and the target;
* Visual Flow Loss: MSE between the previous frame masked by the rounded previous mask and warped,
  and the target frame masked by its ground-truth objects (normalised RGB, as the authors);

all with weight 1, and the segmentation network is alternately frozen every 5 epochs (paper) — only
the flow module and ``Decoder.flow_mixer`` train then. ``code_quirks`` reproduces the released code:
the freezing is a no-op, the Mask Flow Loss sees ``round(warped)`` (no gradient: the flow learns from
the Visual Flow Loss alone) and every BatchNorm stays in eval mode. In the paper's mode the flow
module's (new) BatchNorm layers train; the segmentation network's follow ``freeze_bn``.
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F

from vostool.training.contract import TrainingEnv
from vostool.methods.flowvos.flow import flow_warp
from vostool.methods.flowvos.recipe import FlowVOSRecipe
from vostool.methods.stm.losses import mask_loss
from vostool.methods.stm.training import Clip, STMTraining

FLOW_PARTS = ("FlowRegressor.", "Decoder.flow_mixer.")  # what stays trainable while the rest is frozen


class FlowVOSTraining(STMTraining):
    """``forward(batch)`` -> STM's outputs plus ``mask_flow``, ``visual_flow``, ``flow_stage``, ``seg_trainable``."""

    find_unused_parameters = True  # stage 1 leaves the flow module unused; stage 2 freezes parts

    def __init__(self, method, recipe: FlowVOSRecipe, env: TrainingEnv) -> None:
        super().__init__(method, recipe, env)
        self.segmentation_params = [p for name, p in self.network.named_parameters() if not name.startswith(FLOW_PARTS)]
        self.flow_stage = True
        if recipe.flow_mixer_init == "identity":
            identity_flow_mixer(self.network.Decoder.flow_mixer)

    def load_initial(self, method, path: str) -> None:
        """A FlowVOS checkpoint strictly, or an STM-cycle one for everything but the flow module and
        ``flow_mixer``, which keep their initialisation (the authors' stage 2 via ``load_param``)."""
        from pathlib import Path

        from vostool.methods.stm import STM
        from vostool.methods.stm.convert import has_flow_module, read_state_dict
        from vostool.weights import is_vostool_checkpoint, load_state_strict, read_checkpoint

        raw = read_checkpoint(Path(path).expanduser()) if Path(path).expanduser().is_file() else None
        if raw is None or is_vostool_checkpoint(raw) or has_flow_module(read_state_dict(raw, path, "a FlowVOS or STM-cycle")):
            super().load_initial(method, path)
            return
        checkpoint = self.env.checkpoint(STM, path, method.options)
        method.check_arch(checkpoint.arch)
        state = {k: v for k, v in self.network.state_dict().items() if k.startswith(FLOW_PARTS)}
        state.update(checkpoint.state_dict)
        load_state_strict(self.network, state, checkpoint.source, method.name)

    def train(self, mode: bool = True) -> "FlowVOSTraining":
        super().train(mode)
        if self.recipe.code_quirks:  # the authors call net.eval() once and never net.train()
            self.set_batchnorm_training(self.network, False)
        else:
            self.set_batchnorm_training(self.network.FlowRegressor, mode)
        return self

    def schedule(self, epoch: int) -> tuple[bool, bool]:
        """(flow stage, segmentation network trainable) in ``epoch`` (0-based, over the whole run)."""
        r = self.recipe
        if epoch < r.base_epochs:
            return False, True
        if r.code_quirks or r.freeze_seg_every == 0:
            return True, True
        return True, ((epoch - r.base_epochs + 1) // r.freeze_seg_every) % 2 == 1

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        infos = batch.get("info") or [{}]
        self.flow_stage, trainable = self.schedule(int(infos[0].get("epoch", 0)))
        for p in self.segmentation_params:
            p.requires_grad_(trainable)
        out = super().forward(batch)
        zero = out["loss"].detach().new_zeros(())
        out.setdefault("mask_flow", zero)
        out.setdefault("visual_flow", zero)
        out["flow_stage"] = zero + float(self.flow_stage)
        out["seg_trainable"] = zero + float(trainable)
        return out

    def teacher_forced(self, info: dict) -> bool:
        """Whether the clip described by ``info`` is teacher-forced. Drawn from the clip's identity, not
        global state: the same clip gets the same draw whatever the workers, processes or resumption."""
        seed = zlib.crc32(repr(sorted(info.items())).encode())
        return bool(torch.rand((), generator=torch.Generator().manual_seed(seed)) < self.recipe.teacher_forcing)

    def clip_losses(self, clip: Clip):
        clip.teacher_forced = self.teacher_forced(clip.info)
        return super().clip_losses(clip)

    def decoder_input(self, clip: Clip, source: int, dest: int, previous: torch.Tensor
                      ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        if not self.flow_stage:
            return None, {}
        r = self.recipe
        prev = clip.target[source] if clip.teacher_forced else previous
        flow = self.network.flow(clip.norm[source : source + 1], clip.norm[dest : dest + 1])
        warped = flow_warp(prev.unsqueeze(0), flow)[0]  # (1+K, H, W)
        decoder_mask = warped[1:].round().unsqueeze(1)  # rounded as at inference
        flow_mask = warped.round() if r.code_quirks else warped
        target = clip.target[dest]
        mask_flow = mask_loss(clip.crop(flow_mask), clip.crop(target), r.bootstrap)
        previous_fg = (prev[1:].round().sum(0, keepdim=True) > 0).float()
        warped_frame = flow_warp((clip.norm[source] * previous_fg).unsqueeze(0), flow)[0]
        target_frame = clip.norm[dest] * (target[1:].sum(0, keepdim=True) > 0).float()
        visual_flow = F.mse_loss(clip.crop(warped_frame), clip.crop(target_frame))
        return decoder_mask, {"mask_flow": r.mask_flow_weight * mask_flow, "visual_flow": r.visual_flow_weight * visual_flow}


@torch.no_grad()
def identity_flow_mixer(mixer: torch.nn.Conv2d) -> None:
    """Make ``flow_mixer`` (Conv2d 257 -> 256, 3x3) pass its first 256 input channels through and ignore the
    last (the warped mask): its output is then the decoder's upsampled features, so a segmentation network
    trained without the flow module keeps (nearly) its output when the flow stage begins, and the warped
    mask's weights grow from zero as it proves useful."""
    mixer.weight.zero_()
    mixer.bias.zero_()
    channels = mixer.out_channels
    mixer.weight[torch.arange(channels), torch.arange(channels), mixer.kernel_size[0] // 2, mixer.kernel_size[1] // 2] = 1


def training_module(method, recipe: FlowVOSRecipe | None, env: TrainingEnv | None) -> FlowVOSTraining:
    return FlowVOSTraining(method, recipe or FlowVOSRecipe(), env or TrainingEnv())

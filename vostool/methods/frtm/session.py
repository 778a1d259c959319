"""One video with FRTM: shared backbone pass per frame, one target model per object, batched refiner.

A correction (a tracked object given again) is a training sample the object's target model learns
from at once (TargetModel.correct). The refiner has no previous-mask input, so nothing else changes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vostool.methods.session import PerObjectSession, SingleObjectSession, check_finite, non_finite
from vostool.methods.frtm.augment import FirstFrameAugmenter
from vostool.methods.frtm.segnet import FRTM_TO_TORCHVISION, TARGET_STAGE
from vostool.methods.frtm.problems import BilinearStencil
from vostool.methods.frtm.target_model import TargetModel


class FrameFeatures:
    """A frame and its backbone stages, computed only as deep as someone asks."""

    def __init__(self, method, frame: torch.Tensor) -> None:
        self.network = method.network
        self.frame = frame  # (3, H, W) float in [0, 1]
        self.image255 = (frame.float() * 255).round().unsqueeze(0)  # the authors' uint8 values
        self._stages: dict[str, torch.Tensor] = {}
        # Finiteness flags not looked at yet: reading one waits for the device, so the frame's checks are
        # read together once, at the end of its prediction (one host-device sync instead of three).
        self._pending: list[tuple[torch.Tensor, str]] = []

    def stages(self, upto: str) -> dict[str, torch.Tensor]:
        if upto not in self._stages:
            self._stages = self.network.backbone.run(self.network.normalize(self.image255), upto, self._stages)
            self.defer_check(self._stages[upto], f"backbone stage {upto}")
        return self._stages

    def defer_check(self, t: torch.Tensor, what: str) -> torch.Tensor:
        self._pending.append((torch.isfinite(t).all(), what))
        return t

    def check(self) -> None:
        """Raise ModelFailure for the first deferred check that found non-finite values."""
        pending, self._pending = self._pending, []
        if pending and not bool(torch.stack([flag for flag, _ in pending]).all()):
            raise non_finite("FRTM", "values in " + next(what for flag, what in pending if not bool(flag)))

    def uint8_image(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB on the CPU, for OpenCV."""
        return self.image255[0].to(torch.uint8).permute(1, 2, 0).cpu().numpy()


class FRTMObject(SingleObjectSession):
    def __init__(self, session: "FRTMSession", target: TargetModel) -> None:
        self.session = session
        self.target = target

    def observe(self, prob: torch.Tensor) -> None:
        self.target.update(prob)


class FRTMSession(PerObjectSession):
    def __init__(self, method) -> None:
        super().__init__(merge=method.options.merge, bg_rule="min")
        self.method = method
        self.options = method.options
        self.augmenter = FirstFrameAugmenter(self.options.num_aug, self.options.inpaint)
        self._stencils: dict[tuple, BilinearStencil] = {}

    def encode(self, frame: torch.Tensor) -> FrameFeatures:
        return FrameFeatures(self.method, frame)

    def _stencil(self, low: tuple[int, int], high: tuple[int, int]) -> BilinearStencil:
        key = (low, high)
        if key not in self._stencils:
            self._stencils[key] = BilinearStencil(low, high, self.method.device)
        return self._stencils[key]

    def start_object(self, object_id: int, frame: torch.Tensor, features: FrameFeatures, mask: torch.Tensor) -> FRTMObject:
        network = self.method.network
        images, labels = self.augmenter(features.uint8_image(), mask.cpu().numpy(), seed=self.options.seed)
        original = features.stages(TARGET_STAGE)[TARGET_STAGE]
        features.check()
        if len(images) > 1:
            augmented = torch.from_numpy(images[1:]).to(frame.device).permute(0, 3, 1, 2).float()
            stage = network.backbone.run(network.normalize(augmented), TARGET_STAGE)[TARGET_STAGE]
            samples = torch.cat([original, check_finite(stage, "FRTM", "values in the augmented first-frame features")])
        else:
            samples = original
        label_tensor = torch.from_numpy(labels).to(frame.device).unsqueeze(1)
        target = TargetModel(samples.shape[1], self.options, self._stencil(tuple(samples.shape[-2:]), tuple(frame.shape[-2:])),
                             self.method.device)
        target.initialize(samples, label_tensor)
        check_finite(target.filter, "FRTM", "values in the target model (first-frame optimisation)")
        return FRTMObject(self, target)

    def reanchor_object(self, object_id: int, frame: torch.Tensor, features: FrameFeatures, mask: torch.Tensor) -> None:
        """A correction: the target model learns from the given mask at once (TargetModel.correct)."""
        obj = self.objects[object_id]
        assert isinstance(obj, FRTMObject)
        obj.target.correct(mask)
        check_finite(obj.target.filter, "FRTM", "values in the target model (update on a corrected frame)")

    def predict(self, frame: torch.Tensor, features: FrameFeatures, objects: list[SingleObjectSession]) -> torch.Tensor:
        if not self.options.refine:
            stages = features.stages(TARGET_STAGE)
            scores = torch.cat([obj.target.score(stages[TARGET_STAGE]) for obj in objects])  # type: ignore[attr-defined]
            up = F.interpolate(scores, size=tuple(frame.shape[-2:]), mode="bilinear", align_corners=False)
            out = features.defer_check(up[:, 0].clamp(0, 1), "the target model's score")
            features.check()
            return out
        stages = features.stages("layer4")
        scores = torch.cat([obj.target.score(stages[TARGET_STAGE]) for obj in objects])  # type: ignore[attr-defined]
        levels = {level: stages[stage] for level, stage in FRTM_TO_TORCHVISION.items()}
        logits = self.method.network.refiner(scores.to(levels["layer4"].dtype), levels, tuple(frame.shape[-2:]))
        out = features.defer_check(torch.sigmoid(logits.float())[:, 0], "the segmentation network output")
        features.check()
        return out

"""One video with FlowVOS: the STM-cycle session plus the flow between frames t-1 and t.

Per frame the flow module runs once on (frame t-1, frame t); the previous soft output of every object
is warped backwards with it and rounded to a mask (the authors' ``round(flow_warp(prev_mask))``), then
enters the decoder after RF2. No online gradient correction (FlowVOS disables STM-cycle's).
"""

from __future__ import annotations

import torch

from vostool.methods.flowvos.flow import flow_warp
from vostool.methods.stm.network import pad_to_multiple
from vostool.methods.stm.session import FrameState, STMSession


class FlowVOSSession(STMSession):
    def warp_masks(self, frame: FrameState, rows: list[int]) -> torch.Tensor:
        """(K, 1, H, W) previous soft outputs of the objects in ``rows``, warped to frame t and rounded."""
        assert self._prev is not None  # predict runs only once an earlier frame has objects
        prev, probs = self._prev
        flow = self.network.flow(prev.norm, frame.norm)
        previous, _ = pad_to_multiple(probs[1:][rows], self.pad)
        return flow_warp(previous.unsqueeze(0), flow).round().transpose(0, 1)

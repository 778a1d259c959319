"""One video with MUNet: STM's session with the motion-enhanced query feature.

Per frame t, Enc-Q runs once; its r4 (F^s_t) and the 1x1-reduced feature are kept, so frame t+1
uses them as F^s_t without running Enc-Q on frame t again. The MU-Layer compares the reduced
features of frames t-1 and t, MSAM fuses the motion feature into F^s_t, and the query key/value are
embedded from the result. Everything else (memory schedule, batched objects, decoder, soft
aggregation, objects that appear later) is STMSession's.
"""

from __future__ import annotations

import torch

from vostool.methods.stm.session import FrameState, STMSession


class MUNetSession(STMSession):
    def __init__(self, method) -> None:
        super().__init__(method)
        self._reduced: dict[int, torch.Tensor] = {}  # frame index -> (1, 256, h, w), the last two frames

    def _reduced_of(self, frame: FrameState) -> torch.Tensor:
        reduced = self._reduced.get(frame.index)
        if reduced is None:
            if frame.r4 is None:  # the frame was only memorised so far (e.g. the annotated frame 0)
                frame.backbone()
                frame.release()  # r4 stays
            reduced = self.network.reduce(frame.r4)
        return reduced

    def query_embedding_input(self, frame: FrameState) -> torch.Tensor:
        """F^out_t = MSAM(F^s_t, MU-Layer(F^s_t, F^s_{t-1})); F^s_t without the motion branch."""
        if not self.network.motion:
            return super().query_embedding_input(frame)
        assert self._prev is not None  # predict runs only once an earlier frame has objects
        r4 = frame.backbone()[0]
        current, previous = self._reduced_of(frame), self._reduced_of(self._prev[0])
        self._reduced = {frame.index: current}
        return self.network.enhance(r4, current, previous)

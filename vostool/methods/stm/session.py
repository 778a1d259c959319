"""One video with an STM-family network.

Per frame t: the previous frame t-1 is memorised with its soft estimate (the memory encoder batched
over all objects, its ``conv1`` on the frame computed once), the query encoder runs once, every
object reads its memory, and the decoder runs batched over objects with its object-independent skip
convolutions computed once. Objects are merged by soft aggregation with STM's background rule
(``prod(1 - p)``). Keys and values of a memorised frame are computed once: frames kept by the schedule
stay in a preallocated bank instead of being re-concatenated every step.

Objects given on a later frame form a group with its own memory bank, starting at that frame (kept
like frame 0); on that frame their pixels are exactly their mask (see PerObjectSession).

A correction (a tracked object given again on frame k) re-anchors like XMem++'s permanent memory:
frame k, with the output there (exactly the given mask for corrected objects), is memorised as a
frame that is always kept in the bank of every group with a corrected object, and it is the
"previous frame" that frame k+1 reads from (FlowVOS warps it; MUNet's motion module compares it).
"""

from __future__ import annotations

import logging

import torch

from vostool.methods.session import PerObjectSession, SingleObjectSession
from vostool.methods.stm.memory import MemoryBank
from vostool.methods.stm.network import QueryFeatures, crop_padding, pad_to_multiple

log = logging.getLogger("vostool")


class FrameState:
    """A frame, normalised and padded, with its query features computed at most once."""

    def __init__(self, session: "STMSession", frame: torch.Tensor, index: int) -> None:
        self.index = index
        self.size = tuple(frame.shape[-2:])
        padded, self.pad = pad_to_multiple(frame.unsqueeze(0), session.pad)
        self.padded_size = tuple(padded.shape[-2:])
        self.norm = session.network.normalize(padded).contiguous(memory_format=torch.channels_last)
        self.network = session.network
        self._backbone: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.r4: torch.Tensor | None = None  # kept after release(): MUNet reads the previous frame's
        self.query: QueryFeatures | None = None

    def backbone(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder_Q's (r4, r3, r2) of this frame (batch 1)."""
        if self._backbone is None:
            self._backbone = self.network.encode_query_backbone(self.norm)
            self.r4 = self._backbone[0]
        return self._backbone

    def release(self) -> None:
        """Drop what later frames never need (all but the frame and r4)."""
        self._backbone = None
        self.query = None


class STMObject(SingleObjectSession):
    def __init__(self, session: "STMSession", row: int) -> None:
        self.session = session
        self.row = row  # index in session.object_ids


class STMSession(PerObjectSession):
    def __init__(self, method) -> None:
        super().__init__(merge="soft", bg_rule="prod")
        self.method = method
        self.network = method.network
        self.options = method.options
        self.pad = self.options.resolved_pad
        # first frame -> [bank, number of objects]; insertion order = object order
        self.groups: dict[int, list] = {}
        self._current: FrameState | None = None
        self._prev: tuple[FrameState, torch.Tensor] | None = None  # previous frame, its output (1+K, H, W)
        self._anchors: dict[int, set[int]] = {}  # corrected frame -> first frames of the groups to keep it in
        self._cap_noted = False

    # -- per frame ---------------------------------------------------------------------------------
    def step(self, frame: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        self._current = None
        probs = super().step(frame, mask)
        if self._current is not None:
            self._current.release()
            self._prev = (self._current, probs)
        return probs

    def encode(self, frame: torch.Tensor) -> FrameState:
        if self._prev is not None:
            self._memorize(*self._prev)
        self._current = FrameState(self, frame, self.frame_index)
        return self._current

    def _memorize(self, prev: FrameState, probs: torch.Tensor) -> None:
        """Memorise the previous frame for every object with its soft estimate (batched)."""
        fg, _ = pad_to_multiple(probs[1:], self.pad)
        keys, values = self.network.memorize(prev.norm, fg)
        start = 0
        anchored = self._anchors.pop(prev.index, set())
        for first, (bank, count) in self.groups.items():
            bank.add(prev.index, keys[start:start + count], values[start:start + count], permanent=first in anchored)
            start += count
        if not self._cap_noted and any(bank.dropped for bank, _ in self.groups.values()):
            self._cap_noted = True
            log.warning(
                f"{self.method.name}: the memory reached max_memory_frames={self.options.max_memory_frames} at frame "
                f"{prev.index}; from here on it keeps the given frames and the most recent ones (memory_policy="
                f"{self.options.memory_policy}; --set max_memory_frames=none keeps every frame, as the authors)"
            )

    def query_embedding_input(self, frame: FrameState) -> torch.Tensor:
        """The feature the query key and value are embedded from: Encoder_Q's r4. (MUNet puts its
        motion module here, with the previous frame's ``r4`` kept on ``self._prev[0]``.)"""
        return frame.backbone()[0]

    def query(self, frame: FrameState) -> QueryFeatures:
        if frame.query is None:
            _, r3, r2 = frame.backbone()
            frame.query = self.network.query_features(self.query_embedding_input(frame), r3, r2)
        return frame.query

    def warp_masks(self, frame: FrameState, rows: list[int]) -> torch.Tensor | None:
        """Extra decoder input per object (FlowVOS: the warped previous mask). STM: none."""
        return None

    # -- objects -----------------------------------------------------------------------------------
    def start_object(self, object_id: int, frame: torch.Tensor, features: FrameState, mask: torch.Tensor) -> STMObject:
        group = self.groups.setdefault(
            self.frame_index, [MemoryBank(self.frame_index, self.options.mem_every, self.options.max_memory_frames), 0]
        )
        group[1] += 1
        return STMObject(self, len(self.objects))

    def reanchor_object(self, object_id: int, frame: torch.Tensor, features: FrameState, mask: torch.Tensor) -> None:
        """A correction: frame ``features.index`` goes into the object's group memory for good (memorised
        with the frame's output when the next frame arrives, see :meth:`_memorize`)."""
        row = self.object_ids.index(object_id)
        start = 0
        for first, (_, count) in self.groups.items():
            if start <= row < start + count:
                self._anchors.setdefault(features.index, set()).add(first)
                return
            start += count

    def predict(self, frame: torch.Tensor, features: FrameState, objects: list[SingleObjectSession]) -> torch.Tensor:
        query = self.query(features)
        reads = torch.cat([bank.read(query.key) for first, (bank, _) in self.groups.items() if first < features.index])
        rows = [obj.row for obj in objects]  # type: ignore[attr-defined]
        if rows != list(range(reads.shape[0])):
            reads = reads[rows]
        logits = self.network.read_and_decode(reads, query, features.padded_size, self.warp_masks(features, rows))
        # Non-finite values reach the output, which Session.step checks.
        return crop_padding(torch.softmax(logits.float(), dim=1)[:, 1], features.pad)

    # -- introspection (tests, benchmarks) ----------------------------------------------------------
    def memory_frames(self) -> dict[int, list[int]]:
        """First frame of each group -> frames its last read attended to (slot order)."""
        return {first: list(bank.read_frames) for first, (bank, _) in self.groups.items()}

    @property
    def memory_bytes(self) -> int:
        """Bytes allocated for memorised keys and values (all groups, spare capacity included)."""
        return sum(bank.nbytes for bank, _ in self.groups.values())

    @property
    def memory_used_bytes(self) -> int:
        """Bytes of the keys and values the last read attended to (all groups)."""
        return sum(bank.used_nbytes for bank, _ in self.groups.values())

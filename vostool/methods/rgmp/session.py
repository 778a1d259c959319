"""One video with RGMP: a stream per object (and a background stream), merged by soft aggregation.

As the authors' ``Infer_MO`` (run.py): with one object the single-object path runs (its output is fed
back as the next guidance, no background stream); with several, every object has its own stream and
the background stream runs on the union of all objects, ``P_bg = 1 - stream(union)``; the N+1 maps
are merged by soft aggregation (RGMP eq. 1) and the merged object maps are the next frame's guidance
(the background stream's guidance is their sum). Guidance is always soft, never thresholded.

Objects first given on a later frame (not in the authors' code, which takes frame 0 only) get their
own stream with that frame as reference; on that frame their pixels are exactly their mask. The
background stream is then re-encoded on that frame with the union of the merged result, because its
first reference does not contain the new objects.

A correction (a tracked object given again on frame k) re-anchors the object's stream the same way:
frame k with the given mask becomes its reference frame (replacing frame 0's), the given mask is the
guidance for frame k+1, and the background stream is re-encoded on frame k.
"""

from __future__ import annotations

import torch

from vostool.aggregate import soft_aggregate
from vostool.methods.session import Given, Session, one_hot_labels
from vostool.methods.rgmp.geometry import Geometry
from vostool.methods.rgmp.streams import StreamBank

BACKGROUND = "background"


class RGMPSession(Session):
    def __init__(self, method) -> None:
        self.method = method
        self.options = method.options
        self.object_ids: tuple[int, ...] = ()
        self.geometry: Geometry | None = None
        self.bank: StreamBank | None = None
        # The fed-back object maps of the previous frame, (K, Hp, Wp) at the padded size.
        self.previous: torch.Tensor | None = None

    @property
    def multi_object(self) -> bool:
        return len(self.object_ids) > 1

    def _setup(self, frame: torch.Tensor) -> None:
        height, width = frame.shape[-2:]
        if self.geometry is None:
            self.geometry = Geometry(height, width, tuple(self.options.scales), self.options.pad_rule)
            self.bank = StreamBank(self.method.network, self.geometry, streams_per_pass(self.options.max_batch, frame.device))
        elif (height, width) != (self.geometry.height, self.geometry.width):
            raise ValueError(f"frame size changed from {self.geometry.height}x{self.geometry.width} to {height}x{width}")

    def advance(self, frame: torch.Tensor, given: Given) -> torch.Tensor:
        self._setup(frame)
        geometry, bank = self.geometry, self.bank
        assert geometry is not None and bank is not None
        padded = geometry.pad_tensor(frame.float().unsqueeze(0))  # (1, 3, Hp, Wp), black borders
        tracked = given.tracked

        fg = bg = None
        if tracked:
            assert self.previous is not None
            keys: list = list(tracked)
            guidance = self.previous
            if len(tracked) > 1:
                keys.append(BACKGROUND)
                guidance = torch.cat([guidance, guidance.sum(dim=0, keepdim=True)])
            out = bank.propagate(padded, keys, guidance)  # non-finite values reach the output (checked)
            fg = out[:len(tracked)]
            bg = 1 - out[-1]  # the background stream, or 1 - the single object

        if not given:
            if len(tracked) > 1:
                probs = soft_aggregate(fg, bg)
            else:
                probs = torch.cat([bg.unsqueeze(0), fg])  # the single-object path: [1 - E, E]
            self.previous = probs[1:]
            return geometry.crop(probs)

        assert given.mask is not None
        given_ids = given.new_ids + given.corrected
        masks = geometry.pad_tensor(torch.stack([(given.mask == oid) for oid in given_ids]).float())
        new, corrected = masks[:len(given.new_ids)], masks[len(given.new_ids):]
        if fg is None:
            probs = one_hot_labels(geometry.pad_tensor(given.mask), tuple(given.new_ids))
        else:
            # Objects given on this frame (new or corrected) own their pixels and are exactly their mask.
            merged = soft_aggregate(Given.own_pixels(fg, new, corrected, given.rows), bg * (1 - masks.amax(dim=0)))
            probs = Given.exact(merged[:1 + len(tracked)], new, corrected, given.rows, recompute_background=True)
        self.reanchor(padded, {oid: masks[k] for k, oid in enumerate(given_ids)}, probs, len(given.object_ids) > 1)
        self.previous = probs[1:]  # the next frame's guidance: the given masks for the given objects
        return geometry.crop(probs)

    def reanchor(self, padded: torch.Tensor, masks: dict[int, torch.Tensor], probs: torch.Tensor,
                 multi_object: bool) -> None:
        """Objects given on this frame (new ones, and corrections of tracked ones) take it as their
        reference frame: ``masks`` id -> (Hp, Wp) given mask; probs (1+K, Hp, Wp) this frame's output.

        The background stream (``multi_object``: several objects after this frame) is re-encoded on the union of the output, since its
        reference no longer matches the objects' references.
        """
        assert self.bank is not None
        refs: dict = dict(masks)
        if multi_object:
            refs[BACKGROUND] = probs[1:].sum(dim=0).clamp(0, 1)
        self.bank.set(padded, refs)


def streams_per_pass(max_batch: int, device: torch.device) -> int:
    """The ``max_batch`` option resolved for a device: 0 (all streams in one pass) or a positive bound.

    On the CPU the convolutions already run at the cores' peak with one stream, and a batch of several
    only adds memory traffic (3 objects, 3 scales at 480p: 5.7 s/frame one stream at a time against
    6.7 s all at once, docs/benchmarks.md); a GPU is only filled by batches.
    """
    if max_batch > 0:
        return max_batch
    return 0 if device.type == "cuda" else 1


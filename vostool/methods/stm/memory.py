"""STM's memory: the read (attention over all memorised positions) and the bank with its schedule.

Layout: *pixels-last*. A memorised frame of ``n`` objects is ``(n, HW, C)``; a bank of ``T`` frames
reads as ``(n, T*HW, C)``. With channels-last feature maps this is a free view of the key/value
convolutions' output, and every product in the read is a plain matrix product over contiguous rows.
"""

from __future__ import annotations

import math

import torch

# Upper bound on one chunk of the affinity matrix (bytes). The softmax runs over memory positions
# independently for every query position, so splitting the query positions is exact; it keeps the
# peak memory of a read bounded however long the video (the authors hold all THW x HW at once).
READ_CHUNK_BYTES = 64 << 20


def memory_read(mem_keys: torch.Tensor, mem_values: torch.Tensor, query_key: torch.Tensor,
                chunk_bytes: int = READ_CHUNK_BYTES) -> torch.Tensor:
    """STM's memory read, for B objects (or batch items) at once.

    mem_keys: (B, M, Ck) and mem_values: (B, M, Cv) over M = T*H*W memory positions;
    query_key: (B or 1, N, Ck) over N = H*W query positions (batch 1 is shared by all B).
    Returns (B, N, Cv): for every query position, the values averaged with the weights
    ``softmax_over_M(k_M · k_Q / sqrt(Ck))`` — the dot product, no normalisation, no top-k.
    Differentiable (usable in training).
    """
    batch, positions, _ = mem_keys.shape
    # 1/sqrt(Ck) scales the (small) query instead of every affinity: one pass less over T*HW x HW
    # values; the same up to float rounding.
    query = query_key / math.sqrt(mem_keys.shape[-1])
    n = query.shape[1]
    rows = max(1, chunk_bytes // max(1, batch * positions * mem_keys.element_size()))
    keys_t = mem_keys.transpose(1, 2)
    outputs = []
    for start in range(0, n, rows):
        logits = torch.matmul(query[:, start:start + rows], keys_t)  # (B, rows, M)
        outputs.append(torch.matmul(torch.softmax(logits, dim=-1), mem_values))  # (B, rows, Cv)
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)


def to_pixels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C) (a view when ``x`` is channels-last)."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


def from_pixels_last(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W) in channels-last memory format (a view)."""
    b, _, c = x.shape
    return x.reshape(b, height, width, c).permute(0, 3, 1, 2)


class MemoryBank:
    """The memorised frames of one group of objects (those first given on the same frame).

    Schedule (STM's ``eval_DAVIS.py``): the group's first frame, every ``every``-th frame of the video
    after it, and the previous frame, which is read once and kept only if scheduled or permanent.
    ``max_frames=None`` is the authors' unlimited memory.

    *Permanent* frames are those whose masks were given (the group's first frame, and frames added
    with ``permanent=True``: a user's correction): they are never dropped, as the permanent memory of
    XMem++ (mbzuai-metaverse/XMem2, ``inference/memory_manager.py``, commit f2bf623). With
    ``max_frames`` a read attends to at most that many frames (long-video policy ``recent``): the
    permanent frames, the previous frame and the most recent scheduled frames; the oldest scheduled
    frame is dropped first. This is XMem's working memory without its long-term store
    (hkchengrex/XMem, ``inference/memory_manager.py``, commit 30bc6d9: the first frame and the most
    recent frames stay): the given masks are the only ground truth, and the recent frames resemble the
    frame being segmented most. Only permanent frames can push a read beyond ``max_frames`` (each one
    is a user's annotation).

    Without a cap frames are appended in time order, as the authors concatenate them; with a cap a
    dropped frame's slot is reused (the read is invariant to the order of memory positions).
    """

    def __init__(self, first_frame: int, every: int = 5, max_frames: int | None = None) -> None:
        if every < 1 or (max_frames is not None and max_frames < 2):
            raise ValueError("every must be >= 1 and max_frames >= 2 (first and previous frame)")
        self.first_frame = first_frame
        self.every = every
        self.max_frames = max_frames
        self.slots: list[int] = []  # frame index held in each stored slot
        self.permanent: set[int] = set()  # stored frames that are never dropped
        self.read_frames: list[int] = []  # frames of the last read set, in slot order
        self.dropped = 0  # frames dropped so far because of max_frames
        self._keys: torch.Tensor | None = None  # (n, capacity, HW, Ck)
        self._values: torch.Tensor | None = None
        self._read = 0

    def scheduled(self, frame_index: int) -> bool:
        return frame_index == self.first_frame or (frame_index > self.first_frame and frame_index % self.every == 0)

    def _ensure_capacity(self, slots: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        if self._keys is not None and self._keys.shape[1] >= slots:
            return
        capacity = max(slots, 8 if self._keys is None else 2 * self._keys.shape[1])
        if self.max_frames is not None:
            capacity = min(capacity, max(self.max_frames, slots))
        n, hw = keys.shape[:2]
        new_keys = keys.new_empty((n, capacity, hw, keys.shape[-1]))
        new_values = values.new_empty((n, capacity, hw, values.shape[-1]))
        if self._keys is not None:
            used = len(self.slots)
            new_keys[:, :used] = self._keys[:, :used]
            new_values[:, :used] = self._values[:, :used]
        self._keys, self._values = new_keys, new_values

    def _drop_oldest(self) -> int | None:
        """Free the slot of the oldest frame that is not permanent; None when all are permanent."""
        candidates = [(frame, slot) for slot, frame in enumerate(self.slots) if frame not in self.permanent]
        if not candidates:
            return None
        self.dropped += 1
        return min(candidates)[1]

    def add(self, frame_index: int, keys: torch.Tensor, values: torch.Tensor, permanent: bool = False) -> None:
        """Memorise ``frame_index`` (keys (n, HW, Ck), values (n, HW, Cv)) as the newest frame.

        It joins the read set until the next ``add``; it stays afterwards only if scheduled or
        ``permanent`` (its masks were given: never dropped). The group's first frame is permanent.
        """
        permanent = permanent or frame_index == self.first_frame
        keep = permanent or self.scheduled(frame_index)
        stored = len(self.slots)
        slot = stored
        if self.max_frames is not None and stored + 1 > self.max_frames:
            freed = self._drop_oldest()
            if freed is not None:
                slot = freed
                if not keep:  # close the gap: the last stored slot moves into the freed one
                    last = stored - 1
                    if slot != last:
                        self._keys[:, slot] = self._keys[:, last]
                        self._values[:, slot] = self._values[:, last]
                        self.slots[slot] = self.slots[last]
                    self.slots.pop()
                    slot = last
        self._ensure_capacity(slot + 1, keys, values)
        self._keys[:, slot] = keys
        self._values[:, slot] = values
        if keep:
            if slot < len(self.slots):
                self.slots[slot] = frame_index
            else:
                self.slots.append(frame_index)
            if permanent:
                self.permanent.add(frame_index)
            self._read = len(self.slots)
        else:
            self._read = len(self.slots) + 1
        self.read_frames = self.slots[: self._read] + ([] if keep else [frame_index])

    def read(self, query_key: torch.Tensor) -> torch.Tensor:
        """:func:`memory_read` over the current read set. query_key: (1, HW, Ck) -> (n, HW, Cv)."""
        if self._keys is None:
            raise RuntimeError("read from an empty memory")
        n, _, hw = self._keys.shape[:3]
        keys = self._keys[:, : self._read].reshape(n, self._read * hw, -1)
        values = self._values[:, : self._read].reshape(n, self._read * hw, -1)
        return memory_read(keys, values, query_key)

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers (including spare capacity)."""
        if self._keys is None:
            return 0
        return self._keys.numel() * self._keys.element_size() + self._values.numel() * self._values.element_size()

    @property
    def used_nbytes(self) -> int:
        """Bytes of the frames in the current read set."""
        if self._keys is None:
            return 0
        return self.nbytes * self._read // self._keys.shape[1]

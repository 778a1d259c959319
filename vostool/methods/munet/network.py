"""MUNet's network: STM's (encoders, key/value embeddings, decoder, memory read) plus the MU-Layer and
MSAM, whose motion-enhanced feature F^out replaces Enc-Q's r4 as the input of the query embedding.

Parameter names: STM's for every shared part (``Encoder_M`` = Enc-R, ``Encoder_Q`` = Enc-Q,
``KV_M_r4``, ``KV_Q_r4``, ``Decoder``), so an STM checkpoint initialises them unchanged; the new
modules are ``MULayer.*`` and ``MSAM.*``.
"""

from __future__ import annotations

import torch

from vostool.errors import WeightsError
from vostool.methods.munet.mu_layer import MSAM, MULayer
from vostool.methods.stm.convert import THIRD_CHANNEL_KEYS
from vostool.methods.stm.network import STMNetwork

NEW_PREFIXES = ("MULayer.", "MSAM.")


class MUNetNetwork(STMNetwork):
    """STM with Enc-R taking the mask only (``third_channel=None``, the paper) and the motion branch.

    ``radius``, ``sign``, ``temperature``: the MU-Layer's window half-side and soft arg-extremum
    (inference settings, not parameters).
    """

    def __init__(self, third_channel: str | None = None, fusion: str = "msam", radius: int = 12, sign: int = 1,
                 temperature: float = 1.0, motion: bool = True) -> None:
        super().__init__(third_channel)
        self.motion = motion
        if motion:  # without it (the ablation's baseline) F^out = F^s and there are no new modules
            self.MULayer = MULayer()
            self.MSAM = MSAM(fusion=fusion)
        self.radius, self.sign, self.temperature = radius, sign, temperature

    def reduce(self, r4: torch.Tensor) -> torch.Tensor:
        """Enc-Q's F^s (B, 1024, h, w) -> (B, 256, h, w), once per frame."""
        return self.MULayer.reduce(r4)

    def motion_feature(self, reduced_t: torch.Tensor, reduced_prev: torch.Tensor) -> torch.Tensor:
        """F^m (B, 1024, h, w) from the reduced features of frames t and t-1."""
        return self.MULayer(reduced_t, reduced_prev, self.radius, self.sign, self.temperature)

    def enhance(self, r4: torch.Tensor, reduced_t: torch.Tensor, reduced_prev: torch.Tensor) -> torch.Tensor:
        """F^out = MSAM(F^s_t, F^m_t): the feature the query key and value are embedded from."""
        return self.MSAM(r4, self.motion_feature(reduced_t, reduced_prev))



def stm_init_state(network: MUNetNetwork, stm_state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """``network``'s state with every key it shares with an STM-family state dict taken from it.

    Keys only MUNet has must be the new modules (``MULayer``, ``MSAM``; they keep ``network``'s
    values); keys only the STM file has must be its memory encoder's third-map convolution, which
    MUNet's Enc-R leaves out by default. Anything else is a WeightsError naming the keys.
    """
    own = network.state_dict()
    state = dict(own)
    extra = [k for k in stm_state if k not in own and k not in THIRD_CHANNEL_KEYS]
    missing = [k for k in own if k not in stm_state and not k.startswith(NEW_PREFIXES)
               and not k.endswith("num_batches_tracked")]
    if extra or missing:
        parts = ([f"{len(missing)} missing ({', '.join(missing[:3])})"] if missing else []) + (
            [f"{len(extra)} unexpected ({', '.join(extra[:3])})"] if extra else [])
        raise WeightsError(f"{source} cannot initialise munet as an STM checkpoint: {'; '.join(parts)} tensors")
    for key, value in stm_state.items():
        if key in own:
            if tuple(value.shape) != tuple(own[key].shape):
                raise WeightsError(f"{source} cannot initialise munet: {key} is {tuple(value.shape)}, expected "
                                   f"{tuple(own[key].shape)}")
            state[key] = value
    return state

"""MUNet: STM with a motion uncertainty-aware layer (MU-Layer) and motion-aware spatial attention."""

from vostool.methods.munet.method import MUNet
from vostool.methods.munet.mu_layer import MSAM, MULayer, cost_volume, soft_displacement, uncertainty_map
from vostool.methods.munet.network import MUNetNetwork, stm_init_state
from vostool.methods.munet.options import MUNetOptions

__all__ = ["MUNet", "MUNetNetwork", "MUNetOptions", "MULayer", "MSAM", "cost_volume", "soft_displacement",
           "uncertainty_map", "stm_init_state"]

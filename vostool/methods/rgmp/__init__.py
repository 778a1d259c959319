"""RGMP: Fast Video Object Segmentation by Reference-Guided Mask Propagation (Oh et al., CVPR 2018)."""

from vostool.methods.rgmp.method import RGMP
from vostool.methods.rgmp.network import RGMPNetwork
from vostool.methods.rgmp.options import RGMPOptions

__all__ = ["RGMP", "RGMPNetwork", "RGMPOptions"]

"""FRTM: Learning Fast and Robust Target Models for Video Object Segmentation (Robinson et al., CVPR 2020)."""

from vostool.methods.frtm.method import FRTM, FRTMNetwork
from vostool.methods.frtm.options import FRTMOptions

__all__ = ["FRTM", "FRTMNetwork", "FRTMOptions"]

"""TVOS: A Transductive Approach for Video Object Segmentation (Zhang et al., CVPR 2020)."""

from vostool.methods.tvos.method import TVOS
from vostool.methods.tvos.model import TVOSNetwork
from vostool.methods.tvos.options import TVOSOptions

__all__ = ["TVOS", "TVOSNetwork", "TVOSOptions"]

"""FlowVOS: STM-cycle with a weakly-supervised flow module (warped previous mask into the decoder)."""

from vostool.methods.flowvos.flow import FlowRegressor, flow_warp
from vostool.methods.flowvos.method import FlowVOS, FlowVOSNetwork, FlowVOSOptions

__all__ = ["FlowVOS", "FlowVOSNetwork", "FlowVOSOptions", "FlowRegressor", "flow_warp"]

"""Default motion refinement: none; the decoded flow is used as decoded."""

from __future__ import annotations

from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.slots import MotionRefinement, Reference


class NoRefinement(MotionRefinement):
    def forward(self, flow_hat: Tensor, ref: Reference) -> Tensor:
        return flow_hat


@hookimpl(trylast=True)
def zoo_motion_refinement(config: Config) -> nn.Module:
    return NoRefinement()


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="decoded flow used as is (default motion refinement)", default=True)

"""Default post-filter: none; the decoded frame is shown as decoded."""

from __future__ import annotations

from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.slots import PostFilter


class NoFilter(PostFilter):
    def forward(self, x_hat: Tensor, q: int) -> Tensor:
        return x_hat


@hookimpl(trylast=True)
def zoo_post_filter(config: Config) -> nn.Module:
    return NoFilter()


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="no enhancement (default post-filter)", default=True)

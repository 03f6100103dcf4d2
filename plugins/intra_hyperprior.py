"""Default intra coding: a mean-scale hyperprior image codec.

Minnen et al., NeurIPS 2018 (mean-scale hyperprior without context model),
with Ballé et al.'s GDN transforms from CompressAI's layers; its latent is
coded by the entropy model slot.
"""

from __future__ import annotations

from torch import nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.nn.layers import TransformCoder, gdn_analysis, gdn_synthesis
from zoo.slots import EntropyFactory


@hookimpl(trylast=True)
def zoo_intra_coding(config: Config, entropy: EntropyFactory) -> nn.Module:
    n, m = config.pick(lite=64, full=128), config.pick(lite=96, full=192)
    return TransformCoder(gdn_analysis(3, n, m), gdn_synthesis(m, n, 3), entropy(m, "intra"))


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="mean-scale hyperprior image codec (default intra coding)",
                      paper="Minnen et al., NeurIPS 2018", default=True)

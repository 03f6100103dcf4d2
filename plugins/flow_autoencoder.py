"""Default motion coding: the DVC flow autoencoder.

Lu et al., "DVC: An End-to-end Deep Video Compression Framework", CVPR 2019:
four stride-2 3x3 convolutions with GDN to a latent at 1/16, coded by the
entropy model slot, and the mirror synthesis back to a flow field.

Inferred: the flow is coded in units of ``FLOW_SCALE`` pixels. DVC trains on
Vimeo-90k's small motion; on the zoo's clips (up to 45 px between frames in a
128² crop) the unscaled flow drove the latent to collapse within 50 steps
(the warped prediction no better than the unwarped reference), where the
scaled one learns (``runs`` of 150 steps: 16.9 to 20.9 dB on a fixed batch).
"""

from __future__ import annotations

from torch import nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.nn.layers import TransformCoder, gdn_analysis, gdn_synthesis
from zoo.slots import EntropyFactory

#: Pixels per unit of the coded flow.
FLOW_SCALE = 4.0


@hookimpl(trylast=True)
def zoo_motion_coding(config: Config, entropy: EntropyFactory) -> nn.Module:
    n, m = config.pick(lite=64, full=128), config.motion_latent_channels
    return TransformCoder(gdn_analysis(2, n, m, 3), gdn_synthesis(m, n, 2, 3), entropy(m, "motion"),
                          scale=FLOW_SCALE)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="DVC flow autoencoder (default motion coding)",
                      paper="Lu et al., CVPR 2019", default=True)

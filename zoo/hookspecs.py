"""The architecture of codec-zoo, one hook per stage of a P-frame codec.

A P-frame travels through the slots in this order::

    x, ref ─► motion_estimation ─► motion_coding ─► motion_refinement
                 (encoder only)      (bits)          (decoder side)
          ─► temporal_context ─► residual_domain ⟵ fusion ─► post_filter ─► x̂
             (prediction,         (bits; the           (enhancement,
              context pyramid)     reconstruction)      in or out of loop)

and every coded latent goes through ``entropy_model``. I-frames go through
``intra_coding``; ``compose`` builds a whole model out of others (ensembles).

Each slot hook is a factory: it returns an ``nn.Module`` honouring the contract
in :mod:`zoo.slots`, or None to pass. Only active plugins are asked (see
``zoo run --plugins``); the built-in defaults answer last (``trylast``), so a
plugin that fills a slot replaces the default. Hook names carry the ``zoo_``
prefix, as pytest's carry ``pytest_``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from torch import nn

    from .config import Config
    from .plugin_info import PluginInfo
    from .slots import EntropyFactory, FusionFactory

PROJECT = "codec_zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# ---------------------------------------------------------------- plugin facts


@hookspec
def zoo_describe() -> "PluginInfo":
    """Describe this plugin: summary, paper, what it requires and excludes.

    Its name is the entry-point name and its slots are the slot hooks it
    implements: the zoo derives both.
    """


@hookspec
def zoo_register_models(register: Callable[..., None]) -> None:
    """Contribute named models to the registry.

    Call ``register(name, plugins=[...], preset="lite", options={}, weights=None,
    sha256=None, paper="", description="")``; ``weights`` is an absolute path,
    e.g. ``Path(__file__).parent / "weights" / "model.safetensors"``.
    """


# ---------------------------------------------------------- the P-frame slots


@hookspec(firstresult=True)
def zoo_motion_estimation(config: "Config") -> "nn.Module | None":
    """1. Optical flow from the current and the reference frame (encoder side)."""


@hookspec(firstresult=True)
def zoo_motion_coding(config: "Config", entropy: "EntropyFactory") -> "nn.Module | None":
    """2. The flow autoencoder: codes the flow, returns the decoded flow."""


@hookspec(firstresult=True)
def zoo_motion_refinement(config: "Config") -> "nn.Module | None":
    """3. Decoder-side refinement of the decoded flow, at no cost in bits."""


@hookspec(firstresult=True)
def zoo_temporal_context(config: "Config") -> "nn.Module | None":
    """4. Motion compensation: the prediction and the context pyramid."""


@hookspec(firstresult=True)
def zoo_residual_domain(config: "Config", entropy: "EntropyFactory",
                        fusion: "FusionFactory") -> "nn.Module | None":
    """5. How the frame is coded against the context, and reconstructed.

    Pixel or feature residuals, conditional coding, masked residuals: the
    module owns its transforms and decodes the frame (the reconstruction).
    """


@hookspec(firstresult=True)
def zoo_fusion(config: "Config", channels: int) -> "nn.Module | None":
    """6. How conditional information enters the contextual transforms."""


@hookspec(firstresult=True)
def zoo_entropy_model(config: "Config", channels: int) -> "nn.Module | None":
    """7. How a latent of ``channels`` channels becomes bytes (motion, residual, intra)."""


@hookspec(firstresult=True)
def zoo_post_filter(config: "Config") -> "nn.Module | None":
    """8. Enhancement of the decoded frame, in or out of the coding loop."""


# ------------------------------------------------------------ whole models


@hookspec(firstresult=True)
def zoo_intra_coding(config: "Config", entropy: "EntropyFactory") -> "nn.Module | None":
    """9. The I-frame codec."""


@hookspec(firstresult=True)
def zoo_compose(config: "Config", build_model: Callable[[str], Any]) -> "nn.Module | None":
    """A whole codec made of registry models, e.g. an ensemble.

    ``build_model(name)`` returns the named registry model, weights loaded.
    The result offers the methods of :class:`zoo.pipeline.PFrameCodec`. Members
    named by the plugin's ``members`` option count as its components in
    ``zoo ablate``'s table.
    """

"""The architecture of codec-zoo, one hook per stage of a P-frame codec.

A P-frame travels through the slots in this order::

    x, ref ─► motion_estimation ─► motion_coding ─► motion_refinement
                 (encoder only)      (bits)          (decoder side)
          ─► temporal_context ─► residual_domain ⟵ fusion ─► post_filter ─► x̂
             (prediction,         (bits; the           (enhancement,
              context pyramid)     reconstruction)      in or out of loop)

and every coded latent goes through ``entropy_model``. I-frames go through
``intra_coding``; ``compose`` builds a whole model out of others (ensembles).
With the pipeline's own option ``skip`` (``--option pipeline.skip=true``), the
encoder may code a P-frame as its prediction alone: no residual latent, the
prediction through the post-filter as the picture (:mod:`zoo.core.pipeline`).
With ``filter_choice``, the encoder may show a P-frame without the post-filter
where that is closer to the source: its record holds an empty latent
``unfiltered`` (no bytes; the record's schema says it).

Dispatch (:meth:`zoo.core.manager.Selection.build`): each slot hook is a factory
that returns an ``nn.Module`` honouring the contract in :mod:`zoo.slots`, or
None to pass. A model's active plugins are the requested ones (``--plugins``;
at most one per slot) and the default of every slot; no other plugin is
asked. They are asked in pluggy's call order (``tryfirst``, then the others,
the later-registered first, then ``trylast``), one at a time, and the first
module returned fills the slot: pluggy's ``firstresult``, called plugin by
plugin so that the zoo knows which one answered. A default plugin
(``PluginInfo(default=True)``) marks its slot hooks ``trylast``, so it answers
only when no requested plugin does: an entropy model that returns None for a
latent it does not serve leaves that latent to the default. Two defaults for
one slot are an error that names both packages.

The other hooks are asked of every loaded plugin (``zoo_describe``,
``zoo_register_models``, ``zoo_register_commands``) or of a model's active
plugins (``zoo_register_stages``, ``zoo_register_losses``), each plugin once.
Hook names carry the ``zoo_`` prefix, as pytest's carry ``pytest_``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from torch import nn

    from zoo.slots import EntropyFactory, FusionFactory
    from .config import Config
    from .plugin_info import PluginInfo

PROJECT = "codec_zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# ---------------------------------------------------------------- plugin facts


@hookspec
def zoo_describe() -> "PluginInfo":
    """Describe this plugin: summary, paper, rules, options (:class:`~zoo.core.plugin_info.PluginInfo`).

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


@hookspec
def zoo_register_commands(register: Callable[..., Any]) -> None:
    """Contribute ``zoo`` subcommands, as llm's ``register_commands``.

    ``parser = register(name, function, help="")`` adds ``zoo NAME`` and returns
    its ``argparse.ArgumentParser`` for the command's arguments;
    ``function(args)`` runs it. A ``ZooError`` it raises is a one-line error
    (exit code 2). A name the zoo or another plugin already uses is refused.
    """


# ---------------------------------------------------------------- training


@hookspec
def zoo_register_stages(register: Callable[..., None], config: "Config") -> None:
    """Contribute training stages (``zoo train``), asked when the plugin is active.

    ``register(name, trains=("post_filter",), loss=None, frames=2, lr=1e-4,
    default=True)``: the stage trains the codec attributes ``trains`` (slots
    that hold a module directly) with the rest frozen, on P-frames coded
    ``frames - 1`` at a time. ``loss(x, out, distortion)`` is the loss of one
    coded frame ``x`` (``out``: the codec's ``forward`` output; ``distortion(x,
    x_hat)``: the run's λ-weighted distortion); None: rate + distortion.
    ``default``: run it when ``--stages`` is not given (after the built-in
    stages).
    """


@hookspec
def zoo_register_losses(register: Callable[..., None], config: "Config") -> None:
    """Contribute loss terms to P-frame stages, asked when the plugin is active.

    ``register(name, term, stages=("residual", "joint", "multi-frame"),
    weight=1.0)``: ``weight * term(x, out)`` is added to the loss of every
    coded frame of those stages, and logged as ``name``.
    """


# ---------------------------------------------------------- the P-frame slots


@hookspec(firstresult=True)
def zoo_motion_estimation(config: "Config") -> "nn.Module | None":
    """1. Optical flow from the current and the reference frame (encoder side)."""


@hookspec(firstresult=True)
def zoo_motion_coding(config: "Config", entropy: "EntropyFactory") -> "nn.Module | None":
    """2. Motion coding: codes the flow (given the reference, whose ``flow`` is the previous
    decoded flow, and, on the encoder side, the frame being coded to a coder that names a
    ``target`` parameter), returns the decoded flow. A coder that offers alternatives has
    each P-frame coded with every one, and the cheapest in bits + λ·255²·SSE/3 kept."""


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
    The features it returns are the next reference's; an I-frame's reference
    gets those of its ``intra_feature(frame)`` when it has one.
    """


@hookspec(firstresult=True)
def zoo_fusion(config: "Config", channels: int, levels: int) -> "nn.Module | None":
    """6. How conditional information enters the contextual transforms, at ``levels``
    fusion points (3 in the papers' layout; 1, at 1/8, in the lite block transforms)."""


@hookspec(firstresult=True)
def zoo_entropy_model(config: "Config", channels: int, latent: str,
                      context_channels: int) -> "nn.Module | None":
    """7. How a latent of ``channels`` channels becomes bytes.

    ``latent`` says which: ``"intra"``, ``"motion"`` or ``"residual"``;
    ``context_channels`` is the depth of the temporal context the residual
    domain offers to condition on (0: none). Return None for a latent this
    plugin does not serve: the slot's default codes it.
    """


@hookspec(firstresult=True)
def zoo_post_filter(config: "Config") -> "nn.Module | None":
    """8. Enhancement of the decoded frame, in or out of the coding loop."""


# ------------------------------------------------------------ whole models


@hookspec(firstresult=True)
def zoo_intra_coding(config: "Config", entropy: "EntropyFactory") -> "nn.Module | None":
    """9. The I-frame codec; one that sets ``any_size`` codes only the visible frame and the
    core pads its picture (:class:`zoo.slots.IntraCoding`)."""


@hookspec(firstresult=True)
def zoo_compose(config: "Config", build_model: Callable[[str], Any]) -> "nn.Module | None":
    """A whole codec made of registry models, e.g. an ensemble.

    ``build_model(name)`` returns the named registry model, weights loaded.
    The result offers the methods of :class:`zoo.core.pipeline.PFrameCodec` (``compress``
    with its ``referenced`` flag and ``visible`` size, ``intra_compress`` and
    ``intra_decompress`` with theirs, which it hands its members). Members
    named by the plugin's ``members`` option count as its components in
    ``zoo ablate``'s table.
    """

"""The slot contract: what each slot module receives and returns.

Tensors are batched ``(B, C, H, W)`` float32. Frames are RGB in ``[0, 1]`` and
already padded by the pipeline to a multiple of :data:`ALIGNMENT`, so every
slot sees sizes it can halve four times for the latents and twice more for the
hyper-latents. During coding ``B == 1``.

Every module that writes bytes follows CompressAI's ``forward`` / ``compress``
/ ``decompress`` split, and ``compress`` returns the reconstruction the decoder
will compute, so encoder and decoder stay in step bit-exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import Tensor, nn

#: Frames are padded to a multiple of this (y at 1/16, z at 1/64).
ALIGNMENT = 64

#: A coded latent: the entropy coder's strings (each one ``bytes``).
Strings = list[bytes]


@dataclass
class Reference:
    """What the decoder keeps from the previous frame."""

    frame: Tensor  #: decoded frame, padded, (B, 3, H, W)
    #: decoded features, (B, channels, H/s, W/s), if the residual domain propagates them
    feature: Tensor | None = None
    flow: Tensor | None = None  #: last decoded flow, (B, 2, H, W), for P-frames after the first


@dataclass
class Context:
    """Temporal context: the motion-compensated prediction and its features."""

    prediction: Tensor  #: warped reference frame x̄, (B, 3, H, W)
    #: pyramid at strides s, 2s, 4s (s = ``Config.feature_scale``), each (B, channels, H/., W/.)
    features: list[Tensor]


@dataclass
class Payload:
    """Everything one frame puts in the bitstream."""

    latents: dict[str, Strings]  #: named coded latents, e.g. "motion", "residual"
    side: dict[str, int] = field(default_factory=dict)  #: small integers, e.g. an ensemble member


class EntropyModel(nn.Module):
    """Slot ``entropy_model``: latents ``y`` (B, channels, h, w) to bytes and back.

    ``forward`` returns ``{"y_hat": Tensor, "likelihoods": {name: Tensor}}``;
    ``compress`` returns ``(strings, y_hat)``; ``decompress(strings, (h, w))``
    returns ``y_hat``. ``h`` and ``w`` are multiples of 4. A model built with
    ``context_channels > 0`` takes one more argument in each method, the
    latent's temporal prior ``context`` (B, context_channels, h, w), which the
    decoder has too (DCVC's temporal prior).
    """


#: Builds an entropy model: ``entropy(channels, latent, context_channels=0)``,
#: ``latent`` naming what it codes ("intra", "motion", "residual"). Slots receive
#: this instead of building their own, so the entropy-model plugin serves them
#: all. What it builds is wrapped with per-quality gains: its methods take ``q``
#: (and then the context).
EntropyFactory = Callable[..., nn.Module]


class MotionEstimation(nn.Module):
    """Slot ``motion_estimation``: ``forward(x, ref_frame) -> flow`` (B, 2, H, W), in pixels."""


class MotionCoding(nn.Module):
    """Slot ``motion_coding``: codes the flow, returns the decoded flow.

    ``forward(flow, q, ref) -> {"x_hat": flow_hat, "likelihoods"}``;
    ``compress(flow, q, ref) -> (strings, flow_hat)``;
    ``decompress(strings, (H, W), q, ref) -> flow_hat``. ``ref`` is the
    :class:`Reference` (its ``flow``, the previous P-frame's decoded flow, may
    predict this one; None after an I-frame); a coder may ignore it, and callers
    that code a flow alone (the motion-coding training stage) pass none. A
    ``forward`` or ``compress`` that names a ``target`` parameter also gets the
    frame being coded, (B, 3, H, W), as keyword, to choose what it sends by the
    prediction it gives (encoder side: ``decompress`` never has it; callers that
    code a flow alone pass none); one that does not name it is called without.
    A coder may offer ``alternatives(q) -> n``, ways to code a flow at quality
    ``q`` (the encoder's mode decision): ``compress`` then takes ``alternative``
    (1..n-1 as keyword; 0, what ``forward`` codes, is the default), the
    pipeline's encoder codes the P-frame with each and keeps the cheapest, and
    the record tells ``decompress`` which.
    """


class MotionRefinement(nn.Module):
    """Slot ``motion_refinement``: ``forward(flow_hat, ref) -> flow_hat``, decoder side, no bits."""


class TemporalContext(nn.Module):
    """Slot ``temporal_context``: ``forward(ref, flow_hat) -> Context``. One that requires a
    ``prediction-only`` residual domain may give no feature pyramid (reading it raises)."""


class Fusion(nn.Module):
    """Slot ``fusion``: how the context pyramid enters the contextual transforms.

    ``encode(level, h, c)`` inside the analysis transform and ``decode(level, h, c)``
    inside the synthesis transform, at the ``levels`` fusion points it was built
    for: 0, 1, 2 (scales 1, 1/2, 1/4 of the finest features) in the papers'
    contextual transforms, 0 alone (at 1/8) in the lite block transforms;
    ``h`` and ``c`` both have ``channels`` channels; the result has as many.
    """

    def encode(self, level: int, h: Tensor, c: Tensor) -> Tensor:
        raise NotImplementedError

    def decode(self, level: int, h: Tensor, c: Tensor) -> Tensor:
        raise NotImplementedError


#: Builds the fusion module for transforms ``channels`` wide with ``levels`` fusion points.
FusionFactory = Callable[[int, int], Fusion]


class ResidualDomain(nn.Module):
    """Slot ``residual_domain``: codes the current frame against the temporal context.

    ``forward(x, ctx, ref, q) -> {"x_hat", "likelihoods", "feature"}``;
    ``compress(x, ctx, ref, q) -> (strings, x_hat, feature)``;
    ``decompress(strings, ctx, ref, q) -> (x_hat, feature)``.
    ``feature`` is what the next frame's :class:`Reference` carries (or None).
    """

    def intra_feature(self, frame: Tensor) -> Tensor | None:
        """The ``feature`` an intra-coded reference carries. None (the default): the
        temporal context extracts its own; a domain that propagates features gives
        them in its own space, so that the first P-frame is coded as the later ones."""
        return None


class PostFilter(nn.Module):
    """Slot ``post_filter``: ``forward(x_hat, q) -> x_hat``, ``q`` the quality index.

    ``in_loop`` says whether the filtered frame becomes the next reference. With the
    pipeline's option ``filter_choice`` the encoder may show a P-frame unfiltered
    (``zoo.core.pipeline``): the filter is then not called for it, in the loop or out.
    """

    in_loop: bool = False


class IntraCoding(nn.Module):
    """Slot ``intra_coding``: the I-frame codec.

    ``forward(x, q) -> {"x_hat", "likelihoods"}``; ``compress(x, q) -> (strings, x_hat)``;
    ``decompress(strings, (H, W), q) -> x_hat``. A codec that sets ``any_size`` codes the
    frame the decoder keeps: ``compress`` gets it with the padding cropped away and
    ``decompress`` gets its size; the core pads the picture as it pads a source frame
    (replicating the last row and column). Otherwise both see the padded frame.
    """

    any_size: bool = False

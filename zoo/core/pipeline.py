"""The P-frame codec: one ``nn.Module`` assembled from the slot modules."""

from __future__ import annotations

import functools
import inspect
from dataclasses import replace
from typing import Any

import torch.nn.functional as F
from compressai.models import CompressionModel
from torch import Tensor, nn

from zoo.errors import ZooError
from zoo.slots import Context, Payload, Reference
from .config import Config
from .metrics import rd_cost
from .options import PIPELINE, SKIP_WEIGHT
from .search import Search, substitute

#: An empty latent (no strings, so no bytes in the record: its schema says it) that marks a
#: P-frame shown without the post-filter (option ``filter_choice``).
UNFILTERED = "unfiltered"


@functools.cache
def _names_target(function: Any) -> bool:
    return "target" in inspect.signature(function).parameters


def target(method: Any, x: Tensor) -> dict[str, Tensor]:
    """``{"target": x}`` for a motion coder's method that names a ``target`` parameter (the
    frame being coded, encoder side; as pluggy gives a hook implementation the arguments
    it names), else nothing. The signature is read once per function (each time for an
    unhashable callable)."""
    function = getattr(method, "__func__", method)
    try:
        names = _names_target(function)
    except TypeError:  # unhashable: functools.cache cannot key on it
        names = _names_target.__wrapped__(function)
    return {"target": x} if names else {}


def alternatives(motion_coding: nn.Module, q: int) -> int:
    """How many ways a motion coder offers to code a flow at quality ``q`` (its
    ``alternatives(q)``; 1 for a coder without it)."""
    offered = getattr(motion_coding, "alternatives", None)
    return offered(q) if offered is not None else 1


class PFrameCodec(CompressionModel):
    """Low-delay P-frame codec in CompressAI's manner.

    ``forward`` trains (likelihoods per latent), ``compress`` writes bytes and
    returns the decoder's reconstruction, ``decompress`` reads them back,
    ``update()`` (inherited) builds the CDF tables. Every method works on
    padded frames and returns the :class:`Reference` for the next frame.
    ``search`` (encoder side only) substitutes each P-frame's input to the
    residual domain before it is coded (:mod:`zoo.core.search`).
    """

    search: Search | None = None

    def __init__(self, config: Config, *, motion_estimation: nn.Module, motion_coding: nn.Module,
                 motion_refinement: nn.Module, temporal_context: nn.Module,
                 residual_domain: nn.Module, post_filter: nn.Module, intra_coding: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.motion_estimation = motion_estimation
        self.motion_coding = motion_coding
        self.motion_refinement = motion_refinement
        self.temporal_context = temporal_context
        self.residual_domain = residual_domain
        self.post_filter = post_filter
        self.intra_coding = intra_coding
        self.skip = bool(config.option(PIPELINE, "skip", False))  #: encoder side: offer skipped frames
        self.skip_weight = config.option(PIPELINE, "skip_weight", SKIP_WEIGHT)
        #: the same for a frame no frame will predict from (``compress(..., referenced=False)``)
        self.skip_weight_unreferenced = config.option(PIPELINE, "skip_weight_unreferenced", self.skip_weight)
        self.criterion = config.option(PIPELINE, "criterion", "rd")  #: the encoder's choices' cost
        #: encoder side: show each P-frame filtered or not, whichever is closer to the source
        self.filter_choice = bool(config.option(PIPELINE, "filter_choice", False))
        for name in ("skip_weight", "skip_weight_unreferenced"):
            if not getattr(self, name) > 0:
                raise ZooError(f"option {PIPELINE}.{name} must be above 0, got {getattr(self, name)}")

    @property
    def qualities(self) -> int:
        return self.config.qualities

    # ------------------------------------------------------------ P-frames

    def forward(self, x: Tensor, ref: Reference, q: int) -> dict[str, Any]:
        flow = self.motion_estimation(x, ref.frame)
        motion = self.motion_coding(flow, q, ref, **target(self.motion_coding.forward, x))
        flow_hat = self.motion_refinement(motion["x_hat"], ref)
        ctx = self.temporal_context(ref, flow_hat)
        residual = self.residual_domain(x, ctx, ref, q)
        x_hat, next_ref, _ = self._finish(residual["x_hat"], residual["feature"], flow_hat, q)
        return {
            "x_hat": x_hat,
            "likelihoods": {"motion": motion["likelihoods"], "residual": residual["likelihoods"]},
            "aux": {"flow": flow, "flow_hat": flow_hat, "prediction": ctx.prediction,
                    "x_rec": residual["x_hat"]},
            "ref": next_ref,
        }

    def compress(self, x: Tensor, ref: Reference, q: int, referenced: bool = True,
                 visible: tuple[int, int] | None = None) -> tuple[Payload, Tensor, Reference]:
        """The P-frame coded with each of the motion coder's alternatives if it offers
        several, the cheapest kept (:meth:`_cost`). With the pipeline's option ``skip``,
        each is also offered as its prediction alone; the cheapest of those replaces the
        coded frame where it costs less with the distortion weighted ``skip_weight``
        (default 2: a skipped frame's error stays in the next frame, which predicts from it;
        measured in docs/evaluation.md, "Skipped frames"), or ``skip_weight_unreferenced``
        if no frame will predict from it (not ``referenced``: p-frame mode). ``visible``:
        the frame's size before padding, if ``x`` is padded (:func:`fill_padding`)."""
        flow = self.motion_estimation(x, ref.frame)
        frames = [self._compress(x, flow, ref, q, a, visible)
                  for a in range(alternatives(self.motion_coding, q))]
        cheapest = functools.partial(min, key=lambda c: self._cost(x, c[0], c[1], q))
        coded = frames[0][0] if len(frames) == 1 else cheapest(f[0] for f in frames)
        if len(frames[0]) == 1:
            return coded
        skipped = cheapest(f[1] for f in frames)
        weight = self.skip_weight if referenced else self.skip_weight_unreferenced
        if min(coded, skipped, key=lambda c: self._cost(x, c[0], c[1], q, weight)) is coded:
            return coded
        payload, x_hat, next_ref = skipped
        return payload, x_hat, self._skipped_reference(next_ref)

    def _compress(self, x: Tensor, flow: Tensor, ref: Reference, q: int, alternative: int,
                  visible: tuple[int, int] | None) -> list[tuple[Payload, Tensor, Reference]]:
        """The frame coded with the motion coder's ``alternative``; with ``skip``, then also
        as its prediction alone (a record without the residual latent; its reference's
        features are left to :meth:`_skipped_reference`, for the one frame kept). The
        residual domain codes the frame with its padding filled (:func:`fill_padding`);
        the choices weigh the frame as given."""
        more = target(self.motion_coding.compress, x) | ({"alternative": alternative} if alternative else {})
        motion_strings, flow_hat = self.motion_coding.compress(flow, q, ref, **more)
        flow_hat = self.motion_refinement(flow_hat, ref)
        ctx = self.temporal_context(ref, flow_hat)
        skipped = ([_marked({"motion": motion_strings}, *self._predicted(ctx, flow_hat, q, x))]
                   if self.skip else [])
        source, x = x, fill_padding(x, ctx.prediction, visible)
        if self.search is not None and self.search.steps > 0:
            x = substitute(self, x, ctx, ref, q, self.search)
        residual_strings, x_rec, feature = self.residual_domain.compress(x, ctx, ref, q)
        coded = self._finish(x_rec, feature, flow_hat, q, source)
        return [_marked({"motion": motion_strings, "residual": residual_strings}, *coded), *skipped]

    def _cost(self, x: Tensor, payload: Payload, x_hat: Tensor, q: int, weight: float = 1.0) -> float:
        """The training objective of a coded frame (option ``criterion``, :func:`rd_cost`):
        its strings' bits plus ``weight`` times its distortion against ``x`` (padded)."""
        bits = 8 * sum(len(s) for strings in payload.latents.values() for s in strings)
        return rd_cost(x, x_hat, bits, self.config.lambdas, q, self.criterion, weight)

    def _distortion(self, x: Tensor, x_hat: Tensor, q: int) -> float:
        """:meth:`_cost` without bits: the distortion term alone."""
        return rd_cost(x, x_hat, 0.0, self.config.lambdas, q, self.criterion)

    def decompress(self, payload: Payload, ref: Reference, q: int) -> tuple[Tensor, Reference]:
        size = tuple(ref.frame.shape[-2:])
        flow_hat = self.motion_coding.decompress(payload.latents["motion"], size, q, ref)
        flow_hat = self.motion_refinement(flow_hat, ref)
        ctx = self.temporal_context(ref, flow_hat)
        filtered = UNFILTERED not in payload.latents
        if "residual" not in payload.latents:  # a skipped frame
            x_hat, next_ref, _ = self._predicted(ctx, flow_hat, q, filtered=filtered)
            return x_hat, self._skipped_reference(next_ref)
        x_rec, feature = self.residual_domain.decompress(payload.latents["residual"], ctx, ref, q)
        x_hat, next_ref, _ = self._finish(x_rec, feature, flow_hat, q, filtered=filtered)
        return x_hat, next_ref

    def _predicted(self, ctx: Context, flow_hat: Tensor, q: int, x: Tensor | None = None,
                   filtered: bool = True) -> tuple[Tensor, Reference, bool]:
        """A frame decoded as its prediction alone (option ``skip``): the prediction through
        the post-filter, its reference without features (:meth:`_skipped_reference`)."""
        return self._finish(ctx.prediction, None, flow_hat, q, x, filtered)

    def _skipped_reference(self, ref: Reference) -> Reference:
        """A skipped frame's reference: its features are the residual domain's of a picture
        no P-frame decoded (:meth:`reference`), as after an I-frame."""
        return replace(ref, feature=self.reference(ref.frame).feature)

    def _finish(self, x_rec: Tensor, feature: Tensor | None, flow_hat: Tensor, q: int,
                x: Tensor | None = None, filtered: bool = True) -> tuple[Tensor, Reference, bool]:
        """The picture (``x_rec`` through the post-filter, unless not ``filtered``), its
        reference and whether it was filtered. With option ``filter_choice``, the encoder
        (given the source ``x``) keeps ``x_rec`` itself where that is closer to ``x`` (the
        option ``criterion``'s distortion)."""
        x_hat = self.post_filter(x_rec, q) if filtered else x_rec
        if not self.training:  # the decoder's frames are pictures: keep them in range
            x_rec, x_hat = x_rec.clamp(0.0, 1.0), x_hat.clamp(0.0, 1.0)
        if x is not None and self.filter_choice and filtered and self._distortion(x, x_rec, q) \
                < self._distortion(x, x_hat, q):
            x_hat, filtered = x_rec, False
        frame = x_hat if self.post_filter.in_loop else x_rec
        return x_hat, Reference(frame=frame, feature=feature, flow=flow_hat), filtered

    # ------------------------------------------------------------ I-frames

    def intra_forward(self, x: Tensor, q: int) -> dict[str, Any]:
        out = self.intra_coding(x, q)
        return {**out, "likelihoods": {"intra": out["likelihoods"]},
                "ref": self.reference(out["x_hat"])}

    def intra_compress(self, x: Tensor, q: int,
                       visible: tuple[int, int] | None = None) -> tuple[Payload, Tensor, Reference]:
        """``visible``: the size the decoder keeps; an ``any_size`` intra codec codes only
        that and its picture is padded as a source frame is (:func:`pad_to`)."""
        h, w = self._intra_size(x.shape[-2:], visible)
        strings, x_hat = self.intra_coding.compress(x[..., :h, :w], q)
        x_hat = self._intra_padded(x_hat.clamp(0.0, 1.0), (h, w), x.shape[-2:])
        return Payload({"intra": strings}), x_hat, self.reference(x_hat)

    def intra_decompress(self, payload: Payload, size: tuple[int, int], q: int,
                         visible: tuple[int, int] | None = None) -> tuple[Tensor, Reference]:
        coded = self._intra_size(size, visible)
        x_hat = self.intra_coding.decompress(payload.latents["intra"], coded, q).clamp(0.0, 1.0)
        x_hat = self._intra_padded(x_hat, coded, size)
        return x_hat, self.reference(x_hat)

    def _intra_size(self, size: tuple[int, int], visible: tuple[int, int] | None) -> tuple[int, int]:
        """The size the intra codec codes: the visible one if it codes ``any_size``."""
        any_size = getattr(self.intra_coding, "any_size", False)
        return tuple(visible) if any_size and visible is not None else tuple(size)

    @staticmethod
    def _intra_padded(x_hat: Tensor, coded: tuple[int, int], size: tuple[int, int]) -> Tensor:
        """An intra picture of the ``coded`` size padded to ``size`` (a picture of another
        size is left as it is, for the caller's check to name)."""
        return pad_to(x_hat, size) if tuple(x_hat.shape[-2:]) == tuple(coded) else x_hat

    def reference(self, x_hat: Tensor) -> Reference:
        """The reference a picture gives that no P-frame decoded (an I-frame's; in p-frame
        mode and in training, a given frame): with the residual domain's features of it if
        it gives any (``ResidualDomain.intra_feature``; a plugin's module need not subclass
        it), so that the first P-frame is coded as it will be after an I-frame."""
        intra_feature = getattr(self.residual_domain, "intra_feature", None)
        return Reference(frame=x_hat, feature=intra_feature(x_hat) if intra_feature else None)


def pad_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """``x`` padded right and bottom to ``size`` by replicating its last column and row."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    return F.pad(x, (0, size[1] - w, 0, size[0] - h), mode="replicate")


def fill_padding(x: Tensor, prediction: Tensor, visible: tuple[int, int] | None) -> Tensor:
    """``x`` with ``prediction`` beyond its ``visible`` size: the decoder crops the padding
    away, so the encoder chooses its content, and a residual of zero costs least there."""
    if visible is None or tuple(visible) == tuple(x.shape[-2:]):
        return x
    h, w = visible
    filled = prediction.clone()
    filled[..., :h, :w] = x[..., :h, :w]
    return filled


def _marked(latents: dict, x_hat: Tensor, ref: Reference, filtered: bool) -> tuple[Payload, Tensor, Reference]:
    """A candidate frame: its payload (with the :data:`UNFILTERED` mark if it was not
    filtered), picture and reference."""
    return Payload(latents | ({} if filtered else {UNFILTERED: []})), x_hat, ref

"""Conventional intra coding: the I-frame coded by HEVC intra (libx265 through PyAV).

Stated by the papers: DVC (Lu et al., CVPR 2019) and the implementations built
on it code I-frames with BPG (HEVC intra; QP 37, 32, 27, 22 for their four λ),
DCVC (Li et al., NeurIPS 2021) with a pretrained learned image codec
(CompressAI's cheng2020-anchor); neither trains it with the P-frame model. The
zoo's learned default, ``intra-hyperprior``, stays available.

Inferred: the zoo's RGB frame goes to 8-bit 4:2:0 with the zoo's BT.709
limited-range conversion (:mod:`zoo.io.color`; BPG's 4:4:4 would code chroma the
4:2:0 sources never had), is coded as one IDR picture at the QP of its quality
index (``qps``, default 42, 37, 32, 27, 22: the zoo's λ are close to DVC's
and extend them one step down),
single-threaded, by the x265 anchor's code (:func:`zoo.eval.anchors.encode`), and
the reconstruction is those bytes decoded by PyAV's HEVC decoder
(:func:`zoo.eval.anchors.decode`), as :meth:`decompress` does: bit-exact by
construction. Nothing trains (x265 is not differentiable): ``forward`` codes
for real and returns likelihoods whose ``-log2`` sum is the real bit count;
``zoo train`` skips the ``intra`` stage (no parameters).
"""

from __future__ import annotations

from fractions import Fraction

import torch
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.errors import ZooError
from zoo.io.color import rgb_to_yuv420, yuv420_to_rgb
from zoo.slots import EntropyFactory, IntraCoding, Strings

#: One IDR picture, one thread, colour signalled as the zoo converts it; with
#: the anchor's own options (qp, keyint=1, no SEI text, errors only in the log).
PARAMS = ("frame-threads=1:pools=none:lookahead-threads=0:repeat-headers=1:"
          "range=limited:colorprim=bt709:transfer=bt709:colormatrix=bt709")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow", "placebo")


def default_qps(qualities: int) -> tuple[int, ...]:
    """QP per quality index, 5 apart and ending at 22 (DVC's QP 37 for λ·255² = 256,
    one QP step of 5 per doubling of λ): 42, 37, 32, 27, 22 for five qualities."""
    return tuple(22 + 5 * (qualities - 1 - i) for i in range(qualities))


class X265Intra(IntraCoding):
    """``compress(x, q) -> ([hevc_bytes], x_hat)``; no parameters. HEVC codes any size
    (its conformance window): only the frame the decoder keeps is coded."""

    any_size = True

    def __init__(self, qps: tuple[int, ...], preset: str) -> None:
        super().__init__()
        self.qps, self.preset = qps, preset

    def _qp(self, q: int) -> int:
        if not 0 <= q < len(self.qps):
            raise ZooError(f"x265-intra: quality {q} is out of range (0..{len(self.qps) - 1})")
        return self.qps[q]

    def _decode(self, data: bytes, height: int, width: int) -> Tensor:
        from zoo.eval.anchors import decode  # PyAV's HEVC decoder, as the x265 anchor's
        try:
            clip, _ = decode(bytes(data), "x265", width, height)
        except ZooError as e:  # "<temporary file>: cannot decode: ..." -> the reason
            raise ZooError(f"x265-intra: the I-frame's HEVC bytes do not decode "
                           f"({str(e).rsplit(': ', 1)[-1]})") from None
        chroma = ((height + 1) // 2, (width + 1) // 2)
        shapes = [(height, width), chroma, chroma]
        if len(clip.frames) != 1 or [p.shape for p in clip.frames[0]] != shapes:
            raise ZooError(f"x265-intra: the I-frame's HEVC bytes do not decode to one "
                           f"{width}x{height} picture")
        return yuv420_to_rgb(*clip.frames[0])

    def _code(self, x: Tensor, q: int) -> tuple[bytes, Tensor]:
        from zoo.eval.anchors import encode
        from zoo.io.video import Clip
        height, width = x.shape[-2:]
        clip = Clip([rgb_to_yuv420(x[None].float())], width, height, Fraction(25))
        packets, _ = encode(clip, "x265", self._qp(q), self.preset, intra_period=1, params=PARAMS)
        (data, _), = packets
        return data, self._decode(data, height, width).to(x.device)

    def forward(self, x: Tensor, q: int) -> dict:
        coded = [self._code(item.detach(), q) for item in x]
        longest = max(len(data) for data, _ in coded)
        # Each coded byte is 8 bits: a likelihood of 1/256 per byte (exact in float32),
        # padded with likelihood 1 (0 bits) to the longest picture of the batch.
        likelihoods = x.new_ones(x.shape[0], longest)
        for row, (data, _) in zip(likelihoods, coded):
            row[:len(data)] = 1.0 / 256
        return {"x_hat": torch.cat([x_hat for _, x_hat in coded]).to(x.dtype),
                "likelihoods": {"hevc": likelihoods}}

    def compress(self, x: Tensor, q: int) -> tuple[Strings, Tensor]:
        if x.shape[0] != 1:
            raise ValueError(f"x265-intra codes one frame at a time, got a batch of {x.shape[0]}")
        data, x_hat = self._code(x[0], q)
        return [data], x_hat

    def decompress(self, strings: Strings, size: tuple[int, int], q: int) -> Tensor:
        self._qp(q)
        if len(strings) != 1:
            raise ZooError(f"x265-intra: expected 1 string (the HEVC picture), got {len(strings)}")
        return self._decode(strings[0], *size)


@hookimpl
def zoo_intra_coding(config: Config, entropy: EntropyFactory) -> nn.Module:
    del entropy  # HEVC codes the picture itself: no latent for the entropy-model slot
    qps = config.option("x265-intra", "qps", None) or default_qps(config.qualities)
    preset = config.option("x265-intra", "preset", "medium")
    if isinstance(qps, (list, tuple)):  # --option x265-intra.qps=40,35,30,25 gives strings
        qps = [int(v) if isinstance(v, str) and v.isdigit() else v for v in qps]
    if not (isinstance(qps, (list, tuple)) and len(qps) == config.qualities
            and all(isinstance(v, int) and 0 <= v <= 51 for v in qps)):
        raise ZooError(f"x265-intra: option qps must give {config.qualities} QPs in 0..51, "
                       f"got {qps!r}")
    if preset not in PRESETS:
        raise ZooError(f"x265-intra: unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    return X265Intra(tuple(qps), preset)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="HEVC intra I-frames (libx265 via PyAV), QP per quality; not trained",
                      paper="BPG/HEVC intra, as DVC (Lu et al., CVPR 2019)", api=1,
                      options=(Option("qps", list, None, "the QP of each quality index, 0..51 "
                                      "(default: 42, 37, 32, 27, 22 for five)", item=int),
                               Option("preset", str, "medium", "x265's preset", choices=PRESETS)))

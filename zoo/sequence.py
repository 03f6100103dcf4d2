"""Low-delay coding of a sequence: an I-frame, then P-frames, with an intra period."""

from __future__ import annotations

from types import TracebackType
from typing import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bitstream import FrameRecord
from .errors import ZooError
from .manager import PLUGIN_TAG
from .slots import ALIGNMENT, Reference


def padded_size(height: int, width: int) -> tuple[int, int]:
    return -(-height // ALIGNMENT) * ALIGNMENT, -(-width // ALIGNMENT) * ALIGNMENT


def pad(x: Tensor) -> Tensor:
    """Replicate-pad right and bottom to a multiple of :data:`ALIGNMENT`."""
    h, w = x.shape[-2:]
    ph, pw = padded_size(h, w)
    return F.pad(x, (0, pw - w, 0, ph - h), mode="replicate") if (ph, pw) != (h, w) else x


def plugin_in(tb: TracebackType | None) -> tuple[str, str] | None:
    """``(plugin, slot)`` of the innermost slot module running in a traceback, if any."""
    found = None
    while tb is not None:
        try:
            tag = getattr(tb.tb_frame.f_locals.get("self"), PLUGIN_TAG, None)
        except Exception:  # an object whose attribute lookup itself fails
            tag = None
        if isinstance(tag, tuple) and len(tag) == 2:
            found = tag
        tb = tb.tb_next
    return found


def _culprit(e: BaseException) -> str:
    """``ValueError in plugin 'gmm' (entropy_model)``, or the exception's type alone."""
    where = plugin_in(e.__traceback__)
    return type(e).__name__ + (f" in plugin {where[0]!r} ({where[1]})" if where else "")


def is_intra(index: int, intra_period: int) -> bool:
    """Frame ``index`` is an I-frame (intra period 0: only the first frame)."""
    return index == 0 or (intra_period > 0 and index % intra_period == 0)


@torch.inference_mode()
def encode_frames(codec: nn.Module, frames: Iterable[Tensor], quality: int,
                  intra_period: int) -> Iterator[tuple[FrameRecord, Tensor]]:
    """Yield each frame's record and the decoder's reconstruction (cropped)."""
    ref: Reference | None = None
    for index, x in enumerate(frames):
        h, w = x.shape[-2:]
        kind = "I" if is_intra(index, intra_period) else "P"
        try:
            if kind == "I":
                payload, x_hat, ref = codec.intra_compress(pad(x), quality)
            else:
                payload, x_hat, ref = codec.compress(pad(x), ref, quality)
        except ZooError:
            raise
        except Exception as e:
            if plugin_in(e.__traceback__) is None:  # not a plugin's fault: a bug, shown whole
                raise
            message = str(e).splitlines()[0][:200] if str(e) else ""
            raise ZooError(f"frame {index} cannot be encoded: {_culprit(e)}"
                           + (f": {message}" if message else "")) from e
        yield FrameRecord(kind, payload), x_hat[..., :h, :w]


@torch.inference_mode()
def decode_records(codec: nn.Module, records: Iterable[FrameRecord], height: int, width: int,
                   quality: int) -> Iterator[Tensor]:
    """Yield the decoded frames (cropped); a record that cannot be decoded is a ZooError."""
    size = padded_size(height, width)
    ref: Reference | None = None
    for index, record in enumerate(records):
        if record.kind == "P" and ref is None:
            raise ZooError(f"frame {index} is a P-frame with no reference frame before it")
        try:
            if record.kind == "I":
                x_hat, ref = codec.intra_decompress(record.payload, size, quality)
            else:
                x_hat, ref = codec.decompress(record.payload, ref, quality)
        except ZooError:
            raise
        except Exception as e:
            raise ZooError(f"frame {index} is corrupt (it does not decode: {_culprit(e)})") from e
        if not bool(torch.isfinite(x_hat).all()):  # hostile strings can decode to inf or NaN
            raise ZooError(f"frame {index} is corrupt (it decodes to non-finite values)")
        yield x_hat[..., :height, :width]

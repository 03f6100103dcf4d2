"""Low-delay coding of a sequence: an I-frame, then P-frames, with an intra period."""

from __future__ import annotations

import itertools
import os
import zlib
from contextlib import contextmanager
from types import TracebackType
from typing import Iterable, Iterator

import torch
from torch import Tensor, nn

from zoo.errors import ZooError
from zoo.io.bitstream import FrameRecord, check_record
from zoo.io.color import rgb_to_yuv420
from zoo.slots import ALIGNMENT, Reference
from .budget import ComputeBudget
from .manager import PLUGIN_TAG
from .pipeline import pad_to


#: CPU coding runs on this many intra-op threads (default 1): a convolution's float
#: sums depend on how its work is split, and a P-frame decoder must rebuild the
#: encoder's references exactly (measured: of six streams encoded on one thread,
#: three failed their frame checksums when decoded on two). Encoder and decoder
#: must agree on it; parallelism comes from processes (``zoo eval --workers``).
CODING_THREADS_ENV = "ZOO_CODING_THREADS"


def coding_threads() -> int:
    value = os.environ.get(CODING_THREADS_ENV, "") or "1"
    if not value.isdigit() or int(value) < 1:
        raise ZooError(f"${CODING_THREADS_ENV} must be a positive integer, got {value!r}")
    return int(value)


@contextmanager
def pinned_threads(device: torch.device) -> Iterator[None]:
    """Torch's intra-op threads set to :func:`coding_threads` on the CPU, then restored."""
    if device.type != "cpu":
        yield
        return
    before, wanted = torch.get_num_threads(), coding_threads()
    if before != wanted:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if before != wanted:
            torch.set_num_threads(before)


def padded_size(height: int, width: int) -> tuple[int, int]:
    return -(-height // ALIGNMENT) * ALIGNMENT, -(-width // ALIGNMENT) * ALIGNMENT


def pad(x: Tensor) -> Tensor:
    """Replicate-pad right and bottom to a multiple of :data:`ALIGNMENT`."""
    return pad_to(x, padded_size(*x.shape[-2:]))


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


def device_of(codec: nn.Module) -> torch.device:
    """Where a codec's weights are (the CPU for one with none): its frames go there."""
    for tensor in itertools.chain(codec.parameters(), codec.buffers()):
        return tensor.device
    return torch.device("cpu")


def is_intra(index: int, intra_period: int) -> bool:
    """Frame ``index`` is an I-frame (intra period 0: only the first frame)."""
    return index == 0 or (intra_period > 0 and index % intra_period == 0)


def picture_crc(x: Tensor) -> int:
    """CRC-32 of a frame (RGB, cropped) as the 8-bit 4:2:0 planes Y, U, V written for it."""
    return zlib.crc32(b"".join(p.tobytes() for p in rgb_to_yuv420(x)))


def _frame_problem(x_hat: object, size: tuple[int, int]) -> str | None:
    """What is wrong with a frame a codec returned, if anything: encoder and decoder both ask."""
    if not isinstance(x_hat, Tensor) or tuple(x_hat.shape) != (1, 3, *size):
        got = tuple(x_hat.shape) if isinstance(x_hat, Tensor) else type(x_hat).__name__
        return f"the codec returned a frame of {got}, not (1, 3, {size[0]}, {size[1]})"
    if not bool(torch.isfinite(x_hat).all()):  # hostile strings can decode to inf or NaN
        return "it decodes to non-finite values"
    return None


@torch.inference_mode()
def encode_frames(codec: nn.Module, frames: Iterable[Tensor], quality: int,
                  intra_period: int) -> Iterator[tuple[FrameRecord, Tensor]]:
    """Yield each frame's record and the decoder's reconstruction (cropped). The encoder
    checks what the decoder will: the compute budget, the frame, the payload."""
    ref: Reference | None = None
    device = device_of(codec)
    for index, x in enumerate(frames):
        h, w = x.shape[-2:]
        size = padded_size(h, w)
        kind = "I" if is_intra(index, intra_period) else "P"
        refused = f"frame {index} cannot be encoded"
        try:
            with pinned_threads(device), ComputeBudget(size[0] * size[1], refused):
                if kind == "I":
                    payload, x_hat, ref = codec.intra_compress(pad(x).to(device), quality, visible=(h, w))
                else:
                    payload, x_hat, ref = codec.compress(pad(x).to(device), ref, quality, visible=(h, w))
        except ZooError:
            raise
        except Exception as e:
            if plugin_in(e.__traceback__) is None:  # not a plugin's fault: a bug, shown whole
                raise
            message = str(e).splitlines()[0][:200] if str(e) else ""
            raise ZooError(f"{refused}: {_culprit(e)}" + (f": {message}" if message else "")) from e
        problem = _frame_problem(x_hat, size)
        if problem:
            raise ZooError(f"{refused}: {problem}")
        x_hat = x_hat[..., :h, :w].cpu()
        record = FrameRecord(kind, payload, picture_crc(x_hat))
        try:
            check_record(record)
        except ValueError as e:
            raise ZooError(f"{refused}: its payload does not fit the bitstream ({e})") from None
        yield record, x_hat


@torch.inference_mode()
def decode_records(codec: nn.Module, records: Iterable[FrameRecord], height: int, width: int,
                   quality: int) -> Iterator[Tensor]:
    """Yield the decoded frames (cropped); a record that cannot be decoded, or decodes to
    another picture than the encoder's (its checksum), is a ZooError naming the first such frame."""
    size = padded_size(height, width)
    device = device_of(codec)
    ref: Reference | None = None
    for index, record in enumerate(records):
        if record.kind == "P" and ref is None:
            raise ZooError(f"frame {index} is a P-frame with no reference frame before it")
        try:
            with pinned_threads(device), ComputeBudget(size[0] * size[1], f"frame {index} cannot be decoded"):
                if record.kind == "I":
                    x_hat, ref = codec.intra_decompress(record.payload, size, quality,
                                                          visible=(height, width))
                else:
                    x_hat, ref = codec.decompress(record.payload, ref, quality)
        except ZooError:
            raise
        except Exception as e:
            raise ZooError(f"frame {index} is corrupt (it does not decode: {_culprit(e)})") from e
        problem = _frame_problem(x_hat, size)
        if problem:
            raise ZooError(f"frame {index} is corrupt ({problem})")
        x_hat = x_hat[..., :height, :width].cpu()
        if picture_crc(x_hat) != record.checksum:
            raise ZooError(f"frame {index} differs from the encoder's picture (checksum mismatch): "
                           f"the stream was altered, or this decoder computes otherwise")
        yield x_hat

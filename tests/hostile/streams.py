"""Crafted bitstreams. Each generator takes the frame size, so that
``scripts/hostile_bench.py`` can run it at the largest size the decoder allows;
every CRC is valid, so the decoder itself meets what they ask for."""

from __future__ import annotations

import copy
import random
import struct
from fractions import Fraction

import numpy as np
import torch

from zoo.core.build import ModelSpec
from zoo.core.coding import encode_clip
from zoo.core.models import OpenModel, open_model
from zoo.io import bitstream
from zoo.io.bitstream import FrameRecord, Header
from zoo.io.video import Clip
from zoo.slots import Payload

#: A model of few weights and enormous compute: 193M weights (under the build budget),
#: 189M multiply-accumulates per pixel.
REFINER_512x40 = {"refiner": {"channels": 512, "blocks": 40}}
#: Narrow enough, but 11.8M multiply-accumulates per pixel.
REFINER_128x40 = {"refiner": {"channels": 128, "blocks": 40}}
#: Within the compute budgets (9.4M MACs/pixel, 256 values a layer), past the memory budget
#: at large frames: ~4 KB of tensors alive per pixel.
REFINER_256x8 = {"refiner": {"channels": 256, "blocks": 8}}
#: Within every budget, close to their limits: 9.4M MACs and ~2.1 KB alive per pixel.
REFINER_128x32 = {"refiner": {"channels": 128, "blocks": 32}}


def synthetic_clip(width: int, height: int, frames: int) -> Clip:
    """A smooth moving gradient (8-bit 4:2:0)."""
    ys, xs = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        y = (16 + (xs * 3 + ys * 2 + 5 * t) % 220).astype(np.uint8)
        chroma = y[::2, ::2] // 2 + 64
        out.append((y, chroma.copy(), (255 - chroma).astype(np.uint8)))
    return Clip(out, width, height, Fraction(25))


def untrained(plugins: tuple[str, ...] = (), options: dict | None = None,
              preset: str = "lite") -> OpenModel:
    return open_model(spec=ModelSpec(plugins, preset, options or {}), untrained=True)


def header_for(model: OpenModel, width: int, height: int, frames: int, intra_period: int = 1,
               quality: int = 3) -> Header:
    return Header(model=model.header_model(), weights_sha256=model.sha256, quality=quality,
                  width=width, height=height, frame_count=frames, fps=Fraction(25),
                  intra_period=intra_period, implementations=model.implementations)


def gmm_side_info(width: int, height: int, frames: int = 1, components: int = 3) -> bytes:
    """I-frames of the ``gmm`` model whose side information asks for every latent channel
    (the strings are garbage: the picture differs from the recorded checksum; the
    mixture's parameters decoded from them size each element's CDF, up to
    2 * MAX_ABS + 3 entries). The mixture codes the intra latent (option ``gmm.latents``)."""
    model = untrained(("gmm",), {"gmm": {"latents": ["intra"], "components": components}})
    channels = model.codec.intra_coding.entropy.model.channels
    side = np.packbits(np.ones(channels, np.uint8)).tobytes()
    rng = random.Random(0)
    record = FrameRecord("I", Payload({"intra": [side, rng.randbytes(4096), rng.randbytes(64)]}))
    return bitstream.dumps(header_for(model, width, height, frames), [record] * frames)


def costly_model(width: int, height: int, options: dict) -> bytes:
    """An I-frame the model encoded, then a P-frame (garbage strings) whose decoding runs
    the ``refiner`` of ``options`` (the full preset's: at full resolution, as the budgets
    above were computed)."""
    model = untrained(("refiner",), options, preset="full")
    _, (intra, *_), _ = encode_clip(model, synthetic_clip(width, height, 1), 3, 0)
    rng = random.Random(1)
    p = FrameRecord("P", Payload({"motion": [rng.randbytes(64), rng.randbytes(16)],
                                  "residual": [rng.randbytes(64), rng.randbytes(16)]}))
    return bitstream.dumps(header_for(model, width, height, 2, intra_period=0), [intra, p])


def many_frames(width: int, height: int, frames: int) -> bytes:
    """One real I-frame of the default model, ``frames`` times: a few kilobytes that decode
    to ``frames`` whole pictures (each matching its checksum)."""
    model = untrained()
    _, (record,), _ = encode_clip(model, synthetic_clip(width, height, 1), 3, 1)
    return bitstream.dumps(header_for(model, width, height, frames), [record] * frames)


def real_stream(width: int = 72, height: int = 48, frames: int = 3) -> tuple[Header, list[FrameRecord]]:
    """The default model's stream of a synthetic clip (intra period 2: I P I)."""
    header, records, _ = encode_clip(untrained(), synthetic_clip(width, height, frames), 1, 2)
    return header, records


def other_implementation(package: str = "zoo-evil 6.6.6") -> bytes:
    """A stream whose header says its ``hyperprior`` came from another package."""
    header, records = real_stream()
    header.implementations = {**header.implementations, "hyperprior": package}
    return bitstream.dumps(header, records)


def drifted(frame: int = 1) -> bytes:
    """A stream whose frame ``frame`` was reconstructed otherwise by its encoder (another
    CPU): its checksum differs from what this decoder makes of it."""
    header, records = real_stream()
    records = copy.deepcopy(records)
    records[frame].checksum ^= 0x5A5A
    return bitstream.dumps(header, records)


def old_version(version: int) -> bytes:
    """A stream that says it is of an older ``version`` (1: no implementations, no frame
    checksums; 2: latent names and 32-bit lengths in every record). The reader refuses it
    at that byte, so the rest is the current layout."""
    data = bytearray(bitstream.dumps(*real_stream()))
    data[bitstream.layout(data).fields["version"][0]] = version
    return bytes(data)


def truncated() -> bytes:
    """A real stream missing the last byte of its last record's CRC."""
    return bitstream.dumps(*real_stream())[:-1]


def flipped_length(frame: int = 1) -> bytes:
    """A real stream with one bit flipped in the first string length of record ``frame``
    (found with :func:`zoo.io.bitstream.layout`; the default model's records have no side
    values, so it is the first varint): its strings no longer line up with its CRC."""
    data = bytearray(bitstream.dumps(*real_stream()))
    start, _ = bitstream.layout(data).records[frame]
    data[start + bitstream.RECORD_HEAD.size] ^= 0x01
    return bytes(data)


def nan_weights(codec: torch.nn.Module) -> None:
    """One weight tensor of the intra analysis transform becomes NaN (as a bad export would)."""
    with torch.no_grad():
        codec.intra_coding.g_a[0].weight[0, 0, 0, 0] = float("nan")

"""Crafted bitstreams given to ``zoo decode``."""

from __future__ import annotations

import os
from pathlib import Path

from . import Case, Run, frames_in, only, streams


def decode(data: bytes, *flags: str, env: dict[str, str] | None = None):
    def make(folder: Path) -> Run:
        (folder / "s.bin").write_bytes(data() if callable(data) else data)
        return Run(["decode", str(folder / "s.bin"), "-o", str(folder / "out.y4m"), *flags], env or {})
    return make


def decoded(frames: int):
    def check(folder: Path, stdout: str) -> None:
        assert frames_in(folder / "out.y4m") == frames
    return check


def dev_zero(folder: Path) -> Run:
    os.symlink("/dev/zero", folder / "s.bin")
    return Run(["decode", str(folder / "s.bin"), "-o", str(folder / "out.y4m")])


def huge(folder: Path) -> Run:
    with open(folder / "s.bin", "wb") as f:  # sparse: no disk used
        f.truncate((4 << 30) + 1)
    return Run(["decode", str(folder / "s.bin"), "-o", str(folder / "out.y4m")])


def fifo(folder: Path) -> Run:
    os.mkfifo(folder / "s.bin")
    return Run(["decode", str(folder / "s.bin"), "-o", str(folder / "out.y4m")])


CASES = [
    Case("another implementation of a plugin", "plugin provenance",
         decode(streams.other_implementation), "made with plugin 'hyperprior' from zoo-evil 6.6.6",
         only(Path("."), "s.bin")),
    Case("another implementation, --allow-plugin-mismatch", "plugin provenance",
         decode(streams.other_implementation, "--allow-plugin-mismatch"), None, decoded(3)),
    Case("another implementation, $ZOO_ALLOW_PLUGIN_MISMATCH", "plugin provenance",
         decode(streams.other_implementation, env={"ZOO_ALLOW_PLUGIN_MISMATCH": "1"}), None,
         decoded(3)),
    Case("a frame reconstructed otherwise by its encoder", "frame checksums",
         decode(streams.drifted), "frame 1 differs from the encoder's picture (checksum mismatch)",
         only(Path("."), "s.bin")),
    Case("a version-1 stream", "frame checksums", decode(lambda: streams.old_version(1)),
         "unsupported bitstream version 1 (this zoo reads version 3)"),
    Case("a version-2 stream", "frame checksums", decode(lambda: streams.old_version(2)),
         "unsupported bitstream version 2 (this zoo reads version 3)"),
    Case("a stream cut in its last record's CRC", "frame checksums", decode(streams.truncated),
         "frame 2 is truncated", only(Path("."), "s.bin")),
    Case("a bit flipped in a string length", "frame checksums", decode(streams.flipped_length),
         "frame 1 is corrupt", only(Path("."), "s.bin")),
    Case("GMM side information asking for every channel, garbage strings", "entropy side information",
         decode(lambda: streams.gmm_side_info(128, 128)), "frame 0 differs"),
    Case("GMM of 60 components: CDFs past the budget", "compute budget",
         decode(lambda: streams.gmm_side_info(64, 64, components=60)),
         "frame 0 cannot be decoded: it needs more than 65,536 tensor values per pixel"),
    Case("refiner 512 channels x 40 blocks", "compute budget",
         decode(lambda: streams.costly_model(64, 64, streams.REFINER_512x40)),
         "frame 1 cannot be decoded: it needs a layer of more than 256 values per pixel"),
    Case("refiner 128 channels x 40 blocks", "compute budget",
         decode(lambda: streams.costly_model(64, 64, streams.REFINER_128x40)),
         "frame 1 cannot be decoded: it needs more than 10,000,000 multiply-accumulates per pixel"),
    Case("a few kilobytes of 60 frames", "streaming", decode(lambda: streams.many_frames(64, 64, 60)),
         None, decoded(60)),
    Case("a .bin linked to /dev/zero", "file size", dev_zero, "not a regular file"),
    Case("a 4 GiB + 1 byte .bin", "file size", huge, "too large to be a bitstream (over 4 GiB)"),
    Case("a FIFO as the .bin", "non-regular input", fifo, "not a regular file"),
]

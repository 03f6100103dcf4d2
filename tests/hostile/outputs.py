"""Outputs that must not destroy what the user has: an output that is an input, devices
and links, output folders that cannot be made, a ``zoo run`` that fails after writing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from zoo.core.hookspecs import hookimpl
from zoo.io import bitstream
from zoo.slots import PostFilter
from . import Case, Run, clip_file, frames_in, only, streams

ENCODE = ["--untrained"]


def encode_onto(link: str | None):
    """``zoo encode clip.y4m -o X`` where X is the clip itself, a hard link or a symlink to it."""
    def make(folder: Path) -> Run:
        source = clip_file(folder)
        target = source
        if link:
            target = folder / "link.y4m"
            (os.link if link == "hard" else os.symlink)(source, target)
        return Run(["encode", str(source), "-o", str(target), *ENCODE])
    return make


def unchanged_clip(folder: Path, stdout: str) -> None:
    assert frames_in(folder / "clip.y4m") == 3


def decode_into(prepare):
    """``zoo decode s.bin -o out.y4m``, ``out.y4m`` first made by ``prepare(folder, path)``."""
    def make(folder: Path) -> Run:
        bitstream.write(folder / "s.bin", *streams.real_stream())
        prepare(folder, folder / "out.y4m")
        return Run(["decode", str(folder / "s.bin"), "-o", str(folder / "out.y4m")])
    return make


def char_device(folder: Path, path: Path) -> None:
    """``path``: a character device like /dev/null (made here if allowed, else a link to it)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        os.symlink("/dev/null", path)


def still_a_device(folder: Path, stdout: str) -> None:
    assert stat.S_ISCHR(os.stat(folder / "out.y4m").st_mode)
    assert sorted(p.name for p in folder.iterdir()) == ["out.y4m", "s.bin"]


def link_to_target(folder: Path, path: Path) -> None:
    (folder / "target.y4m").write_bytes(b"old")
    os.symlink("target.y4m", path)


def link_kept_target_written(folder: Path, stdout: str) -> None:
    assert (folder / "out.y4m").is_symlink() and frames_in(folder / "target.y4m") == 3


def run_out(make_out):
    def make(folder: Path) -> Run:
        return Run(["run", "--input", str(clip_file(folder)), "--frames", "1", "--untrained",
                    "--out", str(make_out(folder))])
    return make


def a_file(folder: Path) -> Path:
    (folder / "results").write_text("not a folder")
    return folder / "results"


def read_only(folder: Path) -> Path:
    if os.geteuid() == 0:  # root writes anywhere but in /proc
        return Path("/proc/self/zoo-out")
    (folder / "locked").mkdir(mode=0o555)
    return folder / "locked"


class FailsWhenDecoding(PostFilter):
    """Fine for the encoder's two P-frames, raises in the decoder's first."""

    calls = 0

    def forward(self, x_hat, q):
        FailsWhenDecoding.calls += 1
        if FailsWhenDecoding.calls > 2:
            raise RuntimeError("decoder only")
        return x_hat


@hookimpl
def zoo_post_filter(config):
    return FailsWhenDecoding()


def run_failing_late(folder: Path) -> Run:
    FailsWhenDecoding.calls = 0
    return Run(["run", "--input", str(clip_file(folder)), "--untrained", "--plugins", "late",
                "--out", str(folder / "out")],
               plugins={"late": type("Late", (), {"zoo_post_filter": staticmethod(zoo_post_filter)})()})


CASES = [
    Case("zoo encode v.y4m -o v.y4m", "output is input", encode_onto(None),
         "is the input", unchanged_clip),
    Case("zoo encode v.y4m -o a hard link to v.y4m", "output is input", encode_onto("hard"),
         "is the input", unchanged_clip),
    Case("zoo encode v.y4m -o a symlink to v.y4m", "output is input", encode_onto("soft"),
         "is the input", unchanged_clip),
    Case("zoo decode -o a character device", "devices and links", decode_into(char_device), None,
         still_a_device),
    Case("zoo decode -o a symlink", "devices and links", decode_into(link_to_target), None,
         link_kept_target_written),
    Case("zoo decode -o a FIFO", "devices and links", decode_into(lambda f, p: os.mkfifo(p)),
         "exists and is not a regular file"),
    Case("zoo decode -o a folder", "devices and links", decode_into(lambda f, p: p.mkdir()),
         "exists and is not a regular file"),
    Case("zoo run --out an existing file", "output folder", run_out(a_file), "--out: cannot make"),
    Case("zoo run --out a read-only folder", "output folder", run_out(read_only), "--out: cannot make"),
    Case("zoo run failing after writing its stream", "run cleanup", run_failing_late,
         "frame 1 is corrupt (it does not decode: RuntimeError in plugin 'late' (post_filter))",
         only(Path("."), "clip.y4m")),
]

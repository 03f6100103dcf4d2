"""Crafted hostile cases (issue 16): a corpus of generators, each case with what the zoo
must do with it.

A case builds its files in an empty folder and says which ``zoo`` command to run on
them, in the environment it sets up (variables, plugins added in-process, a folder of
third-party packages put on ``sys.path``). Its outcome is a one-line error, exit code 2,
whose message holds ``error``; or, where ``error`` is None, success (exit 0). ``check``
then looks at what the command left behind (and at what it printed).
``tests/test_hostile.py`` runs every case; ``scripts/hostile_bench.py`` runs the stream
generators of :mod:`hostile.streams` at the largest frame size the decoder allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

#: The classes of issue 16: every one has cases.
KINDS = (
    "plugin provenance", "frame checksums",  # decoding equals encoding across environments
    "entropy side information", "file size", "streaming", "compute budget",  # bounded
    "non-finite latents", "input boundary", "registry schema", "plugin isolation",  # no hang
    "non-regular input", "output folder",  # ... and no traceback
    "output is input", "devices and links", "run cleanup", "encoder checks",  # never destroy
    "weight paths",
)


@dataclass
class Run:
    """A ``zoo`` command line and its environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    plugins: dict[str, Any] = field(default_factory=dict)  #: added to the installed ones
    site: Path | None = None  #: third-party packages (dist-info folders) to put on sys.path


@dataclass
class Case:
    name: str
    kind: str  #: one of KINDS
    make: Callable[[Path], Run]  #: builds the case's files in a folder
    error: str | None  #: a part of the one-line error (exit 2); None: exit 0
    check: Callable[[Path, str], None] | None = None  #: (folder, stdout) afterwards


def all_cases() -> list[Case]:
    from . import inputs, outputs, plugins, registries, stream_cases
    return [*stream_cases.CASES, *inputs.CASES, *plugins.CASES, *registries.CASES, *outputs.CASES]


def clip_file(folder: Path, name: str = "clip.y4m", width: int = 64, height: int = 64,
              frames: int = 3) -> Path:
    """A synthetic clip written as ``folder / name``."""
    from zoo.io.video import write_clip
    from .streams import synthetic_clip
    write_clip(folder / name, synthetic_clip(width, height, frames))
    return folder / name


def frames_in(path: Path) -> int:
    from zoo.io.video import read_clip
    return len(read_clip(path).frames)


def only(folder: Path, *names: str) -> Callable[[Path, str], None]:
    """A check: ``folder`` holds these names and nothing else (no temporary file)."""
    def check(root: Path, stdout: str) -> None:
        assert sorted(p.name for p in (root / folder).iterdir()) == sorted(names)
    return check

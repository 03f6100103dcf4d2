"""Atomic file writes: a temporary file beside the target, renamed onto it.

Every output of the zoo (``.bin`` streams, decoded clips, weights, checkpoints,
``registry.toml``, results) goes through :func:`atomic_write`, so an interrupt
or an error at any point leaves either the old file or the new one, never a
partial file: the temporary file (``.<name>.<random>.tmp`` in the target's
directory, so the rename stays on one file system) is flushed and fsynced,
given mode 0644, then renamed over the target with :func:`os.replace`; on any
error, ``KeyboardInterrupt`` included, it is removed and the target is left as
it was (``zoo`` turns SIGTERM into ``SystemExit``, so it is cleaned up too). Only
a SIGKILL between creation and rename can leave a ``.tmp`` file behind, which no
reader ever opens.

A target is never replaced by something else than a regular file: a symbolic
link is followed (the link stays, its target is replaced), a character device
such as ``/dev/null`` is written in place, and anything else that is not a
regular file (a folder, a FIFO, a socket) is refused with an ``OSError``.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PathLike = str | os.PathLike[str]

#: Mode of every file the zoo writes.
FILE_MODE = 0o644


def temp_path(path: PathLike) -> Path:
    """A fresh hidden name beside ``path`` (same directory, so same file system)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def _destination(path: PathLike) -> tuple[Path, bool]:
    """The file to write for ``path`` (symbolic links followed) and whether it is a
    character device, written in place; OSError for other files that are not regular."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target, False
    if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
        raise OSError(errno.EEXIST, "exists and is not a regular file; not replacing it", str(path))
    return target, stat.S_ISCHR(mode)


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """A temporary path for a writer that wants a file name (``safetensors``,
    ``matplotlib``); renamed onto ``path`` if the block succeeds, else removed.
    The block must create the file (or write to the character device it is given)."""
    path, device = _destination(path)
    if device:
        yield path
        return
    tmp = temp_path(path)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: PathLike, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing (``"wb"`` or ``"w"``);
    it replaces ``path`` when the block ends without an exception."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', got {mode!r}")
    with atomic_path(path) as tmp:
        device = tmp.exists()  # a character device, written in place
        flags = os.O_WRONLY | (0 if device else os.O_CREAT | os.O_EXCL) | getattr(os, "O_BINARY", 0)
        with open(os.open(tmp, flags, FILE_MODE), mode, **open_kwargs) as f:
            yield f
            f.flush()
            if not device:
                os.fsync(f.fileno())


def write_bytes(path: PathLike, data: bytes) -> None:
    """``Path.write_bytes``, atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text(path: PathLike, text: str) -> None:
    """``Path.write_text``, atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)

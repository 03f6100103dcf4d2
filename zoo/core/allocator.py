"""How the C allocator treats large blocks, set once per process by the entry points.

glibc's malloc serves every block above its mmap threshold (128 KiB, growing to
at most 32 MiB) with fresh pages from the kernel and gives them back when the
block is freed, so each feature map of a large frame (a 32-channel map at half
of 1080p is 67 MB) faults its pages in one by one, every time. Measured on
``cmfr2025`` at 1920x1080, one thread (``docs/performance.md``): a P-frame
decoded in 4.3 s with glibc's defaults and in 2.5 s with large blocks served
from the heap and kept there when freed, for up to 0.4 GiB more peak memory.
PyTorch's CPU allocator has no cache of its own (its CUDA one does); this is
the knob that stands for it. ``ZOO_ALLOCATOR=system`` leaves glibc as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  #: mallopt's parameters, from glibc's malloc.h
KEEP = 1 << 30  #: up to 1 GiB of freed memory stays with the process for reuse
SERVE_FROM_HEAP = (1 << 31) - 1  #: blocks of any size come from the heap, not from mmap


def configure() -> str:
    """Apply ``ZOO_ALLOCATOR`` (``keep``, the default, or ``system``) and say what holds:
    ``keep``, or ``system`` (asked for, or not glibc)."""
    if os.environ.get("ZOO_ALLOCATOR", "keep") == "system" or not sys.platform.startswith("linux"):
        return "system"
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return "system"
    if mallopt(M_MMAP_THRESHOLD, SERVE_FROM_HEAP) and mallopt(M_TRIM_THRESHOLD, KEEP):
        return "keep"
    return "system"

"""What a model named by a bitstream may cost: to build, and per frame to run.

Plugin options come from the file, so a 200-byte stream may ask for a model of
a billion weights, or one of few weights and enormous compute (a refiner of
512 channels x 40 blocks). Both budgets are ``TorchFunctionMode``\\ s that count
as torch works and refuse, with a one-line ZooError, *before* the operation
that would pass them where its cost is known from its arguments (tensor
factories while a model is built, convolutions and linear layers while a frame
is coded), right after it otherwise.
"""

from __future__ import annotations

import math
import weakref

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from zoo.errors import ZooError

#: Building: tensor elements and tensors. The largest zoo model (full preset)
#: holds about 43M elements in about 500 tensors.
MAX_MODEL_ELEMENTS = 250_000_000
MAX_MODEL_TENSORS = 20_000
#: Coding one frame, per padded pixel. Time: multiply-accumulates of the convolutions
#: and linear layers, and elements of the tensors all operations produce (the entropy
#: coder's CDF tables included). Memory: the elements of any one layer's output, and the
#: bytes of the tensors produced that are alive at once, plus MIN_BYTES for what does not
#: grow with the frame (a chunk of CDFs, zoo/core/guard.py). The zoo's costliest models need
#: 4.4M multiply-accumulates and 14k elements (feature-residual,gmm,grdn, full preset),
#: 144 values in a layer and 1.9 KB alive (default plugins, full preset); lite: 1 KB.
MAX_MACS_PER_PIXEL = 10_000_000
MAX_ELEMENTS_PER_PIXEL = 65_536
MAX_WIDTH = 256
MAX_BYTES_PER_PIXEL = 2560
MIN_BYTES = 256 << 20

_FACTORIES = frozenset({torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn,
                        torch.randint, torch.eye, torch.arange, torch.linspace, torch.tensor})
_SIZED = frozenset({torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn})


class BuildBudget(TorchFunctionMode):
    """Counts the tensors created while a model is built; a ZooError past the limits."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what, self.elements, self.tensors = what, 0, 0

    def _check(self, elements: int) -> None:
        if self.elements + elements > MAX_MODEL_ELEMENTS or self.tensors >= MAX_MODEL_TENSORS:
            raise ZooError(f"{self.what} is too large to build (more than {MAX_MODEL_ELEMENTS:,} "
                           f"weights or {MAX_MODEL_TENSORS:,} tensors)")

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SIZED:  # refuse before allocating
            size = kwargs.get("size", args[0] if args and not isinstance(args[0], int) else args)
            try:
                self._check(math.prod(int(s) for s in size))
            except (TypeError, ValueError):
                pass
        result = func(*args, **kwargs)
        if func in _FACTORIES and isinstance(result, Tensor):
            self._check(result.numel())
            self.elements += result.numel()
            self.tensors += 1
        return result


def _arg(args: tuple, kwargs: dict, index: int, name: str, default):
    return args[index] if len(args) > index else kwargs.get(name, default)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _layer_cost(func, args: tuple, kwargs: dict) -> tuple[int, int] | None:
    """(multiply-accumulates, output elements) of a convolution or linear layer, from
    its arguments' shapes (before it runs); None for any other operation."""
    if func is F.conv2d:
        x, w = _arg(args, kwargs, 0, "input", None), _arg(args, kwargs, 1, "weight", None)
        stride, dilation = _pair(_arg(args, kwargs, 3, "stride", 1)), _pair(_arg(args, kwargs, 5, "dilation", 1))
        padding = _arg(args, kwargs, 4, "padding", 0)
        if padding == "same":
            out = x.shape[-2:]
        else:
            padding = (0, 0) if padding == "valid" else _pair(padding)
            out = [(x.shape[i - 2] + 2 * padding[i] - dilation[i] * (w.shape[i + 2] - 1) - 1) // stride[i] + 1
                   for i in (0, 1)]
        elements = x.numel() // math.prod(x.shape[-3:]) * w.shape[0] * max(out[0], 0) * max(out[1], 0)
        return elements * w[0].numel(), elements
    if func is F.conv_transpose2d:
        x, w = _arg(args, kwargs, 0, "input", None), _arg(args, kwargs, 1, "weight", None)
        stride, groups = _pair(_arg(args, kwargs, 3, "stride", 1)), _arg(args, kwargs, 6, "groups", 1)
        elements = x.numel() // x.shape[-3] * w.shape[1] * groups * stride[0] * stride[1]
        return x.numel() * w[0].numel(), elements
    if func is F.linear:
        x, w = _arg(args, kwargs, 0, "input", None), _arg(args, kwargs, 1, "weight", None)
        rows = x.numel() // max(x.shape[-1], 1)
        return rows * w.numel(), rows * w.shape[0]
    return None


def _allocated(result: Tensor, args: tuple, kwargs: dict) -> bool:
    """Whether an operation's result has a storage of its own (not a view of, or the
    same tensor as, one of its arguments)."""
    storage = result.untyped_storage().data_ptr()
    return not any(isinstance(a, Tensor) and a.untyped_storage().data_ptr() == storage
                   for a in (*args, *kwargs.values()))


class ComputeBudget(TorchFunctionMode):
    """Counts what coding one frame of ``pixels`` (padded) costs; ``what`` (e.g.
    "frame 3 cannot be decoded") starts the ZooError raised past the budget.
    Convolutions and linear layers are refused before they run."""

    def __init__(self, pixels: int, what: str) -> None:
        super().__init__()
        self.pixels, self.what = pixels, what
        self.macs = self.elements = self.live = 0
        self.memory = MAX_BYTES_PER_PIXEL * pixels + MIN_BYTES

    def _refuse(self, needs: str) -> ZooError:
        return ZooError(f"{self.what}: it needs {needs} (past this zoo's budget, zoo/core/budget.py: "
                        f"its model's options ask for too much)")

    def _release(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        cost = _layer_cost(func, args, kwargs)
        if cost is not None:
            self.macs += cost[0]
            if self.macs > MAX_MACS_PER_PIXEL * self.pixels:
                raise self._refuse(f"more than {MAX_MACS_PER_PIXEL:,} multiply-accumulates per pixel")
            if cost[1] > MAX_WIDTH * self.pixels:
                raise self._refuse(f"a layer of more than {MAX_WIDTH} values per pixel")
            if self.live + 4 * cost[1] > self.memory:
                raise self._refuse(f"more than {MAX_BYTES_PER_PIXEL:,} bytes of tensors per pixel")
        result = func(*args, **kwargs)
        if isinstance(result, Tensor):
            self.elements += result.numel()
            if self.elements > MAX_ELEMENTS_PER_PIXEL * self.pixels:
                raise self._refuse(f"more than {MAX_ELEMENTS_PER_PIXEL:,} tensor values per pixel")
            if _allocated(result, args, kwargs):
                nbytes = result.untyped_storage().nbytes()
                self.live += nbytes
                weakref.finalize(result, self._release, nbytes)
                if self.live > self.memory:
                    raise self._refuse(f"more than {MAX_BYTES_PER_PIXEL:,} bytes of tensors per pixel")
        return result

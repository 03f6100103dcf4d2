"""Weights: safetensors only, verified by sha256 before anything is loaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import Tensor, nn

from zoo.errors import ZooError
from zoo.io.atomic import atomic_path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(module: nn.Module) -> str:
    """sha256 over the state dict (names and values), for weights that have no file."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def verify(path: Path, sha256: str) -> None:
    """ZooError unless ``path`` is a file whose sha256 is ``sha256``."""
    if not path.is_file():
        raise ZooError(f"weights file {path} is missing (sha256 {sha256})")
    actual = sha256_file(path)
    if actual != sha256:
        raise ZooError(f"weights file {path} has sha256 {actual[:16]}…, "
                       f"the registry expects {sha256[:16]}…; refusing to load it")


def widened(state: dict[str, Tensor], reference: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` in the dtypes of ``reference`` (a module's own state). A tensor stored
    in lower precision that equals the module's own value rounded to it is a constant
    the module was built with (a likelihood bound of 1e-9, a GDN pedestal: fp16 holds
    them as 0), and keeps the built value: files written before :func:`save_weights`
    kept such tensors in fp32 still load them exactly."""
    out = {}
    for k, v in state.items():
        own = reference.get(k)
        if own is None or not v.is_floating_point() or own.shape != v.shape:
            out[k] = v
        elif v.dtype != own.dtype and torch.equal(own.to(v.device, v.dtype), v):
            out[k] = own.detach().clone()
        else:
            out[k] = v.to(own.dtype)
    return out


def _fp16(tensor: Tensor) -> Tensor:
    """``tensor`` in fp16, unless fp16 would overflow it or round all of it to 0."""
    half = tensor.half()
    lost = (half.isinf() & tensor.isfinite()).any() or (tensor.any() and not half.any())
    return tensor if bool(lost) else half


def load_weights(module: nn.Module, path: Path, sha256: str) -> None:
    """Check ``path`` against ``sha256``, then load it into ``module`` (strictly)."""
    verify(path, sha256)
    try:
        state = safetensors.torch.load_file(str(path))
    except Exception as e:
        raise ZooError(f"weights file {path} is not valid safetensors: {e}") from e
    state = widened(state, module.state_dict())
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ZooError(f"weights file {path} does not fit the model: "
                       f"{str(e).splitlines()[0]}") from e


#: The weights files given to this process (``--weights``), by sha256: a stream made
#: with one names it, and the decoder finds it here.
_GIVEN: dict[str, Path] = {}


def give(path: Path) -> str:
    """Make the weights file ``path`` known to this process; returns its sha256."""
    if not path.is_file():
        raise ZooError(f"--weights {path}: no such file")
    if path.suffix != ".safetensors":
        raise ZooError(f"--weights {path}: weights are .safetensors files")
    sha = sha256_file(path)
    _GIVEN[sha] = path.resolve()
    return sha


def given(sha256: str) -> Path | None:
    """The file given to this process (:func:`give`) whose sha256 is ``sha256``."""
    return _GIVEN.get(sha256)


#: The safetensors metadata key under which a weights file names the model it holds.
SPEC_KEY = "codec_zoo.spec"


def save_weights(module: nn.Module, path: Path, half: bool = False,
                 spec: dict[str, Any] | None = None) -> str:
    """Write ``module``'s state atomically (``half``: fp16, but for the tensors it
    cannot hold), with ``spec`` (a ``ModelSpec.to_dict()``: plugins, preset, options,
    ladder) in its metadata; returns the file's sha256."""
    state = {k: (_fp16(v) if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in module.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {SPEC_KEY: json.dumps(spec)} if spec else None
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(state, str(tmp), metadata)
    return sha256_file(path)


def file_spec(path: Path) -> dict[str, Any] | None:
    """The model spec a weights file records (:func:`save_weights`), or None."""
    try:
        with safetensors.safe_open(str(path), "pt") as f:
            text = (f.metadata() or {}).get(SPEC_KEY)
    except Exception as e:
        raise ZooError(f"weights file {path} is not valid safetensors: {e}") from e
    try:
        spec = json.loads(text) if text else None
    except json.JSONDecodeError:
        spec = {}
    if spec is not None and not (isinstance(spec, dict) and isinstance(spec.get("plugins"), list)):
        raise ZooError(f"weights file {path}: its {SPEC_KEY} metadata is not a model spec")
    return spec

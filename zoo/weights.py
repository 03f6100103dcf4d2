"""Weights: safetensors only, verified by sha256 before anything is loaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import safetensors.torch
from torch import nn

from .atomic import atomic_path
from .errors import ZooError


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


def load_weights(module: nn.Module, path: Path, sha256: str) -> None:
    """Check ``path`` against ``sha256``, then load it into ``module`` (strictly)."""
    if not path.is_file():
        raise ZooError(f"weights file {path} is missing")
    actual = sha256_file(path)
    if actual != sha256:
        raise ZooError(f"weights file {path} has sha256 {actual[:16]}…, "
                       f"the registry expects {sha256[:16]}…; refusing to load it")
    try:
        state = safetensors.torch.load_file(str(path))
    except Exception as e:
        raise ZooError(f"weights file {path} is not valid safetensors: {e}") from e
    reference = module.state_dict()
    state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ZooError(f"weights file {path} does not fit the model: "
                       f"{str(e).splitlines()[0]}") from e


def save_weights(module: nn.Module, path: Path, half: bool = False) -> str:
    """Write ``module``'s state atomically; returns the file's sha256."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in module.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(state, str(tmp))
    return sha256_file(path)

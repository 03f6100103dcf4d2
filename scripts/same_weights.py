"""Check that weights/NAME.safetensors holds the tensors of the same file at commit REV,
bit for bit, with at most new leading rows on per-quality tensors (a quality ladder
extended below its lowest quality, docs/training.md v31). Exit status 1 if not.

With --restore, a tensor of REV's shape that differs is put back to REV's values first
(the file keeps its metadata; registry.toml gets its new sha256): an export recomputes
the entropy bottlenecks' CDF tables from the fp16 densities, whose tables differ in a
few entries from those v17's export computed from the fp32 ones.

    python scripts/same_weights.py [--restore] REV NAME...
"""

import argparse
import subprocess
import sys
from pathlib import Path

import safetensors
import torch
from safetensors.torch import load as load_bytes, load_file, save_file

from zoo.io.atomic import atomic_path
from zoo.core.registry import update_registry
from zoo.core.weights import sha256_file


def differences(old: dict[str, torch.Tensor], new: dict[str, torch.Tensor]) -> list[str]:
    """The keys whose tensors differ between two state dicts, beyond rows added in front."""
    found = sorted(old.keys() ^ new.keys())
    for k in old.keys() & new.keys():
        a, b = old[k], new[k]
        added = b.shape[0] - a.shape[0] if a.dim() and b.dim() == a.dim() else 0
        if (a.dtype != b.dtype or b.dim() != a.dim() or added < 0
                or not torch.equal(b[added:] if b.dim() else b, a)):
            found.append(k)
    return sorted(found)


def restore(path: Path, old: dict[str, torch.Tensor], new: dict[str, torch.Tensor],
            keys: list[str]) -> str:
    """Rewrite ``path`` with ``old``'s values for ``keys`` of unchanged shape; its sha256."""
    with safetensors.safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    state = {**new, **{k: old[k] for k in keys if k in old and k in new and old[k].shape == new[k].shape}}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata)
    return sha256_file(path)


def main(rev: str, names: list[str], put_back: bool) -> int:
    failed = 0
    for name in names:
        path = Path(f"weights/{name}.safetensors")
        old = load_bytes(subprocess.run(["git", "show", f"{rev}:{path}"], check=True,
                                                    capture_output=True).stdout)
        new = load_file(path)
        found = differences(old, new)
        if found and put_back:
            sha = restore(path, old, new, found)
            update_registry(name, {"sha256": sha})
            print(f"{name}: restored {', '.join(found)} as at {rev}; sha256 {sha}")
            new = load_file(path)
            found = differences(old, new)
        grown = sum(new[k].shape != old[k].shape for k in old.keys() & new.keys())
        print(f"{name}: {len(new)} tensors, {grown} with new leading rows, "
              + (f"the rest as at {rev}" if not found else f"{len(found)} differ: {', '.join(found)}"))
        failed |= bool(found)
    return failed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restore", action="store_true")
    parser.add_argument("rev")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    sys.exit(main(args.rev, args.names, args.restore))

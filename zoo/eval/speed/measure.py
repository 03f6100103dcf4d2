"""``zoo speed``, measuring: encode and decode speed and peak memory, beside CompressAI's ssf2020.

This module measures (options, instrumentation, one configuration per child
process, the benchmark's loop); :mod:`zoo.eval.speed.report` turns its report
into the table, the notes on the targets it is given, the plot and the Markdown.

Every registry model (untrained weights: the cost of a network does not
depend on its weights, only the entropy coder's share does, see below) and
CompressAI's ScaleSpaceFlow (``compressai.zoo.ssf2020(quality=3,
pretrained=False)``, Agustsson et al., CVPR 2020) code the same frames on the
same machine in the same run: the bundled carphone clip, resized bilinearly to
each size, one I-frame then ``frames`` P-frames, at the highest quality, every
P-frame coded in full (the pipeline's option ``skip`` off).

Method, per (model, size, device), each in a fresh process (``python -m
zoo.eval.speed.measure --one JOB``) so that peak memory belongs to that configuration:

* warm-up: the I-frame and one P-frame are encoded and decoded, untimed
  (oneDNN primitives, CUDA kernels and ``torch.compile`` graphs are built for
  the size);
* timed: each frame is encoded, then each is decoded, one call at a time
  (zoo models through :func:`zoo.core.sequence.encode_frames` and
  :func:`~zoo.core.sequence.decode_records`, the code ``zoo run`` uses; ssf2020
  through its ``encode_keyframe`` / ``encode_inter`` / ``decode_keyframe`` /
  ``decode_inter``), with ``torch.cuda.synchronize()`` after each frame on
  CUDA. Only P-frames count: fps = P-frames / their seconds;
* peak memory: ``getrusage(RUSAGE_SELF).ru_maxrss`` of the process at the end
  (model, frames, encode and decode; the Python and PyTorch baseline of a few
  hundred MiB included), and ``torch.cuda.max_memory_allocated`` on CUDA;
* entropy share: the time spent inside the entropy models' ``decompress``
  (zoo models: every entropy-model slot module as a whole, whatever coder it
  uses; ssf2020: CompressAI's entropy models): CDF tables built and turned into
  lists, the rANS decoder, symbols back to a tensor; not the networks inside the
  slot (hyper analysis and synthesis, context fusion: ``entropy_networks``),
  over the P-frame decode time; ``rans_share`` counts CompressAI's rANS decoder
  calls alone. Untrained latents are mostly zeros, which makes entropy coding
  look cheaper than it will be with trained weights;
* ``decode_parts_s`` / ``encode_parts_s``: seconds per P-frame in each slot
  (zoo models) or part (ssf2020), in entropy coding and in the entropy models'
  networks, each exclusive of the others (a lazily built context pyramid counts
  for ``temporal_context``);
* ``exact``: the decoded frames equal the encoder's reconstruction;
* ``--profile-ops``: the top operators (torch profiler, self CPU time) of one
  more decode of the sequence, and the convolutions' multiply-accumulates per
  source pixel of a P-frame decode, by part (``decode_macs_per_pixel``).

ssf2020 pads frames to a multiple of 128 (it needs it: its hyperprior works
at 1/64 with 5x5 kernels); zoo models pad to 64. Both crop back; fps are of
source frames, so each pays for its own padding.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from zoo.core.allocator import configure
from zoo.core.sequence import CODING_THREADS_ENV
from zoo.errors import ZooError

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "carphone_176x144.mp4"

REFERENCE = "ssf2020"
DEFAULT_SIZES = "416x240,832x480,1920x1080"
DEFAULT_FRAMES = 2
SSF_ALIGNMENT = 128
GIB = 1024.0**3
#: The module each configuration is measured in, as ``python -m CHILD --one JOB``.
CHILD = "zoo.eval.speed.measure"

#: What the per-part breakdown times: a PFrameCodec's slots, ssf2020's parts.
ZOO_PARTS = ("motion_estimation", "motion_coding", "motion_refinement", "temporal_context",
             "residual_domain", "post_filter")
SSF_PARTS = ("motion_encoder", "motion_hyperprior", "motion_decoder", "forward_prediction",
             "res_encoder", "res_hyperprior", "res_decoder")


# ------------------------------------------------------------------ options


@dataclass
class Options:
    """What ``zoo speed`` measures and where it writes."""

    models: str = "*"  #: comma-separated registry wildcards; ssf2020 is always measured
    sizes: str = DEFAULT_SIZES
    device: str = "auto"  #: cpu, cuda, cpu,cuda or auto (cpu, and cuda when present)
    frames: int = DEFAULT_FRAMES  #: timed P-frames per configuration
    warmup: int = 1
    threads: int = 0  #: torch intra-op threads, 0: PyTorch's default
    compile: bool = False
    channels_last: bool = False
    trained: bool = False  #: trained weights where the registry has them (else untrained)
    profile_ops: bool = False
    timeout: float = 3600.0  #: seconds per configuration
    output: str = "out/speed.json"
    plot: str | None = None
    markdown: str | None = None
    targets: str | None = None  #: the file of targets the results are judged against, if not the issue's

    def command(self) -> str:
        """The command line that reproduces this run."""
        parts = ["zoo speed", f"--models '{self.models}'", f"--sizes {self.sizes}",
                 f"--device {self.device}", f"--frames {self.frames}"]
        if self.warmup != 1:
            parts.append(f"--warmup {self.warmup}")
        if self.threads:
            parts.append(f"--threads {self.threads}")
        parts += [flag for flag, on in (("--compile", self.compile),
                                        ("--channels-last", self.channels_last),
                                        ("--trained", self.trained),
                                        ("--profile-ops", self.profile_ops)) if on]
        parts.append(f"-o {self.output}")
        if self.plot:
            parts.append(f"--plot {self.plot}")
        if self.markdown:
            parts.append(f"--markdown {self.markdown}")
        if self.targets:
            parts.append(f"--targets {self.targets}")
        return " ".join(parts)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"416x240,832x480"`` -> ``[(416, 240), (832, 480)]``."""
    sizes = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        match = re.fullmatch(r"([0-9]+)x([0-9]+)", item)
        if not match or min(int(match[1]), int(match[2])) < 2:
            raise ZooError(f"size {item!r} is not WIDTHxHEIGHT (e.g. 416x240)")
        sizes.append((int(match[1]), int(match[2])))
    if not sizes:
        raise ZooError("name at least one size, e.g. --sizes 416x240")
    return sizes


def parse_devices(text: str) -> list[str]:
    import torch
    if text == "auto":
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    devices = [d.strip() for d in text.split(",") if d.strip()]
    for d in devices:
        if d not in ("cpu", "cuda"):
            raise ZooError(f"device {d!r} is not cpu or cuda")
        if d == "cuda" and not torch.cuda.is_available():
            raise ZooError("--device cuda: CUDA is not available on this machine")
    return devices


def select_models(patterns: str) -> list[str]:
    """Registry models matching the comma-separated wildcards (ssf2020 is added apart)."""
    from zoo.core.registry import list_models
    pats = [p.strip() for p in patterns.split(",") if p.strip() and p.strip() != REFERENCE]
    names = list_models(pats) if pats else []
    if not names and patterns.strip() not in ("", REFERENCE):
        raise ZooError(f"no registry model matches {patterns!r} (see `zoo list --models`)")
    return names


# ------------------------------------------------------------------ timing helpers


class Stopwatch:
    """Self time spent inside wrapped callables, by key: a call inside another
    wrapped call counts for its own key only (exclusive times, they add up)."""

    def __init__(self, sync: Callable[[], None] = lambda: None) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []
        self._last = 0.0
        self._sync = sync

    def _switch(self) -> None:
        self._sync()
        now = time.perf_counter()
        if self._stack:
            self.totals[self._stack[-1]] += now - self._last
        self._last = now

    def wrap(self, key: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._switch()
            self._stack.append(key)
            try:
                return fn(*args, **kwargs)
            finally:
                self._switch()
                self._stack.pop()
        return timed

    def snapshot(self) -> dict[str, float]:
        return dict(self.totals)

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}


class _TimedCoder:
    """Stands in for a rANS encoder or decoder, timing its calls."""

    def __init__(self, coder: Any, watch: Stopwatch) -> None:
        self.coder = coder
        for name in ("encode_with_indexes", "decode_with_indexes"):
            if hasattr(coder, name):
                setattr(self, name, watch.wrap("rans", getattr(coder, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.coder, name)


class Instrumented:
    """Times, inside ``root``: the entropy models (``entropy``: the ``compress`` /
    ``decompress`` of CompressAI's entropy models and of the zoo's entropy-model
    slot modules, less the rANS call and the networks inside the slot), those
    networks (``entropy_networks``: the outermost ``nn.Sequential`` stacks of a
    slot module), the rANS coder (``rans``) and the named parts (attributes of
    ``root``: modules, whose ``forward``, ``compress``, ``decompress`` and
    ``pyramid`` (a lazily built context) are timed, or methods), each exclusive of
    the others. Restored on exit."""

    def __init__(self, root: Any, parts: Iterable[str], sync: Callable[[], None]) -> None:
        self.root, self.parts = root, tuple(parts)
        self.watch = Stopwatch(sync)
        self._undo: list[Callable[[], None]] = []

    def _patch(self, obj: Any, name: str, key: str) -> None:
        setattr(obj, name, self.watch.wrap(key, getattr(obj, name)))
        self._undo.append(lambda: delattr(obj, name))

    def __enter__(self) -> Stopwatch:
        from compressai.entropy_models.entropy_models import EntropyModel
        from torch import nn

        from zoo.nn.gains import GainedEntropyModel
        for m in self.root.modules():
            if isinstance(m, GainedEntropyModel):  # a slot module, whatever its coder
                for name in ("compress", "decompress"):
                    self._patch(m, name, "entropy")
                for net in _outermost(m.model, nn.Sequential):
                    self._patch(net, "forward", "entropy_networks")
            if isinstance(m, EntropyModel):
                for name in ("compress", "decompress"):
                    self._patch(m, name, "entropy")
                coder = m.entropy_coder
                for attr in ("_encoder", "_decoder"):
                    original = getattr(coder, attr)
                    setattr(coder, attr, _TimedCoder(original, self.watch))
                    self._undo.append(lambda c=coder, a=attr, o=original: setattr(c, a, o))
        owners = [self.root, *getattr(self.root, "members", ())]  # an ensemble's members too
        for owner in owners:
            for part in self.parts:
                target = getattr(owner, part, None)
                if isinstance(target, nn.Module):
                    for name in ("forward", "compress", "decompress", "pyramid"):
                        if callable(getattr(type(target), name, None)):
                            self._patch(target, name, part)
                elif callable(target):
                    self._patch(owner, part, part)
        return self.watch

    def __exit__(self, *exc: Any) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def _outermost(module: Any, kind: type) -> Iterator[Any]:
    """The submodules of ``module`` of type ``kind`` that are not inside another."""
    for child in module.children():
        if isinstance(child, kind):
            yield child
        else:
            yield from _outermost(child, kind)


# ------------------------------------------------------------------ one configuration


def load_frames(width: int, height: int, count: int) -> list:
    """``count`` frames of the bundled clip, RGB (1, 3, H, W), resized bilinearly."""
    import torch.nn.functional as F

    from zoo.io.color import yuv420_to_rgb
    from zoo.io.video import read_clip
    clip = read_clip(SAMPLE, count)
    if len(clip.frames) < count:
        raise ZooError(f"the sample clip has only {len(clip.frames)} frames")
    return [F.interpolate(yuv420_to_rgb(*planes), size=(height, width), mode="bilinear",
                          align_corners=False).clamp_(0.0, 1.0) for planes in clip.frames]


def compile_modules(root: Any) -> int:
    """``torch.compile`` (in place) every ``nn.Sequential`` and residual block not
    inside another: the convolution stacks, called through ``forward``.
    Entropy coding and the slots' Python control flow stay eager."""
    from compressai.layers import ResidualBlock
    from torch import nn
    count = 0

    def visit(module: nn.Module) -> None:
        nonlocal count
        for child in module.children():
            if isinstance(child, (nn.Sequential, ResidualBlock)):
                child.compile()
                count += 1
            else:
                visit(child)
    visit(root)
    return count


class _ZooCodec:
    """A registry model, coded as ``zoo run`` codes it."""

    parts = ZOO_PARTS

    def __init__(self, name: str, device: str, trained: bool = False) -> None:
        from zoo.core.models import open_model
        from zoo.core.pipeline import PFrameCodec
        from zoo.core.registry import find_model
        entry = find_model(name)
        model = open_model(name, untrained=not (trained and entry.weights))
        self.trained = model.trained
        self.net = model.codec.to(device)
        for codec in self.net.modules():  # every P-frame coded: a skipped one decodes a warp
            if isinstance(codec, PFrameCodec):
                codec.skip = False
        self.quality = self.net.qualities - 1

    def encode(self, frames: list) -> Iterator[tuple[Any, Any, int]]:
        from zoo.core.sequence import encode_frames
        for record, x_hat in encode_frames(self.net, frames, self.quality, 0):
            size = sum(len(s) for strings in record.payload.latents.values() for s in strings)
            yield record, x_hat, size

    def decode(self, records: list, height: int, width: int) -> Iterator[Any]:
        from zoo.core.sequence import decode_records
        return decode_records(self.net, records, height, width, self.quality)

    @staticmethod
    def padded(height: int, width: int) -> tuple[int, int]:
        from zoo.core.sequence import padded_size
        return padded_size(height, width)


class _SSF2020:
    """CompressAI's ScaleSpaceFlow, frame by frame through its own methods."""

    parts = SSF_PARTS
    trained = False

    def __init__(self, device: str) -> None:
        import torch
        from compressai.zoo import ssf2020
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = ssf2020(quality=3, pretrained=False)
        net.update(force=True)
        self.net = net.eval().to(device)

    @staticmethod
    def padded(height: int, width: int) -> tuple[int, int]:
        return -(-height // SSF_ALIGNMENT) * SSF_ALIGNMENT, -(-width // SSF_ALIGNMENT) * SSF_ALIGNMENT

    def encode(self, frames: list) -> Iterator[tuple[Any, Any, int]]:
        import torch
        import torch.nn.functional as F
        ref = None
        for x in frames:
            h, w = x.shape[-2:]
            ph, pw = self.padded(h, w)
            with torch.inference_mode():
                x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
                if ref is None:
                    ref, out = self.net.encode_keyframe(x)
                    strings = out["strings"]
                else:
                    ref, out = self.net.encode_inter(x, ref)
                    strings = [s for v in out["strings"].values() for s in v]
            size = sum(len(s) for group in strings for s in group)
            yield out, ref[..., :h, :w], size

    def decode(self, records: list, height: int, width: int) -> Iterator[Any]:
        import torch
        ref = None
        for out in records:
            with torch.inference_mode():
                if ref is None:
                    ref = self.net.decode_keyframe(out["strings"], out["shape"])
                else:
                    ref = self.net.decode_inter(ref, out["strings"], out["shape"])
            yield ref[..., :height, :width]


def _timed(items: Iterable[Any], sync: Callable[[], None], watch: Stopwatch) -> Iterator[tuple]:
    """Each item with the seconds it took to produce and the watch's delta meanwhile."""
    it = iter(items)
    while True:
        before = watch.snapshot()
        started = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        sync()
        yield item, time.perf_counter() - started, Stopwatch.delta(before, watch.snapshot())


def _peak_rss_gib() -> float:
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / GIB if sys.platform == "darwin" else peak * 1024 / GIB  # bytes / KiB


def _op_profile(codec: Any, records: list, height: int, width: int, top: int = 15) -> list[dict]:
    """The ``top`` operators by self CPU time in one more decode of the sequence (I + P)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in codec.decode(records, height, width):
            pass
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [{"op": e.key, "calls": e.count, "self_cpu_s": e.self_cpu_time_total / 1e6,
             "share": e.self_cpu_time_total / total} for e in events[:top]]


def conv_macs(codec: Any, records: list, height: int, width: int,
              depth: int = 1) -> dict[str, float]:
    """Multiply-accumulates of the convolutions per source pixel of a P-frame decode,
    by part: the codec's modules ``depth`` levels down (1: the slots; an ensemble's
    members are merged)."""
    from torch import nn
    counts: dict[str, float] = defaultdict(float)
    hooks = []
    for name, module in codec.net.named_modules():
        part = ".".join(re.sub(r"^members\.[0-9]+\.", "", name).split(".")[:depth])
        if isinstance(module, nn.Conv2d):
            def hook(m, inputs, out, part=part):
                k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
                counts[part] += out.numel() * k
        elif isinstance(module, nn.ConvTranspose2d):
            def hook(m, inputs, out, part=part):
                counts[part] += inputs[0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
        else:
            continue
        hooks.append(module.register_forward_hook(hook))
    total: dict[str, float] = defaultdict(float)
    try:
        for index, _ in enumerate(codec.decode(records, height, width)):
            if index:  # P-frames only
                for key, value in counts.items():
                    total[key] += value
            counts.clear()
    finally:
        for h in hooks:
            h.remove()
    p_frames = max(len(records) - 1, 1)
    return {k: v / p_frames / (height * width) for k, v in sorted(total.items(), key=lambda kv: -kv[1])}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Measure one (model, size, device) configuration in this process; see the module doc."""
    import torch
    model, width, height, device = job["model"], job["width"], job["height"], job["device"]
    p_frames, warmup = int(job["frames"]), int(job.get("warmup", 1))
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    # the zoo's coding pins its threads (zoo.core.sequence.coding_threads): give it the
    # reference's, so that both run on as many (this process measures one configuration)
    os.environ[CODING_THREADS_ENV] = str(torch.get_num_threads())
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    started = time.perf_counter()
    codec = (_SSF2020(device) if model == REFERENCE else
             _ZooCodec(model, device, bool(job.get("trained"))))
    if job.get("channels_last"):
        codec.net.to(memory_format=torch.channels_last)
    compiled = compile_modules(codec.net) if job.get("compile") else 0
    frames = [f.to(device) for f in load_frames(width, height, p_frames + 1)]
    if job.get("channels_last"):
        frames = [f.contiguous(memory_format=torch.channels_last) for f in frames]
    setup_s = time.perf_counter() - started

    started = time.perf_counter()
    for _ in range(warmup):
        records = [r for r, _, _ in codec.encode(frames[:2])]
        sync()
        peak_encode = _peak_rss_gib()  # the encoder's peak: nothing has been decoded yet
        for _ in codec.decode(records, height, width):
            pass
    sync()
    warmup_s = time.perf_counter() - started

    with Instrumented(codec.net, codec.parts, sync) as watch:
        enc_s, records, recon, sizes, enc_parts = [], [], [], [], defaultdict(float)
        for index, ((record, x_hat, size), seconds, spent) in enumerate(
                _timed(codec.encode(frames), sync, watch)):
            records.append(record)
            recon.append(x_hat)
            if index:  # P-frames only
                enc_s.append(seconds)
                sizes.append(size)
                for key, value in spent.items():
                    enc_parts[key] += value
        dec_s, exact, dec_parts = [], True, defaultdict(float)
        for index, (x_hat, seconds, spent) in enumerate(
                _timed(codec.decode(records, height, width), sync, watch)):
            exact = exact and bool(torch.equal(x_hat, recon[index]))
            if index:
                dec_s.append(seconds)
                for key, value in spent.items():
                    dec_parts[key] += value
    ops = macs = None
    if job.get("profile_ops"):
        ops = _op_profile(codec, records, height, width)
        macs = conv_macs(codec, records, height, width)

    enc_total, dec_total = sum(enc_s), sum(dec_s)
    for parts in (enc_parts, dec_parts):  # entropy coding: the entropy models and rANS
        parts["entropy"] = parts.get("entropy", 0.0) + parts.get("rans", 0.0)
    parts_keys = (*codec.parts, "entropy", "entropy_networks")
    return {
        "model": model, "reference": model == REFERENCE, "width": width, "height": height,
        "pixels": width * height, "padded": list(codec.padded(height, width)), "device": device,
        "frames": p_frames, "warmup": warmup, "threads": torch.get_num_threads(),
        "trained": codec.trained,
        "compile": bool(job.get("compile")), "compiled_modules": compiled,
        "channels_last": bool(job.get("channels_last")),
        "encode_s": enc_s, "decode_s": dec_s,
        "enc_fps": p_frames / enc_total if enc_total else math.nan,
        "dec_fps": p_frames / dec_total if dec_total else math.nan,
        "enc_s_per_frame": enc_total / p_frames, "dec_s_per_frame": dec_total / p_frames,
        "peak_rss_gib": _peak_rss_gib(),
        "peak_rss_encode_gib": peak_encode if warmup else None,
        "peak_cuda_gib": torch.cuda.max_memory_allocated() / GIB if device == "cuda" else None,
        "entropy_share": dec_parts["entropy"] / dec_total if dec_total else math.nan,
        "rans_share": dec_parts.get("rans", 0.0) / dec_total if dec_total else math.nan,
        "encode_entropy_share": enc_parts["entropy"] / enc_total if enc_total else math.nan,
        "decode_parts_s": {k: dec_parts[k] / p_frames for k in parts_keys if dec_parts.get(k)},
        "encode_parts_s": {k: enc_parts[k] / p_frames for k in parts_keys if enc_parts.get(k)},
        "bytes_per_p_frame": sum(sizes) / len(sizes) if sizes else 0,
        "exact": exact, "setup_s": setup_s, "warmup_s": warmup_s, "ops": ops,
        "decode_macs_per_pixel": macs,
    }


def run_job(job: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process; failures come back as ``{"error": ...}``."""
    command = [sys.executable, "-m", CHILD, "--one", json.dumps(job)]
    base = {"model": job["model"], "reference": job["model"] == REFERENCE, "width": job["width"],
            "height": job["height"], "pixels": job["width"] * job["height"],
            "device": job["device"], "frames": job["frames"]}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**base, "error": f"exit code {done.returncode}: {tail}"}
    return json.loads(lines[-1])


# ------------------------------------------------------------------ the benchmark


def machine() -> dict[str, Any]:
    import compressai
    import torch
    info = {"platform": platform.platform(), "processor": _cpu_name(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "compressai": compressai.__version__,
            "python": platform.python_version(), "default_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["cuda"] = torch.cuda.get_device_name(0)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def benchmark(opts: Options, progress: Callable[[str], None] | None = None,
              done: Callable[[dict], None] | None = None,
              targets: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every (size, device) for ssf2020 and each selected model; the report, recording
    ``targets`` (what :mod:`zoo.eval.speed.report` judges the results against) as given."""
    if opts.frames < 1:
        raise ZooError("--frames must be at least 1")
    if opts.warmup < 0 or opts.threads < 0:
        raise ZooError("--warmup and --threads must be 0 or more")
    sizes, devices = parse_sizes(opts.sizes), parse_devices(opts.device)
    models = [REFERENCE, *select_models(opts.models)]
    load_before = _load()
    results = []
    for device in devices:
        for width, height in sizes:
            for model in models:
                job = {"model": model, "width": width, "height": height, "device": device,
                       "frames": opts.frames, "warmup": opts.warmup, "threads": opts.threads,
                       "compile": opts.compile, "channels_last": opts.channels_last,
                       "trained": opts.trained, "profile_ops": opts.profile_ops}
                if progress:
                    progress(f"{model} {width}x{height} {device}")
                result = run_job(job, opts.timeout)
                results.append(result)
                if done:
                    done(result)
    add_ratios(results)
    return {"command": opts.command(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": machine(), "load_average": {"before": load_before, "after": _load()},
            "options": {k: getattr(opts, k) for k in opts.__dataclass_fields__},
            "targets": dict(targets) if targets is not None else None,
            "results": results}


def add_ratios(results: list[dict]) -> None:
    """``enc_ratio`` / ``dec_ratio``: fps over ssf2020's at the same size and device."""
    refs = {(r["width"], r["height"], r["device"]): r for r in results
            if r.get("reference") and "error" not in r}
    for r in results:
        ref = refs.get((r["width"], r["height"], r["device"]))
        for key in ("enc", "dec"):
            ok = ref is not None and "error" not in r and ref[f"{key}_fps"] > 0
            r[f"{key}_ratio"] = r[f"{key}_fps"] / ref[f"{key}_fps"] if ok else None


# ------------------------------------------------------------------ child process


def _child(argv: Sequence[str]) -> int:
    import warnings
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(prog=f"python -m {CHILD}")
    parser.add_argument("--one", required=True, help="a job, as JSON")
    args = parser.parse_args(argv)
    allocator = configure()
    result = measure(json.loads(args.one)) | {"allocator": allocator}
    print(json.dumps(result, allow_nan=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))

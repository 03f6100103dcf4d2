"""``zoo speed``: encode and decode speed and peak memory, beside CompressAI's ssf2020.

Every registry model (untrained weights: the cost of a network does not
depend on its weights, only the entropy coder's share does, see below) and
CompressAI's ScaleSpaceFlow (``compressai.zoo.ssf2020(quality=3,
pretrained=False)``, Agustsson et al., CVPR 2020) code the same frames on the
same machine in the same run: the bundled carphone clip, resized bilinearly to
each size, one I-frame then ``frames`` P-frames, at the highest quality.

Method, per (model, size, device), each in a fresh process (``python -m
zoo.speed --one JOB``) so that peak memory belongs to that configuration:

* warm-up: the I-frame and one P-frame are encoded and decoded, untimed
  (oneDNN primitives, CUDA kernels and ``torch.compile`` graphs are built for
  the size);
* timed: each frame is encoded, then each is decoded, one call at a time
  (zoo models through :func:`zoo.sequence.encode_frames` and
  :func:`~zoo.sequence.decode_records`, the code ``zoo run`` uses; ssf2020
  through its ``encode_keyframe`` / ``encode_inter`` / ``decode_keyframe`` /
  ``decode_inter``), with ``torch.cuda.synchronize()`` after each frame on
  CUDA. Only P-frames count: fps = P-frames / their seconds;
* peak memory: ``getrusage(RUSAGE_SELF).ru_maxrss`` of the process at the end
  (model, frames, encode and decode; the Python and PyTorch baseline of a few
  hundred MiB included), and ``torch.cuda.max_memory_allocated`` on CUDA;
* entropy share: the time spent inside CompressAI's entropy models'
  ``decompress`` (CDF tables and indexes turned into lists, the rANS decoder,
  symbols back to a tensor; not the hyper-synthesis networks) over the P-frame
  decode time; ``rans_share`` counts the rANS decoder call alone. Untrained
  latents are mostly zeros, which makes entropy coding look cheaper than it
  will be with trained weights;
* ``decode_parts_s`` / ``encode_parts_s``: seconds per P-frame in each slot
  (zoo models) or part (ssf2020) and in entropy coding, each exclusive of the
  others (a lazily built context pyramid counts for ``temporal_context``);
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

from .errors import ZooError

SAMPLE = Path(__file__).parent / "samples" / "carphone_176x144.mp4"

REFERENCE = "ssf2020"
DEFAULT_SIZES = "416x240,832x480,1920x1080"
DEFAULT_FRAMES = 2
SSF_ALIGNMENT = 128
GIB = 1024.0**3

#: The issue's targets.
TARGET_MODEL = "cmfr2025"
TARGET_DECODE_RATIO = 2.0  #: TARGET_MODEL decodes at least this many times as fast as ssf2020
TARGET_PEAK_GIB = 4.0  #: at TARGET_PEAK_SIZE on CPU, encode and decode
TARGET_PEAK_SIZE = (1920, 1080)
TARGET_ENTROPY_SHARE = 0.20  #: of P-frame decode time

#: What the per-part breakdown times: a PFrameCodec's slots, ssf2020's parts.
ZOO_PARTS = ("motion_estimation", "motion_coding", "motion_refinement", "temporal_context",
             "residual_domain", "post_filter")
SSF_PARTS = ("motion_encoder", "motion_hyperprior", "motion_decoder", "forward_prediction",
             "res_encoder", "res_hyperprior", "res_decoder")

BEGIN_MARK = "<!-- zoo speed: begin -->"
END_MARK = "<!-- zoo speed: end -->"


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
    from .registry import list_models
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
    """Times, inside ``root``: CompressAI's entropy models (``entropy``: their
    ``compress`` / ``decompress`` less the rANS call), the rANS coder (``rans``)
    and the named parts (attributes of ``root``: modules, whose ``forward``,
    ``compress``, ``decompress`` and ``pyramid`` (a lazily built context) are
    timed, or methods), each exclusive of the others. Restored on exit."""

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
        for m in self.root.modules():
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


# ------------------------------------------------------------------ one configuration


def load_frames(width: int, height: int, count: int) -> list:
    """``count`` frames of the bundled clip, RGB (1, 3, H, W), resized bilinearly."""
    import torch.nn.functional as F

    from .color import yuv420_to_rgb
    from .video import read_clip
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
        from .models import open_model
        from .registry import find_model
        entry = find_model(name)
        model = open_model(name, untrained=not (trained and entry.weights))
        self.trained = model.trained
        self.net = model.codec.to(device)
        self.quality = self.net.qualities - 1

    def encode(self, frames: list) -> Iterator[tuple[Any, Any, int]]:
        from .sequence import encode_frames
        for record, x_hat in encode_frames(self.net, frames, self.quality, 0):
            size = sum(len(s) for strings in record.payload.latents.values() for s in strings)
            yield record, x_hat, size

    def decode(self, records: list, height: int, width: int) -> Iterator[Any]:
        from .sequence import decode_records
        return decode_records(self.net, records, height, width, self.quality)

    @staticmethod
    def padded(height: int, width: int) -> tuple[int, int]:
        from .sequence import padded_size
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


def conv_macs(codec: Any, records: list, height: int, width: int) -> dict[str, float]:
    """Multiply-accumulates of the convolutions per source pixel of a P-frame decode,
    by part (the codec's top-level module; an ensemble's members are merged)."""
    from torch import nn
    counts: dict[str, float] = defaultdict(float)
    hooks = []
    for name, module in codec.net.named_modules():
        part = re.sub(r"^members\.[0-9]+\.", "", name).split(".")[0]
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
    parts_keys = (*codec.parts, "entropy")
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
    command = [sys.executable, "-m", "zoo.speed", "--one", json.dumps(job)]
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
              done: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Every (size, device) for ssf2020 and each selected model; the report."""
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
            "targets": {"model": TARGET_MODEL, "decode_ratio": TARGET_DECODE_RATIO,
                        "peak_gib": TARGET_PEAK_GIB, "peak_size": list(TARGET_PEAK_SIZE),
                        "entropy_share": TARGET_ENTROPY_SHARE},
            "results": results}


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A report written by an earlier run (``-o``)."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ZooError(f"{path}: cannot read a zoo speed report ({e})") from e
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise ZooError(f"{path} is not a zoo speed report")
    return report


def add_ratios(results: list[dict]) -> None:
    """``enc_ratio`` / ``dec_ratio``: fps over ssf2020's at the same size and device."""
    refs = {(r["width"], r["height"], r["device"]): r for r in results
            if r.get("reference") and "error" not in r}
    for r in results:
        ref = refs.get((r["width"], r["height"], r["device"]))
        for key in ("enc", "dec"):
            ok = ref is not None and "error" not in r and ref[f"{key}_fps"] > 0
            r[f"{key}_ratio"] = r[f"{key}_fps"] / ref[f"{key}_fps"] if ok else None


# ------------------------------------------------------------------ reporting


def targets(r: dict) -> dict[str, bool]:
    """The issue's targets that apply to this row, met or not."""
    out: dict[str, bool] = {}
    if "error" in r:
        return out
    if r["model"] == TARGET_MODEL and r.get("dec_ratio") is not None:
        out["decode ≥2× ssf2020"] = r["dec_ratio"] >= TARGET_DECODE_RATIO
    if (r["width"], r["height"]) == TARGET_PEAK_SIZE and r["device"] == "cpu":
        out["peak <4 GiB"] = r["peak_rss_gib"] < TARGET_PEAK_GIB
    if not r.get("reference") and not math.isnan(r["entropy_share"]):
        out["entropy <20%"] = r["entropy_share"] < TARGET_ENTROPY_SHARE
    return out


def _fps(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


COLUMNS = ["model", "size", "device", "enc fps", "dec fps", "enc ×ssf", "dec ×ssf",
           "peak GiB", "entropy % (rANS %)", "exact"]


def rows(report: dict) -> list[list[str]]:
    """One row of strings per result, ✓ / ✗ where a target applies."""
    out = []
    for r in report["results"]:
        size = f"{r['width']}x{r['height']}"
        if "error" in r:
            out.append([r["model"], size, r["device"], "-", "-", "-", "-", "-", "-", r["error"]])
            continue
        t = targets(r)
        ratio = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        peak = f"{r['peak_rss_gib']:.2f}"
        if r.get("peak_cuda_gib") is not None:
            peak += f" (GPU {r['peak_cuda_gib']:.2f})"
        entropy = f"{100 * r['entropy_share']:.1f} ({100 * r['rans_share']:.1f})"
        out.append([r["model"], size, r["device"], _fps(r["enc_fps"]), _fps(r["dec_fps"]),
                    ratio(r.get("enc_ratio")),
                    ratio(r.get("dec_ratio")) + _mark(t.get("decode ≥2× ssf2020")),
                    peak + _mark(t.get("peak <4 GiB")),
                    entropy + _mark(t.get("entropy <20%")),
                    "yes" if r["exact"] else "NO"])
    return out


def notes(report: dict) -> list[str]:
    """The targets, met or missed, in words."""
    res = [r for r in report["results"] if "error" not in r]
    lines = []
    target = [r for r in res if r["model"] == TARGET_MODEL and r.get("dec_ratio") is not None]
    if target:
        met = all(r["dec_ratio"] >= TARGET_DECODE_RATIO for r in target)
        detail = ", ".join(f"{r['width']}x{r['height']} {r['device']} {r['dec_ratio']:.2f}×"
                           for r in target)
        lines.append(f"{TARGET_MODEL} decodes ≥{TARGET_DECODE_RATIO:g}× as fast as ssf2020 at "
                     f"every size: {'met' if met else 'missed'} ({detail})")
    big = [r for r in res if (r["width"], r["height"]) == TARGET_PEAK_SIZE and r["device"] == "cpu"
           and not r.get("reference")]
    if big:
        over = [r["model"] for r in big if r["peak_rss_gib"] >= TARGET_PEAK_GIB]
        lines.append(f"1080p CPU peak memory <{TARGET_PEAK_GIB:g} GiB: "
                     + ("met by every model" if not over else f"missed by {', '.join(over)}")
                     + f" (max {max(r['peak_rss_gib'] for r in big):.2f} GiB)")
    zoo_rows = [r for r in res if not r.get("reference")]
    if zoo_rows:
        worst = max(zoo_rows, key=lambda r: r["entropy_share"])
        lines.append(f"entropy coding <{100 * TARGET_ENTROPY_SHARE:g}% of decode: "
                     f"{'met' if worst['entropy_share'] < TARGET_ENTROPY_SHARE else 'missed'} "
                     f"(max {100 * worst['entropy_share']:.1f}%, {worst['model']} "
                     f"{worst['width']}x{worst['height']}"
                     + ("" if all(r.get("trained") for r in zoo_rows) else
                        "; untrained latents are mostly zeros, which makes entropy coding look cheap")
                     + ")")
    inexact = [f"{r['model']} {r['width']}x{r['height']}" for r in res if not r["exact"]]
    if inexact:
        lines.append("decoded frames differ from the encoder's reconstruction: " + ", ".join(inexact))
    before = (report.get("load_average") or {}).get("before")
    if before and before[0] >= 0.5:
        lines.append(f"the machine was busy before the run started (load average {before[0]} on "
                     f"{report['machine'].get('cpus')} CPUs): these figures are contended")
    return lines


def markdown(report: dict, plot: str | None = None) -> str:
    """The table, the command and the notes, in Markdown."""
    m = report["machine"]
    lines = [f"Command: `{report['command']}`", "",
             f"Machine: {m['processor']}, {m['cpus']} CPUs, {m.get('cuda', 'no GPU')}; "
             f"PyTorch {m['torch']}, CompressAI {m['compressai']}, "
             f"{report['results'][0].get('threads', m['default_threads']) if report['results'] else '?'}"
             f" threads; {report['date']}; load average before/after "
             f"{(report['load_average']['before'] or ['?'])[0]} / "
             f"{(report['load_average']['after'] or ['?'])[0]}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows(report)]
    lines.append("")
    lines += [f"- {n}" for n in notes(report)]
    lines += ["", "Where decode time goes (seconds per P-frame, exclusive: each part without "
              "the parts and entropy coding it calls):", "",
              "| model | size | device | decode s/frame | by part |", "|---|---|---|---|---|"]
    for r in report["results"]:
        if "error" in r:
            continue
        parts = sorted(r["decode_parts_s"].items(), key=lambda kv: -kv[1])
        total = r["dec_s_per_frame"]
        cells = ", ".join(f"{k} {v:.3g} ({100 * v / total:.0f}%)" for k, v in parts
                          if v >= 0.005 * total)
        lines.append(f"| {r['model']} | {r['width']}x{r['height']} | {r['device']} | "
                     f"{total:.3g} | {cells} |")
    counted = [r for r in report["results"] if "error" not in r and r.get("decode_macs_per_pixel")]
    if counted:
        lines += ["", "Convolution multiply-accumulates per source pixel of a P-frame decode "
                  "(`--profile-ops`):", "", "| model | size | kMAC/pixel | by part |",
                  "|---|---|---|---|"]
        for r in counted:
            macs = r["decode_macs_per_pixel"]
            cells = ", ".join(f"{k} {v / 1e3:.1f}k" for k, v in macs.items() if v)
            lines.append(f"| {r['model']} | {r['width']}x{r['height']} | "
                         f"{sum(macs.values()) / 1e3:.1f} | {cells} |")
    if plot:
        lines += ["", f"![seconds per P-frame against pixels per frame]({plot})"]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, text: str, relative_plot: str | None = None) -> None:
    """Replace the block between the markers in ``path`` (or write a new file)."""
    block = f"{BEGIN_MARK}\n{text}{END_MARK}"
    if path.is_file():
        old = path.read_text()
        if BEGIN_MARK in old and END_MARK in old:
            head, rest = old.split(BEGIN_MARK, 1)
            tail = rest.split(END_MARK, 1)[1]
            path.write_text(head + block + tail)
            return
        path.write_text(old.rstrip("\n") + "\n\n" + block + "\n")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block + "\n")


def plot(report: dict, output: str | os.PathLike[str]) -> None:
    """Seconds per P-frame (encode, decode) against pixels per frame, log-log."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = [r for r in report["results"] if "error" not in r]
    if not res:
        raise ZooError("no measurement to plot")
    series: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in res:
        series[(r["model"], r["device"])].append(r)
    colours = plt.get_cmap("tab20").colors
    names = sorted({m for m, _ in series if m != REFERENCE})
    several_devices = len({d for _, d in series}) > 1
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    for ax, key, what in ((axes[0], "enc_s_per_frame", "encode"),
                          (axes[1], "dec_s_per_frame", "decode")):
        for (model, device), points in sorted(series.items()):
            points = sorted(points, key=lambda r: r["pixels"])
            ref = model == REFERENCE
            ax.plot([r["pixels"] for r in points], [r[key] for r in points],
                    marker="o", linewidth=2.5 if ref else 1.2,
                    linestyle="--" if ref else ("-" if device == "cpu" else ":"),
                    color="black" if ref else colours[names.index(model) % len(colours)],
                    label=model + (f" ({device})" if several_devices else ""))
        refs = sorted((r for r in res if r["model"] == REFERENCE and r["device"] == res[0]["device"]),
                      key=lambda r: r["pixels"])
        if len({r["pixels"] for r in refs}) > 1:  # cost proportional to pixels, through ssf2020's first point
            lo, hi = refs[0], refs[-1]
            ax.plot([lo["pixels"], hi["pixels"]], [lo[key], lo[key] * hi["pixels"] / lo["pixels"]],
                    color="grey", linewidth=0.8, linestyle=(0, (1, 3)), label="∝ pixels")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("pixels per frame")
        ax.set_title(f"{what}: seconds per P-frame")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds per P-frame")
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle(f"zoo speed — {report['machine']['processor']}, "
                 f"{res[0].get('threads', '?')} threads, {report['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(output, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_report(report: dict, opts: Options) -> list[Path]:
    """The JSON report, and the plot and the Markdown table when asked; paths written."""
    written = []
    out = Path(opts.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1, allow_nan=True))
    os.replace(tmp, out)
    written.append(out)
    if opts.plot:
        Path(opts.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(report, opts.plot)
        written.append(Path(opts.plot))
    if opts.markdown:
        md = Path(opts.markdown)
        image = None
        if opts.plot:
            image = os.path.relpath(Path(opts.plot).resolve(), md.resolve().parent)
        write_markdown(md, markdown(report, image))
        written.append(md)
    return written


# ------------------------------------------------------------------ child process


def _child(argv: Sequence[str]) -> int:
    import warnings
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(prog="python -m zoo.speed")
    parser.add_argument("--one", required=True, help="a job, as JSON")
    args = parser.parse_args(argv)
    result = measure(json.loads(args.one))
    print(json.dumps(result, allow_nan=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))

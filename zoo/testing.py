"""Conformance checks for plugin authors: run them in your plugin's own tests.

::

    import my_plugin
    from zoo import testing

    def test_conformance():
        zoo = testing.plugin_zoo(my_plugin, "my-plugin")
        testing.check_plugin(zoo, "my-plugin", mixes_with=["cmfr", "cmfr,sff,refiner"])

:func:`plugin_zoo` loads the built-in plugins plus yours (an installed copy of
it is left out, so the code under test is the code checked). The checks raise
:class:`ConformanceError` (an ``AssertionError``, so pytest shows it as a test
failure) with a message naming the plugin, the slot and what is wrong:

- :func:`check_registration`: it loads, describes itself, every ``zoo_*``
  function is a hook implementation, its rules name tags that exist, the
  models it registers name installed plugins;
- :func:`check_slots`: every slot module it builds honours the slot contract
  of :mod:`zoo.slots` on small tensors: shapes, likelihoods, gradients, and
  ``compress`` returning what ``decompress`` decodes, bit for bit;
- :func:`check_codec`: a whole codec with it (and what it mixes with) trains
  (``forward``), codes a tiny real clip through the bitstream, and a second,
  separately built codec decodes it bit-exactly;
- :func:`check_plugin`: all of the above, plus every model it registers opens.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from compressai.models import CompressionModel
from torch import Tensor, nn

from zoo.core.build import ModelSpec
from zoo.core.coding import encode_clip
from zoo.core.config import Config
from zoo.core.manager import BUILTIN_PACKAGE, SLOTS, LoadPolicy, Plugin, Selection, Zoo
from zoo.core.models import open_model
from zoo.core.pipeline import alternatives, target
from zoo.core.sequence import decode_records, pad
from zoo.errors import ZooError
from zoo.io import bitstream
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import Clip, read_clip
from zoo.nn.gains import GainedEntropyModel
from zoo.slots import ALIGNMENT, Context, Reference

SAMPLE = Path(__file__).parent / "samples" / "carphone_176x144.mp4"

#: Latent size the entropy-model checks use (multiples of 4, not square).
LATENT_SIZE = (8, 12)


class ConformanceError(AssertionError):
    """A plugin does not honour the plugin API."""


def _expect(condition: Any, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


# ------------------------------------------------------------------ set-up


def plugin_zoo(plugin: Any, name: str, package: str | None = None, version: str | None = None,
               also: Iterable[str] = ()) -> Zoo:
    """The built-in plugins plus ``plugin`` (a module or object) under ``name``.

    Installed third-party plugins are left out, but for those named in
    ``also`` (for mixing checks); an installed copy of ``name`` is too.
    ``package`` and ``version`` default to the installed distribution of the
    plugin's top-level module, if any.
    """
    only = frozenset({BUILTIN_PACKAGE, *also})
    zoo = Zoo.discover(LoadPolicy(autoload=False, only=only, blocked=frozenset({name})))
    if package is None:
        top = getattr(plugin, "__name__", "").split(".")[0]
        package = next(iter(importlib.metadata.packages_distributions().get(top, [])), "?")
    if version is None:
        try:
            version = importlib.metadata.version(package) if package != "?" else "?"
        except importlib.metadata.PackageNotFoundError:
            version = "?"
    zoo.add(name, plugin, package, version)
    broken = next((b for b in zoo.broken if b.name == name), None)
    _expect(broken is None, f"plugin {name!r} does not load: {broken.reason if broken else ''}")
    return zoo


@functools.cache
def tiny_clip(frames: int = 3, width: int = 72, height: int = 48) -> Clip:
    """The first ``frames`` frames of the bundled real clip, top-left ``width`` x ``height``."""
    clip = read_clip(SAMPLE, frames)
    planes = [(y[:height, :width].copy(), u[:height // 2, :width // 2].copy(),
               v[:height // 2, :width // 2].copy()) for y, u, v in clip.frames]
    return Clip(frames=planes, width=width, height=height, fps=clip.fps)


def _combo(names: str | Sequence[str]) -> tuple[str, ...]:
    names = names.split(",") if isinstance(names, str) else names
    return tuple(n.strip() for n in names if n.strip())


# ------------------------------------------------------------------ registration


def registered_models(zoo: Zoo, name: str) -> dict[str, dict[str, Any]]:
    """The models plugin ``name`` registers through ``zoo_register_models``, by name."""
    plugin = zoo.get(name)
    models: dict[str, dict[str, Any]] = {}

    def register(model: str, **fields: Any) -> None:
        models[model] = fields

    zoo.ask(plugin, "zoo_register_models", register=register)
    return models


def check_registration(zoo: Zoo, name: str) -> Plugin:
    """The plugin loaded and describes itself in terms the zoo knows."""
    try:
        plugin = zoo.get(name)
    except ZooError as e:
        raise ConformanceError(str(e)) from None
    for attr in dir(plugin.module):
        if attr.startswith("zoo_") and callable(getattr(plugin.module, attr)):
            _expect(zoo.pm.parse_hookimpl_opts(plugin.module, attr) is not None,
                    f"{name}: {attr} is not marked @hookimpl, so the zoo would never call it")
    _expect(plugin.info.summary, f"{name}: zoo_describe must return a PluginInfo with a summary")
    models = registered_models(zoo, name)
    _expect(plugin.slots or models, f"{name}: fills no slot and registers no model")
    tags = set(SLOTS).union(*(p.tags for p in zoo.plugins.values()))
    for tag in plugin.info.requires:
        _expect(tag in tags, f"{name}: requires {tag!r}, which no installed plugin provides")
    for tag in plugin.info.excludes:
        _expect(tag in tags, f"{name}: excludes {tag!r}, which is no plugin, slot or provided tag")
    for model, fields in models.items():
        for other in fields.get("plugins", ()):
            _expect(other in zoo.plugins, f"{name}: model {model!r} needs plugin {other!r}, "
                                          f"which is not installed")
    return plugin


# ------------------------------------------------------------------ slot contracts


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _frames(n: int = 2) -> list[Tensor]:
    """Small padded frames in [0, 1] (B, 3, ALIGNMENT, ALIGNMENT)."""
    g = _gen(1)
    base = torch.rand(1, 3, ALIGNMENT // 8, ALIGNMENT // 8 + n, generator=g)
    base = nn.functional.interpolate(base, size=(ALIGNMENT, ALIGNMENT + 8 * n), mode="bilinear")
    return [base[..., 8 * i:8 * i + ALIGNMENT].contiguous() for i in range(n)]


def _flat(likelihoods: Any) -> list[Tensor]:
    if isinstance(likelihoods, dict):
        return [t for v in likelihoods.values() for t in _flat(v)]
    return [likelihoods]


def _check_likelihoods(where: str, likelihoods: Any) -> Tensor:
    """Finite likelihoods in (0, 1]; returns their total in bits."""
    _expect(isinstance(likelihoods, dict) and likelihoods,
            f"{where}: 'likelihoods' must be a non-empty dict of tensors")
    tensors = _flat(likelihoods)
    _expect(all(isinstance(t, Tensor) for t in tensors), f"{where}: likelihoods must be tensors")
    for t in tensors:
        _expect(torch.isfinite(t).all() and (t > 0).all() and (t <= 1 + 1e-6).all(),
                f"{where}: likelihoods must be finite and in (0, 1]")
    return sum(-torch.log2(t).sum() for t in tensors)


def _check_gradients(where: str, module: nn.Module, loss: Tensor) -> None:
    """``loss`` backpropagates: finite gradients, and some reach the module's parameters."""
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        return
    _expect(loss.requires_grad, f"{where}: the output does not depend on the module's parameters")
    module.zero_grad()
    loss.backward()
    grads = [p.grad for p in params if p.grad is not None]
    _expect(all(torch.isfinite(g).all() for g in grads), f"{where}: gradients are not finite")
    _expect(any(g.abs().sum() > 0 for g in grads),
            f"{where}: no gradient reaches the module's parameters in training mode")
    module.zero_grad()


def prepare_coding(module: nn.Module) -> nn.Module:
    """Eval mode and the entropy coder's tables built, as the zoo does before coding."""
    module.eval()
    CompressionModel.update(module, force=True)  # it only walks the module's submodules
    return module


def _check_strings(where: str, strings: Any) -> list[bytes]:
    _expect(isinstance(strings, list) and all(isinstance(s, bytes) for s in strings),
            f"{where}: compress must return its strings as a list of bytes")
    return [bytes(s) for s in strings]


def _same(where: str, what: str, encoded: Any, decoded: Any) -> None:
    if encoded is None or decoded is None:
        _expect(encoded is None and decoded is None, f"{where}: {what}: one side is None")
        return
    _expect(isinstance(decoded, Tensor) and decoded.shape == encoded.shape,
            f"{where}: decompress gives {what} of another shape")
    _expect(torch.equal(encoded, decoded), f"{where}: decompress does not give the {what} that "
            f"compress returned (compress must return what the decoder will compute)")


class _SlotCheck:
    """Builds the slot modules of one selection the way the zoo does, and checks them."""

    def __init__(self, selection: Selection, config: Config, name: str) -> None:
        self.selection, self.config, self.name = selection, config, name
        self.q = config.qualities - 1

    def build(self, slot: str, **kwargs: Any) -> nn.Module:
        module = self.selection.build(slot, config=self.config, **kwargs)
        _expect(isinstance(module, nn.Module), f"{self.name}: {slot}: the hook must return an "
                                               f"nn.Module, not {type(module).__name__}")
        return module

    def entropy(self, channels: int, latent: str, context_channels: int = 0) -> nn.Module:
        model = self.selection.build("entropy_model", config=self.config, channels=channels,
                                     latent=latent, context_channels=context_channels)
        return GainedEntropyModel(model, channels, self.config.lambdas)

    def fusion(self, channels: int, levels: int) -> nn.Module:
        return self.selection.build("fusion", config=self.config, channels=channels, levels=levels)

    def context(self, ref: Reference) -> Context:
        flow = torch.zeros(1, 2, *ref.frame.shape[-2:])
        return self.selection.build("temporal_context", config=self.config)(ref, flow)

    # one method per slot ------------------------------------------------

    def entropy_model(self) -> None:
        served = 0
        for latent, channels, context_channels in (
                ("intra", self.config.latent_channels, 0),
                ("motion", self.config.motion_latent_channels, 0),
                ("residual", self.config.latent_channels, 0),
                ("residual", self.config.latent_channels, self.config.channels)):
            where = f"{self.name}: entropy_model({latent}, {channels} channels, context {context_channels})"
            # the plugin alone: built through the selection, a latent it passes on would
            # get the default's module
            module = self.selection.zoo.ask(self.selection.zoo.get(self.name), "zoo_entropy_model",
                                            config=self.config, channels=channels, latent=latent,
                                            context_channels=context_channels)
            if module is None:  # the plugin leaves this latent to the next one
                continue
            _expect(isinstance(module, nn.Module), f"{where}: the hook must return an nn.Module "
                                                   f"or None, not {type(module).__name__}")
            served += 1
            context = tuple(torch.randn(1, n, *LATENT_SIZE, generator=_gen(1))
                            for n in (context_channels,) if n)
            y = torch.randn(1, channels, *LATENT_SIZE, generator=_gen()) * 3
            module.train()
            out = module(y, *context)
            _expect(isinstance(out, dict) and {"y_hat", "likelihoods"} <= set(out),
                    f"{where}: forward must return {{'y_hat', 'likelihoods'}}")
            _expect(out["y_hat"].shape == y.shape,
                    f"{where}: forward's y_hat has shape {tuple(out['y_hat'].shape)}, "
                    f"y {tuple(y.shape)}")
            bits = _check_likelihoods(where, out["likelihoods"])
            _check_gradients(where, module, bits + out["y_hat"].square().sum())
            prepare_coding(module)
            with torch.inference_mode():
                result = module.compress(y, *context)
                _expect(isinstance(result, tuple) and len(result) == 2,
                        f"{where}: compress must return (strings, y_hat)")
                strings, y_hat = result
                strings = _check_strings(where, strings)
                _expect(y_hat.shape == y.shape, f"{where}: compress's y_hat has another shape")
                _same(where, "y_hat", y_hat, module.decompress(strings, LATENT_SIZE, *context))
        _expect(served > 0, f"{self.name}: entropy_model: the hook returned None for every latent")

    def motion_estimation(self) -> None:
        where = f"{self.name}: motion_estimation"
        module = self.build("motion_estimation")
        x, ref = _frames(2)
        flow = module.train()(x, ref)
        _expect(isinstance(flow, Tensor) and flow.shape == (1, 2, *x.shape[-2:]),
                f"{where}: forward(x, ref_frame) must return a flow (1, 2, H, W)")
        _expect(torch.isfinite(flow).all(), f"{where}: the flow is not finite")
        _check_gradients(where, module, flow.square().mean())

    def motion_coding(self) -> None:
        where = f"{self.name}: motion_coding"
        module = self.build("motion_coding", entropy=self.entropy)
        size = (ALIGNMENT, ALIGNMENT)
        flow = torch.randn(1, 2, *size, generator=_gen()) * 2
        ref = Reference(frame=torch.rand(1, 3, *size, generator=_gen()), flow=flow.roll(1, -1))
        module.train()
        out = module(flow, self.q, ref)
        _expect(isinstance(out, dict) and {"x_hat", "likelihoods"} <= set(out),
                f"{where}: forward(flow, q, ref) must return {{'x_hat', 'likelihoods'}}")
        _expect(out["x_hat"].shape == flow.shape, f"{where}: the decoded flow has another shape")
        bits = _check_likelihoods(where, out["likelihoods"])
        _check_gradients(where, module, bits + (out["x_hat"] - flow).square().sum())
        prepare_coding(module)
        with torch.inference_mode():
            x = torch.rand(1, 3, *size, generator=_gen())
            cases = [(None, {}), (ref, {}), (ref, target(module.compress, x))]
            cases += [(ref, {"alternative": a}) for a in range(1, alternatives(module, self.q))]
            for given, more in cases:
                # after an I-frame, after a P-frame, with the frame being coded if it takes
                # it, and each alternative it offers
                strings, flow_hat = module.compress(flow, self.q, given, **more)
                strings = _check_strings(where, strings)
                _same(where, "flow", flow_hat, module.decompress(strings, size, self.q, given))

    def motion_refinement(self) -> None:
        where = f"{self.name}: motion_refinement"
        module = self.build("motion_refinement")
        frame, _ = _frames(2)
        flow = torch.randn(1, 2, *frame.shape[-2:], generator=_gen())
        out = module.train()(flow, Reference(frame=frame))
        _expect(isinstance(out, Tensor) and out.shape == flow.shape,
                f"{where}: forward(flow_hat, ref) must return a flow of the same shape")
        _check_gradients(where, module, out.square().mean())

    def temporal_context(self) -> None:
        where = f"{self.name}: temporal_context"
        module = self.build("temporal_context")
        frame, _ = _frames(2)
        flow = torch.randn(1, 2, *frame.shape[-2:], generator=_gen())
        ctx = module.train()(Reference(frame=frame), flow)
        _expect(isinstance(ctx, Context), f"{where}: forward(ref, flow_hat) must return a Context")
        _expect(ctx.prediction.shape == frame.shape, f"{where}: the prediction has another shape")
        residual = self.selection.filler("residual_domain")
        if residual is not None and "prediction-only" in residual.tags:
            # a residual domain that reads the prediction alone: the pyramid may be absent
            _check_gradients(where, module, ctx.prediction.mean())
            return
        h, w = frame.shape[-2:]
        shapes = [tuple(f.shape) for f in ctx.features]
        scale = self.config.feature_scale
        expected = [(1, self.config.channels, h // s, w // s) for s in (scale, 2 * scale, 4 * scale)]
        _expect(shapes == expected, f"{where}: context features {shapes}, expected {expected}")
        _check_gradients(where, module, ctx.prediction.mean() + sum(f.mean() for f in ctx.features))

    def fusion_slot(self) -> None:
        where = f"{self.name}: fusion"
        channels = self.config.channels
        module = self.build("fusion", channels=channels, levels=3)
        module.train()
        total = torch.zeros(())
        for level in range(3):
            size = (ALIGNMENT // self.config.feature_scale >> level,) * 2
            h, c = (torch.randn(1, channels, *size, generator=_gen(level + k)) for k in (0, 1))
            for side in ("encode", "decode"):
                out = getattr(module, side)(level, h, c)
                _expect(isinstance(out, Tensor) and out.shape == h.shape,
                        f"{where}: {side}({level}, h, c) must keep h's shape {tuple(h.shape)}")
                total = total + out.square().mean()
        _check_gradients(where, module, total)

    def residual_domain(self) -> None:
        where = f"{self.name}: residual_domain"
        module = self.build("residual_domain", entropy=self.entropy, fusion=self.fusion)
        x, frame = _frames(2)
        ref = Reference(frame=frame)
        with torch.no_grad():
            ctx = self.context(ref)
        module.train()
        out = module(x, ctx, ref, self.q)
        _expect(isinstance(out, dict) and {"x_hat", "likelihoods", "feature"} <= set(out),
                f"{where}: forward(x, ctx, ref, q) must return "
                f"{{'x_hat', 'likelihoods', 'feature'}}")
        _expect(out["x_hat"].shape == x.shape, f"{where}: the reconstruction has another shape")
        bits = _check_likelihoods(where, out["likelihoods"])
        _check_gradients(where, module, bits + 100 * (out["x_hat"] - x).square().sum())
        prepare_coding(module)
        with torch.inference_mode():
            strings, x_hat, feature = module.compress(x, ctx, ref, self.q)
            strings = _check_strings(where, strings)
            decoded = module.decompress(strings, ctx, ref, self.q)
            _expect(isinstance(decoded, tuple) and len(decoded) == 2,
                    f"{where}: decompress must return (x_hat, feature)")
            _same(where, "reconstruction", x_hat, decoded[0])
            _same(where, "feature", feature, decoded[1])

    def post_filter(self) -> None:
        where = f"{self.name}: post_filter"
        module = self.build("post_filter")
        _expect(isinstance(getattr(module, "in_loop", None), bool),
                f"{where}: the module must say whether it is in the loop (in_loop: bool)")
        x, _ = _frames(2)
        out = module.train()(x, self.q)
        _expect(isinstance(out, Tensor) and out.shape == x.shape,
                f"{where}: forward(x_hat, q) must return a frame of the same shape")
        _check_gradients(where, module, out.square().mean())
        module.eval()
        with torch.inference_mode():
            _expect(torch.equal(module(x, self.q), module(x, self.q)),
                    f"{where}: not deterministic in eval mode")

    def intra_coding(self) -> None:
        where = f"{self.name}: intra_coding"
        module = self.build("intra_coding", entropy=self.entropy)
        x, _ = _frames(2)
        module.train()
        out = module(x, self.q)
        _expect(isinstance(out, dict) and {"x_hat", "likelihoods"} <= set(out),
                f"{where}: forward(x, q) must return {{'x_hat', 'likelihoods'}}")
        _expect(out["x_hat"].shape == x.shape, f"{where}: the reconstruction has another shape")
        bits = _check_likelihoods(where, out["likelihoods"])
        _check_gradients(where, module, bits + 100 * (out["x_hat"] - x).square().sum())
        prepare_coding(module)
        with torch.inference_mode():
            strings, x_hat = module.compress(x, self.q)
            strings = _check_strings(where, strings)
            _same(where, "reconstruction", x_hat, module.decompress(strings, x.shape[-2:], self.q))
            if getattr(module, "any_size", False):  # it is handed frames of any visible size
                crop = x[..., :-6, :-2]
                strings, x_hat = module.compress(crop, self.q)
                _expect(x_hat.shape == crop.shape,
                        f"{where}: any_size is set, but a {tuple(crop.shape)} frame comes back "
                        f"as {tuple(x_hat.shape)}")
                strings = _check_strings(where, strings)
                _same(where, "reconstruction of a cropped frame", x_hat,
                      module.decompress(strings, crop.shape[-2:], self.q))


_SLOT_CHECKS: dict[str, Callable[[_SlotCheck], None]] = {
    "entropy_model": _SlotCheck.entropy_model, "motion_estimation": _SlotCheck.motion_estimation,
    "motion_coding": _SlotCheck.motion_coding, "motion_refinement": _SlotCheck.motion_refinement,
    "temporal_context": _SlotCheck.temporal_context, "fusion": _SlotCheck.fusion_slot,
    "residual_domain": _SlotCheck.residual_domain, "post_filter": _SlotCheck.post_filter,
    "intra_coding": _SlotCheck.intra_coding,
}


def check_slots(zoo: Zoo, name: str, with_plugins: str | Sequence[str] = (), preset: str = "lite",
                options: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Every slot module ``name`` builds honours its contract (``zoo.slots``).

    The other slots are filled by the defaults, or by ``with_plugins`` (for a
    plugin that requires something the defaults do not provide). ``compose``
    is checked by :func:`check_codec` only. Returns the slots checked.
    """
    plugin = zoo.get(name)
    try:
        selection = zoo.select([name, *_combo(with_plugins)])
    except ZooError as e:
        raise ConformanceError(f"{name}: {e}") from None
    checker = _SlotCheck(selection, Config.from_preset(preset, options), name)
    checked = []
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for slot in plugin.slots:
            if slot in _SLOT_CHECKS:
                _SLOT_CHECKS[slot](checker)
                checked.append(slot)
    return checked


# ------------------------------------------------------------------ whole codecs


def check_codec(zoo: Zoo, plugins: str | Sequence[str], preset: str = "lite",
                options: dict[str, dict[str, Any]] | None = None,
                frames: int = 3) -> dict[str, Any]:
    """A codec of ``plugins`` (plus defaults) trains and codes a tiny clip bit-exactly.

    Two codecs are built from the same seed and must have the same weights (a
    decoder rebuilds them from the bitstream's header); one encodes the first
    ``frames`` frames of the bundled clip (an I-frame, then P-frames), the
    bitstream is serialised and parsed, the other decodes it, and every frame
    must equal the encoder's reconstruction. Then a training step
    (``forward`` on an I- and a P-frame) must give finite likelihoods and
    gradients. Returns the bytes and bits per pixel.
    """
    names = _combo(plugins)
    spec = ModelSpec(names, preset, options or {})
    label = ",".join(names) or "(defaults)"
    try:
        encoder = open_model(spec=spec, untrained=True, zoo=zoo)
        decoder = open_model(spec=spec, untrained=True, zoo=zoo)
    except ZooError as e:
        raise ConformanceError(f"{label}: {e}") from None
    _expect(encoder.sha256 == decoder.sha256,
            f"{label}: two builds have different initial weights; draw every random "
            f"initialisation from torch's global generator (the zoo seeds it)")
    clip = tiny_clip(frames)
    quality = encoder.codec.qualities - 1
    header, records, recon = encode_clip(encoder, clip, quality, intra_period=0)
    data = bitstream.dumps(header, records)
    _, read = bitstream.loads(data)
    decoded = list(decode_records(decoder.codec, read, clip.height, clip.width, quality))
    _expect(len(decoded) == len(recon), f"{label}: decoded {len(decoded)} of {len(recon)} frames")
    for index, (a, b) in enumerate(zip(recon, decoded)):
        _expect(torch.equal(a, b), f"{label}: frame {index} ({records[index].kind}) decodes "
                                   f"differently from the encoder's reconstruction")
    _check_training(label, encoder.codec, clip, quality)
    return {"bytes": len(data), "bpp": 8 * len(data) / (clip.width * clip.height * len(recon)),
            "frames": len(recon)}


def _check_training(label: str, codec: nn.Module, clip: Clip, quality: int) -> None:
    x0, x1 = (pad(yuv420_to_rgb(*planes)) for planes in clip.frames[:2])
    codec.train()
    try:
        intra = codec.intra_forward(x0, quality)
        out = codec(x1, intra["ref"], quality)
        _expect(out["x_hat"].shape == x1.shape, f"{label}: forward's x_hat has another shape")
        bits = _check_likelihoods(f"{label}: forward", out["likelihoods"])
        bits = bits + _check_likelihoods(f"{label}: intra_forward", intra["likelihoods"])
        loss = bits + 100 * (out["x_hat"] - x1).square().sum()
        _check_gradients(f"{label}: forward", codec, loss)
    finally:
        codec.eval()


def check_plugin(zoo: Zoo, name: str, mixes_with: Iterable[str | Sequence[str]] = (),
                 preset: str = "lite", frames: int = 3) -> None:
    """All the checks: registration, slot contracts, a codec alone and in every
    combination of ``mixes_with`` (e.g. ``["cmfr", "cmfr,sff,refiner"]``), and
    every model it registers opens (with its weights, verified, if it ships them)."""
    plugin = check_registration(zoo, name)
    check_slots(zoo, name, preset=preset)
    if plugin.slots and "compose" not in plugin.slots:
        check_codec(zoo, [name], preset, frames=frames)
    for combo in mixes_with:
        check_codec(zoo, [name, *_combo(combo)], preset, frames=frames)
    for model, fields in registered_models(zoo, name).items():
        try:
            open_model(model, untrained=not fields.get("weights"), zoo=zoo)
        except ZooError as e:
            raise ConformanceError(f"{name}: model {model!r} does not open: {e}") from None

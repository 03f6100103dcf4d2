"""Open a model ready to code: built, weights verified and loaded, CDFs updated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from zoo.errors import ZooError
from zoo.io.bitstream import check_model_spec
from .build import ModelSpec, build_codec
from .manager import Plugin, Zoo
from .options import check_options
from .pipeline import PFrameCodec
from .registry import ModelEntry, find_model, load_registry, match_spec
from .search import Search
from .weights import file_spec, fingerprint, give, given, load_weights


@dataclass
class OpenModel:
    """A codec in eval mode, and what identifies its weights in a bitstream."""

    codec: nn.Module
    spec: ModelSpec
    name: str | None
    sha256: str
    trained: bool
    entry: ModelEntry | None = None
    members: tuple["OpenModel", ...] = ()  #: a composed model's members, opened
    device: torch.device = torch.device("cpu")  #: where the codec runs; frames go there
    #: what implements its active plugins (members' too), recorded in streams: see implementations()
    implementations: dict[str, str] = field(default_factory=dict)
    #: weights given by file (``--weights``): ``{"file", "sha256"}``, recorded in streams and results
    weights: dict[str, str] | None = None
    #: the encoder's search (:meth:`use_search`), recorded in results, not in streams
    search: Search | None = None

    def header_model(self) -> dict[str, Any]:
        """What a bitstream records of the model: see :func:`_header_model`."""
        return _header_model(self.name, self.spec, self.trained, self.weights)

    def record(self) -> dict[str, Any]:
        """The model in full, for reports: name, plugins, preset, options, ladder, untrained,
        and the encoder's search if it has one."""
        return {**_spec_record(self.name, self.spec, self.trained, self.weights),
                **({"search": self.search.record()} if self.search else {})}

    def use_search(self, search: Search | None) -> "OpenModel":
        """Encode with ``search`` (None or 0 steps: none), every P-frame codec in the model
        (an ensemble's members too); decoding is unchanged. Returns the model."""
        self.search = search if search is not None and search.steps > 0 else None
        for module in self.codec.modules():
            if isinstance(module, PFrameCodec):
                module.search = self.search
        return self


def _spec_record(name: str | None, spec: ModelSpec, trained: bool,
                 weights: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, **spec.to_dict(), "untrained": not trained,
            **({"weights": weights} if weights else {})}


def _header_model(name: str | None, spec: ModelSpec, trained: bool,
                  weights: dict[str, str] | None = None) -> dict[str, Any]:
    """A registry model's name alone (and ``"untrained": true`` if so): its decoder opens
    that registry entry, spec and all, and the header's weights sha256 pins the entry
    (about 30 bytes where the whole spec took 150-250); any other model's whole spec."""
    if name is not None:
        return {"name": name, **({"untrained": True} if not trained else {})}
    return _spec_record(name, spec, trained, weights)


def implementations(plugins: Iterable[Plugin]) -> dict[str, str]:
    """Each plugin's ``"<package> <version>"`` by name; the built-in ones' under ``"*"``
    (so that a stream of built-in plugins spends 24 bytes on it)."""
    return {("*" if p.builtin else p.name): f"{p.package} {p.version}" for p in plugins}


def is_composed(plugins: tuple[str, ...], zoo: Zoo) -> bool:
    """Whether these plugins compose whole models (an ensemble): no weights of its own."""
    return zoo.select(plugins).filler("compose") is not None


def check_device(device: str) -> torch.device:
    """``cpu`` or ``cuda[:N]``, available on this machine; else a ZooError."""
    if device != "cpu" and not device.startswith("cuda"):
        raise ZooError(f"unknown device {device!r} (cpu or cuda)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ZooError(f"--device {device}: CUDA is not available here (torch {torch.__version__}, "
                       f"{torch.cuda.device_count()} GPUs)")
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise ZooError(f"unknown device {device!r}: {e}") from None


def checked(spec: ModelSpec, zoo: Zoo | None = None) -> ModelSpec:
    """``spec`` with its options checked against the plugins' schemas (a ZooError
    names the first unknown plugin, key or bad value), their values coerced, and
    those of plugins not in the model dropped."""
    zoo = zoo or Zoo.load()
    active = zoo.select(spec.plugins).active
    return replace(spec, options=check_options(active, spec.options, zoo.plugins.values()))


def _with_file_spec(spec: ModelSpec | None, path: Path) -> ModelSpec | None:
    """``spec`` completed from the model a weights file records: its plugins and preset
    when ``spec`` names no plugins, its ladder where ``spec`` has none, and its options
    under ``spec``'s (key by key); other plugins than the file's are an error."""
    recorded = file_spec(path)
    if recorded is None:
        return spec
    own = ModelSpec(tuple(recorded["plugins"]), recorded.get("preset", "lite"),
                    recorded.get("options", {}), tuple(recorded.get("lambdas", ())))
    if spec is None:
        return own
    if spec.plugins and set(spec.plugins) != set(own.plugins):
        raise ZooError(f"--weights {path.name} holds the model {','.join(own.plugins)}, "
                       f"not {','.join(spec.plugins)}: give its plugins, or none")
    options = {plugin: {**own.options.get(plugin, {}), **spec.options.get(plugin, {})}
               for plugin in {**own.options, **spec.options}}
    plugins, preset = (spec.plugins, spec.preset) if spec.plugins else (own.plugins, own.preset)
    return ModelSpec(plugins, preset, options, spec.lambdas or own.lambdas)


def open_model(name: str | None = None, spec: ModelSpec | None = None, *,
               untrained: bool = False, zoo: Zoo | None = None, device: str = "cpu",
               weights: Path | None = None) -> OpenModel:
    """By registry ``name``, or by ``spec`` (matched to a registry model when one fits),
    on ``device`` (its weights verified and loaded first, its CDFs built there).

    ``weights``: a safetensors file of the model's trained weights, used instead of
    the registry's; its name and sha256 go into streams and results. Without a
    ``name``, the model the file records (plugins, preset, options, ladder) fills
    what ``spec`` leaves out. A model
    without trained weights opens only with ``untrained=True``; its weights are
    then the seeded initial ones, identical in every process. The options must
    fit the plugins' schemas; a spec a bitstream header cannot hold (over 4 KB
    of JSON) is refused first.
    """
    where = check_device(device)
    zoo = zoo or Zoo.load()
    sha = give(weights) if weights is not None else None  # exists, .safetensors; its sha256
    if weights is not None and name is None:
        spec = _with_file_spec(spec, weights)
    if spec is not None and name is None:
        spec = checked(spec, zoo)  # unknown names, clashes and options first, before any weights
    if weights is not None and untrained:
        raise ZooError("--weights and --untrained exclude each other")
    registry = load_registry(zoo)
    entry = find_model(name, registry) if name else None
    spec = entry.spec if entry else (spec or ModelSpec())
    if weights is not None:
        entry = ModelEntry(weights.stem, spec.plugins, spec.preset, spec.options, weights.resolve(),
                           sha, source="--weights", lambdas=spec.lambdas)
    elif not name:
        entry = match_spec(spec, registry)
        spec = entry.spec if entry else spec
    spec = checked(spec, zoo)
    selection = zoo.select(spec.plugins)
    # A composed model (an ensemble) has no weights of its own: it is trained
    # when its members are, and opening an untrained member says so.
    composed = is_composed(spec.plugins, zoo)
    if composed and weights is not None:
        raise ZooError("a composed model has no weights of its own: --weights applies to its members")
    trained = not untrained and (composed or bool(entry and entry.weights))
    if not trained and not untrained:
        what = f"model {entry.name!r}" if entry else f"plugin set {','.join(spec.plugins) or '(defaults)'}"
        raise ZooError(f"{what} has no trained weights yet; pass --untrained to run it "
                       f"with random (seeded) weights")
    named = entry.name if entry and weights is None else None
    recorded = {"file": weights.name, "sha256": entry.sha256} if weights is not None else None
    try:
        check_model_spec(_header_model(named, spec, trained, recorded))
    except ValueError as e:
        raise ZooError(f"this model cannot be recorded in a bitstream: {e}") from None
    plugins = implementations(selection.active)
    members: list[OpenModel] = []

    def member(member_name: str) -> nn.Module:
        members.append(open_model(member_name, untrained=untrained, zoo=zoo, device=device))
        return members[-1].codec

    codec = build_codec(spec, member, zoo)
    for m in members:
        plugins.update(m.implementations)
    if trained and not composed:
        load_weights(codec, entry.weights, entry.sha256 or "")
        sha = entry.sha256 or ""
    elif trained:
        sha = hashlib.sha256("".join(m.sha256 for m in members).encode()).hexdigest()
    else:
        sha = fingerprint(codec)
    codec.to(where)
    codec.update(force=True)
    codec.eval()
    return OpenModel(codec, spec, named, sha, trained, entry, tuple(members), where, plugins,
                     recorded)


def open_recorded(name: str | None, spec: ModelSpec, *, untrained: bool = False,
                  weights: Any = None, device: str = "cpu") -> OpenModel:
    """The model a bitstream names: a registry model by ``name``, or ``spec`` with the
    weights file it records (``weights``: ``{"file", "sha256"}``), found among the files
    given to this process (``--weights``) and the registry's. What this machine lacks
    is a one-line error naming it."""
    if weights is None:
        if name is not None and name not in load_registry():
            raise ZooError(f"the bitstream was made with model {name!r}, which is not in this "
                           f"zoo's registry (add its registry entry, or install the plugin "
                           f"that registers it)")
        return open_model(name, None if name else spec, untrained=untrained, device=device)
    if not (isinstance(weights, dict) and isinstance(weights.get("file"), str)
            and isinstance(weights.get("sha256"), str) and len(weights["sha256"]) == 64):
        raise ZooError("header is corrupt (its weights field is not a file name and a sha256)")
    sha = weights["sha256"]
    path = given(sha) or next((e.weights for e in load_registry().values()
                               if e.sha256 == sha and e.weights and e.weights.is_file()), None)
    if path is None:
        raise ZooError(f"the bitstream was made with weights file {weights['file']} (sha256 {sha}), "
                       f"which this machine lacks; give it with --weights")
    return open_model(spec=spec, device=device, weights=path)

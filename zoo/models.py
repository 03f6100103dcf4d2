"""Open a model ready to code: built, weights verified and loaded, CDFs updated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
from torch import nn

from .bitstream import check_model_spec
from .build import ModelSpec, build_codec
from .errors import ZooError
from .manager import Plugin, Zoo
from .registry import ModelEntry, find_model, load_registry, match_spec
from .weights import fingerprint, load_weights


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

    def header_model(self) -> dict[str, Any]:
        return _header_model(self.name, self.spec, self.trained)


def _header_model(name: str | None, spec: ModelSpec, trained: bool) -> dict[str, Any]:
    return {"name": name, **spec.to_dict(), "untrained": not trained}


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


def open_model(name: str | None = None, spec: ModelSpec | None = None, *,
               untrained: bool = False, zoo: Zoo | None = None, device: str = "cpu") -> OpenModel:
    """By registry ``name``, or by ``spec`` (matched to a registry model when one fits),
    on ``device`` (its weights verified and loaded first, its CDFs built there).

    A model without trained weights opens only with ``untrained=True``; its
    weights are then the seeded initial ones, identical in every process. A spec
    a bitstream header cannot hold (NaN options, over 4 KB of JSON) is refused first.
    """
    where = check_device(device)
    zoo = zoo or Zoo.load()
    if spec is not None and name is None:
        zoo.select(spec.plugins)  # unknown names and clashes first, before any weights
    registry = load_registry(zoo)
    entry = find_model(name, registry) if name else match_spec(spec or ModelSpec(), registry)
    spec = entry.spec if entry else (spec or ModelSpec())
    # A composed model (an ensemble) has no weights of its own: it is trained
    # when its members are, and opening an untrained member says so.
    composed = is_composed(spec.plugins, zoo)
    trained = not untrained and (composed or bool(entry and entry.weights))
    if not trained and not untrained:
        what = f"model {entry.name!r}" if entry else f"plugin set {','.join(spec.plugins) or '(defaults)'}"
        raise ZooError(f"{what} has no trained weights yet; pass --untrained to run it "
                       f"with random (seeded) weights")
    try:
        check_model_spec(_header_model(entry.name if entry else None, spec, trained))
    except ValueError as e:
        raise ZooError(f"this model cannot be recorded in a bitstream: {e}") from None
    recorded = implementations(zoo.select(spec.plugins).active)
    members: list[OpenModel] = []

    def member(member_name: str) -> nn.Module:
        members.append(open_model(member_name, untrained=untrained, zoo=zoo, device=device))
        return members[-1].codec

    codec = build_codec(spec, member, zoo)
    for m in members:
        recorded.update(m.implementations)
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
    return OpenModel(codec, spec, entry.name if entry else None, sha, trained, entry, tuple(members),
                     where, recorded)

"""Open a model ready to code: built, weights verified and loaded, CDFs updated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from torch import nn

from .build import ModelSpec, build_codec
from .errors import ZooError
from .manager import Zoo
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

    def header_model(self) -> dict[str, Any]:
        return {"name": self.name, **self.spec.to_dict(), "untrained": not self.trained}


def is_composed(plugins: tuple[str, ...], zoo: Zoo) -> bool:
    """Whether these plugins compose whole models (an ensemble): no weights of its own."""
    return zoo.select(plugins).filler("compose") is not None


def open_model(name: str | None = None, spec: ModelSpec | None = None, *,
               untrained: bool = False, zoo: Zoo | None = None) -> OpenModel:
    """By registry ``name``, or by ``spec`` (matched to a registry model when one fits).

    A model without trained weights opens only with ``untrained=True``; its
    weights are then the seeded initial ones, identical in every process.
    """
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
    members: list[OpenModel] = []

    def member(member_name: str) -> nn.Module:
        members.append(open_model(member_name, untrained=untrained, zoo=zoo))
        return members[-1].codec

    codec = build_codec(spec, member, zoo)
    if trained and not composed:
        load_weights(codec, entry.weights, entry.sha256 or "")
        sha = entry.sha256 or ""
    elif trained:
        sha = hashlib.sha256("".join(m.sha256 for m in members).encode()).hexdigest()
    else:
        sha = fingerprint(codec)
    codec.update(force=True)
    codec.eval()
    return OpenModel(codec, spec, entry.name if entry else None, sha, trained, entry, tuple(members))

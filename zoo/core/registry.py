"""The named models of the zoo: ``registry.toml`` plus what plugins register."""

from __future__ import annotations

import difflib
import fnmatch
import fcntl
import json
import math
import os
import re
import sys
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from zoo.errors import ZooError, ZooWarning
from zoo.io.atomic import write_text
from .build import ModelSpec
from .config import check_lambdas
from .manager import Zoo, plugin_folder
from .options import PIPELINE

REGISTRY_ENV = "ZOO_REGISTRY"


@dataclass(frozen=True)
class ModelEntry:
    """A registry model: its plugin set, and its weights once trained."""

    name: str
    plugins: tuple[str, ...]
    preset: str = "lite"
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    weights: Path | None = None
    sha256: str | None = None
    paper: str = ""
    description: str = ""
    source: str = "registry.toml"
    extra: dict[str, Any] = field(default_factory=dict)  #: recipe, results, ...
    lambdas: tuple[float, ...] = ()  #: its quality ladder; empty: the zoo's default

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(self.plugins, self.preset, self.options, self.lambdas)


def registry_path() -> Path:
    """``$ZOO_REGISTRY``, else the checkout's ``registry.toml``, else the installed copy."""
    if os.environ.get(REGISTRY_ENV):
        return Path(os.environ[REGISTRY_ENV])
    checkout = Path(__file__).resolve().parents[2] / "registry.toml"
    if checkout.is_file():
        return checkout
    return Path(sys.prefix) / "share" / "codec-zoo" / "registry.toml"


def _is_ladder(value: Any) -> bool:
    try:
        check_lambdas(value)
    except ValueError:
        return False
    return True


#: The fields of a model entry the zoo reads: what each must be. Others go to ``extra``.
_SCHEMA: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "plugins": ("a list of plugin names",
                lambda v: isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v)),
    "preset": ("a string", lambda v: isinstance(v, str)),
    "options": ("a table of tables (plugin -> its options)",
                lambda v: isinstance(v, dict) and all(isinstance(o, dict) for o in v.values())),
    "lambdas": ("1..16 positive numbers increasing with the quality index", _is_ladder),
    "weights": ("a path (a string)", lambda v: isinstance(v, str)),
    "sha256": ("a string", lambda v: isinstance(v, str)),
    "paper": ("a string", lambda v: isinstance(v, str)),
    "description": ("a string", lambda v: isinstance(v, str)),
}


def check_fields(fields: Mapping[str, Any], folder: Path | None) -> None:
    """ValueError (``"<key> must be ..."``) for the first malformed field of a model
    entry; ``weights`` must lie inside ``folder`` (the registry's, or the plugin's)."""
    for key, (what, ok) in _SCHEMA.items():
        if key in fields and not ok(fields[key]):
            raise ValueError(f"{key} must be {what}, got {fields[key]!r}"[:300])
    weights = fields.get("weights")
    if weights and (folder is None or not (folder / weights).resolve().is_relative_to(folder.resolve())):
        raise ValueError(f"weights {weights!r} lies outside {folder or 'a plugin without a folder'}")


def _entry(name: str, source: str, folder: Path, fields: Mapping[str, Any]) -> ModelEntry:
    known = {k: fields[k] for k in _SCHEMA if k in fields}
    weights = known.pop("weights", None)
    return ModelEntry(name=name, plugins=tuple(known.pop("plugins", ())),
                      options=dict(known.pop("options", None) or {}),
                      lambdas=tuple(known.pop("lambdas", ())),
                      weights=folder / weights if weights else None, source=source,
                      extra={k: v for k, v in fields.items() if k not in _SCHEMA}, **known)


def load_registry(zoo: Zoo | None = None, path: Path | None = None) -> dict[str, ModelEntry]:
    """All named models, ``registry.toml`` first, then plugins' in load order. A malformed
    ``registry.toml`` is a ZooError naming it and the key; plugins' entries were checked
    when they were loaded (:func:`zoo.core.manager.Zoo.add`). A plugin's model named like
    one before it is left out, with a :class:`~zoo.errors.ZooWarning` naming both."""
    path = path or registry_path()
    models: dict[str, ModelEntry] = {}
    if path.is_file():
        try:
            table = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ZooError(f"{path} does not parse: {e}") from e
        entries = table.get("models", {})
        if not isinstance(entries, dict):
            raise ZooError(f"{path}: models must be a table of models, got {entries!r}"[:300])
        for name, fields in entries.items():
            if not isinstance(fields, dict):
                raise ZooError(f"{path}: models.{name} must be a table, got {fields!r}"[:300])
            try:
                check_fields(fields, path.parent)
            except ValueError as e:
                raise ZooError(f"{path}: models.{name}.{e}") from None
            models[name] = _entry(name, path.name, path.parent, fields)
    in_file = set(models)
    zoo = zoo or Zoo.load()
    for plugin in zoo.plugins.values():
        def register(name: str, _plugin: Any = plugin, **fields: Any) -> None:
            if name in models:  # registry.toml wins, then the plugins in load order
                taken = models[name].source
                warnings.warn(f"model {name!r} of plugin {_plugin.name!r} is left out: "
                              f"{taken if name in in_file else f'plugin {taken!r}'} has a model "
                              f"of that name", ZooWarning, stacklevel=2)
                return
            models[name] = _entry(name, _plugin.name, plugin_folder(_plugin.module), fields)

        zoo.ask(plugin, "zoo_register_models", register=register)
    return models


def list_models(patterns: str | Iterable[str] = "*", exclude: Iterable[str] = (),
                registry: dict[str, ModelEntry] | None = None) -> list[str]:
    """Model names matching any of ``patterns`` (shell wildcards, as timm's ``list_models``)."""
    registry = load_registry() if registry is None else registry
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    names = {n for n in registry for p in patterns if fnmatch.fnmatchcase(n, p)}
    names -= {n for n in names for p in exclude if fnmatch.fnmatchcase(n, p)}
    return sorted(names)


def find_model(name: str, registry: dict[str, ModelEntry] | None = None) -> ModelEntry:
    registry = load_registry() if registry is None else registry
    if name in registry:
        return registry[name]
    close = difflib.get_close_matches(name, list(registry), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ZooError(f"unknown model {name!r}{hint}")


def on_top_of(entry: ModelEntry, plugins: Iterable[str], options: Mapping[str, Mapping[str, Any]],
              zoo: Zoo | None = None) -> ModelSpec:
    """The spec of ``plugins`` put on registry model ``entry``: its plugins but those
    filling a slot one of ``plugins`` fills, then ``plugins``; its preset and quality
    ladder; its options (the kept plugins' and the pipeline's), updated by ``options``."""
    zoo = zoo or Zoo.load()
    new = [zoo.get(name) for name in plugins]
    taken = {slot for plugin in new for slot in plugin.slots}
    kept = [name for name in entry.plugins if not taken & set(zoo.get(name).slots)]
    merged = {k: dict(v) for k, v in entry.options.items() if k in kept or k == PIPELINE}
    for plugin, values in options.items():
        merged.setdefault(plugin, {}).update(values)
    return ModelSpec((*kept, *(p.name for p in new)), entry.preset, merged, entry.lambdas)


def match_spec(spec: ModelSpec, registry: dict[str, ModelEntry]) -> ModelEntry | None:
    """The registry model with exactly this plugin set, preset, options and quality ladder."""
    return next((e for e in registry.values()
                 if set(e.plugins) == set(spec.plugins) and e.preset == spec.preset
                 and e.options == spec.options and e.spec.lambdas == spec.lambdas), None)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not isinstance(value, float) or math.isfinite(value) else (
            "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def update_registry(name: str, fields: dict[str, Any], path: Path | None = None) -> None:
    """Set ``fields`` of model ``name`` in ``registry.toml`` (atomically, and under a
    lock so that concurrent exports do not lose each other's updates), keeping
    the file's leading comment and every other model as it was; a field set to
    ``None`` is removed."""
    path = path or registry_path()
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.is_file() else ""
        table = tomllib.loads(text).get("models", {})
        table[name] = {k: v for k, v in {**table.get(name, {}), **fields}.items() if v is not None}
        head = "".join(line + "\n" for line in text.split("[models.")[0].splitlines()
                       if line.startswith("#"))
        body = "\n".join(f"[models.{_toml_key(n)}]\n" + "".join(
            f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in m.items()) for n, m in table.items())
        write_text(path, head + "\n" + body)


def training_runs(recipe: dict, data: dict | None = None) -> list[dict]:
    """The runs that trained a recipe's weights, oldest first, each once and with the
    data it trained on: a start from registered weights (``init``) stands for the runs
    of the recipe it carries; a run without ``data`` trained on its recipe's ``data``
    (:func:`compact_recipe`), or an enclosing recipe's."""
    data = recipe.get("data", data)
    out: list[dict] = []
    for run in recipe.get("runs", []):
        found = training_runs(run.get("recipe", {}), data) if "init" in run else [
            {**run, "data": run.get("data", data)} if data is not None else run]
        out += [r for r in found if r not in out]
    return out


def compact_recipe(recipe: dict) -> dict:
    """``recipe`` as the registry stores it: the data that its last run trained on
    written once, as the recipe's ``data``, and left out of every run, nested ones too,
    that trained on the same (:func:`training_runs` puts it back). Unchanged where a
    run has no pinned data."""
    runs = training_runs(recipe)
    if not runs or any(r.get("data") is None for r in runs):
        return recipe
    data = runs[-1]["data"]

    def strip(rec: dict, inherited: dict | None) -> dict:
        own = rec.get("data", inherited)
        kept = []
        for run in rec.get("runs", []):
            if "init" in run:
                run = {**run, "recipe": strip(run["recipe"], own)} if "recipe" in run else run
            else:
                ran_on = run.get("data", own)
                run = {k: v for k, v in run.items() if k != "data"}
                if ran_on != data:
                    run["data"] = ran_on
            kept.append(run)
        return {**{k: v for k, v in rec.items() if k not in ("data", "runs")}, "runs": kept}

    stripped = strip(recipe, None)
    return {**{k: v for k, v in stripped.items() if k != "runs"}, "data": data, "runs": stripped["runs"]}

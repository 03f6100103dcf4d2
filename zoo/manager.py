"""Plugin discovery (entry points), activation and the mixing rules."""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterable, Sequence

import pluggy

from . import hookspecs
from .errors import ZooError
from .plugin_info import PluginInfo

ENTRY_POINT_GROUP = "codec_zoo"

#: The slots, in dataflow order, as named by the hookspecs (``zoo_<slot>``).
SLOTS = ("motion_estimation", "motion_coding", "motion_refinement", "temporal_context",
         "residual_domain", "fusion", "entropy_model", "post_filter", "intra_coding", "compose")


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin as the zoo sees it."""

    name: str
    info: PluginInfo
    slots: tuple[str, ...]
    package: str
    version: str
    module: Any

    @property
    def tags(self) -> set[str]:
        return {self.name, *self.slots, *self.info.provides}


@dataclass(frozen=True)
class Broken:
    """A plugin that failed to load, and why."""

    name: str
    package: str
    reason: str


class Zoo:
    """The loaded plugins: ``Zoo.load()`` reads the ``codec_zoo`` entry points."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, Plugin] = {}
        self.broken: list[Broken] = []

    @classmethod
    @functools.cache
    def load(cls) -> "Zoo":
        zoo = cls()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist
            zoo.add(ep.name, ep.load, dist.name if dist else "?", dist.version if dist else "?")
        return zoo

    def add(self, name: str, load: Any, package: str = "?", version: str = "?") -> Plugin | None:
        """Register one plugin; a failure is recorded in ``broken``, not raised."""
        if name in self.plugins:
            return self.plugins[name]
        try:
            module = load() if callable(load) and not isinstance(load, ModuleType) else load
            self.pm.register(module, name=name)
        except Exception as e:  # a broken plugin must not break the zoo
            self.broken.append(Broken(name, package, f"{type(e).__name__}: {e}".splitlines()[0]))
            return None
        infos = self.pm.subset_hook_caller("zoo_describe", self._others(module))()
        info = infos[0] if infos else PluginInfo(summary="")
        slots = tuple(s for s in SLOTS if any(
            impl.plugin is module for impl in getattr(self.pm.hook, f"zoo_{s}").get_hookimpls()))
        plugin = Plugin(name, info, slots, package, version, module)
        self.plugins[name] = plugin
        return plugin

    def _others(self, module: Any) -> list[Any]:
        return [p for p in self.pm.get_plugins() if p is not module]

    def default_for(self, slot: str) -> Plugin | None:
        return next((p for p in self.plugins.values() if p.info.default and slot in p.slots), None)

    def select(self, names: Sequence[str]) -> "Selection":
        """Activate ``names`` plus the defaults of the slots they leave free."""
        requested = [self.get(n) for n in dict.fromkeys(names)]
        filled: dict[str, Plugin] = {}
        for plugin in requested:
            for slot in plugin.slots:
                if slot in filled:
                    raise ZooError(f"plugins {filled[slot].name!r} and {plugin.name!r} "
                                   f"both fill slot {slot}")
                filled[slot] = plugin
        active = list(requested)
        for slot in SLOTS:
            default = self.default_for(slot) if slot not in filled else None
            if default and default not in active:
                active.append(default)
        _check_rules(requested, active)
        return Selection(self, tuple(requested), tuple(active))

    def get(self, name: str) -> Plugin:
        if name in self.plugins:
            return self.plugins[name]
        broken = next((b for b in self.broken if b.name == name), None)
        if broken:
            raise ZooError(f"plugin {name!r} is broken: {broken.reason}")
        close = difflib.get_close_matches(name, list(self.plugins), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ZooError(f"unknown plugin {name!r}{hint}")


def _check_rules(requested: Iterable[Plugin], active: Sequence[Plugin]) -> None:
    provided = set().union(*(p.tags for p in active))
    for plugin in active:
        for tag in plugin.info.requires:
            if tag not in provided:
                raise ZooError(f"plugin {plugin.name!r} requires {tag!r}, "
                               f"which no active plugin provides")
    requested = list(requested)
    for plugin in requested:
        for other in requested:
            clash = set(plugin.info.excludes) & other.tags if other is not plugin else set()
            if clash:
                raise ZooError(f"plugin {plugin.name!r} excludes {sorted(clash)[0]!r} "
                               f"(from {other.name!r})")


@dataclass(frozen=True)
class Selection:
    """The active plugins of one model; builds its slot modules."""

    zoo: Zoo
    requested: tuple[Plugin, ...]
    active: tuple[Plugin, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.requested]

    def filler(self, slot: str) -> Plugin | None:
        return next((p for p in self.active if slot in p.slots), None)

    def build(self, slot: str, **kwargs: Any) -> Any:
        """Ask the active plugin that fills ``slot`` for its module (None if none does)."""
        plugin = self.filler(slot)
        if plugin is None:
            return None
        caller = self.zoo.pm.subset_hook_caller(f"zoo_{slot}", self.zoo._others(plugin.module))
        try:
            module = caller(**kwargs)
        except ZooError:
            raise
        except Exception as e:
            raise ZooError(f"plugin {plugin.name!r} failed to build {slot}: "
                           f"{type(e).__name__}: {e}".splitlines()[0]) from e
        if module is None:
            raise ZooError(f"plugin {plugin.name!r} returned nothing for slot {slot}")
        return module

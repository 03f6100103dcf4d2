"""Plugin discovery (entry points), load control, activation and the mixing rules."""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import io
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Mapping, Sequence

import pluggy
from torch import nn

from zoo import API_VERSION
from zoo.errors import ZooError
from . import hookspecs
from .options import PIPELINE, check_schema
from .plugin_info import PluginInfo

ENTRY_POINT_GROUP = "codec_zoo"

#: The distribution whose entry points are the built-in plugins.
BUILTIN_PACKAGE = "codec-zoo"

#: Load control, as pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``, ``PYTEST_PLUGINS``
#: and ``-p no:name``: comma-separated plugin (entry-point) or package names.
DISABLE_AUTOLOAD_ENV = "ZOO_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "ZOO_PLUGINS"
BLOCK_ENV = "ZOO_BLOCK_PLUGINS"

#: The slots, in dataflow order, as named by the hookspecs (``zoo_<slot>``).
SLOTS = ("motion_estimation", "motion_coding", "motion_refinement", "temporal_context",
         "residual_domain", "fusion", "entropy_model", "post_filter", "intra_coding", "compose")

#: Attribute set on every slot module :meth:`Selection.build` returns: ``(plugin, slot)``.
PLUGIN_TAG = "zoo_plugin"


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

    @property
    def builtin(self) -> bool:
        return _package_key(self.package) == BUILTIN_PACKAGE


@dataclass(frozen=True)
class Broken:
    """A plugin that failed to load, and why."""

    name: str
    package: str
    reason: str
    version: str = "?"


@dataclass(frozen=True)
class Skipped:
    """An installed plugin that the load policy left out, and why."""

    name: str
    package: str
    version: str
    reason: str


class PluginError(Exception):
    """A plugin does not fit the plugin API (its message is the reason shown)."""


def _names(text: str | None) -> frozenset[str]:
    return frozenset(n.strip() for n in (text or "").split(",") if n.strip())


def _package_key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _named(names: Iterable[str], plugin: str, package: str) -> bool:
    return any(n == plugin or _package_key(n) == _package_key(package) for n in names)


@dataclass(frozen=True)
class LoadPolicy:
    """Which installed plugins load.

    A plugin loads unless ``blocked``, when ``autoload`` is on and ``only`` is
    None, or when ``only`` names it. Names are plugin or package names. The
    built-ins (entry points of ``codec-zoo`` itself) follow the same rules as
    third-party plugins: with ``only`` or without ``autoload``, name the
    package ``codec-zoo`` to keep them.
    """

    autoload: bool = True
    only: frozenset[str] | None = None
    blocked: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "LoadPolicy":
        """From ``ZOO_DISABLE_PLUGIN_AUTOLOAD``, ``ZOO_PLUGINS`` and ``ZOO_BLOCK_PLUGINS``."""
        env = os.environ if env is None else env
        disabled = env.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")
        return cls(autoload=not disabled, only=_names(env.get(PLUGINS_ENV)) or None,
                   blocked=_names(env.get(BLOCK_ENV)))

    def skip_reason(self, name: str, package: str) -> str | None:
        """Why plugin ``name`` of ``package`` is left out; None if it loads."""
        if _named(self.blocked, name, package):
            return f"blocked by {BLOCK_ENV}"
        if (self.autoload and self.only is None) or _named(self.only or (), name, package):
            return None
        if self.only is not None:
            return f"not named in {PLUGINS_ENV}"
        return f"autoload disabled by {DISABLE_AUTOLOAD_ENV}"


def _reason(e: BaseException) -> str:
    if isinstance(e, PluginError):
        return str(e)
    text = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def plugin_folder(module: Any) -> Path | None:
    """The folder of a plugin's module: the weights of the models it registers lie inside."""
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if isinstance(file, str) else None


def _dry_register(folder: Path | None, name: str, **fields: Any) -> None:
    """Stands in for the registry's ``register`` while a plugin is checked."""
    from .registry import check_fields  # the registry imports this module
    if not isinstance(name, str) or not name:
        raise PluginError(f"zoo_register_models registered a model named {name!r}")
    try:
        check_fields(fields, folder)
    except ValueError as e:
        raise PluginError(f"zoo_register_models: model {name!r}: {e}") from None


@contextmanager
def _isolated() -> Iterator[None]:
    """Plugin code runs with no command-line arguments to parse, its output discarded, and
    SIGINT and SIGTERM held until the block ends: a ``KeyboardInterrupt`` or ``SystemExit``
    raised in it is the plugin's own, and a real signal is delivered after it."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            yield
    finally:
        sys.argv = argv
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


class Zoo:
    """The loaded plugins: ``Zoo.load()`` reads the ``codec_zoo`` entry points."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, Plugin] = {}
        self.broken: list[Broken] = []
        self.skipped: list[Skipped] = []
        self.policy: LoadPolicy | None = None  #: set when discovered from entry points

    @classmethod
    def load(cls, fresh: bool = False) -> "Zoo":
        """The installed plugins the environment lets load (see :class:`LoadPolicy`).

        Cached per policy, so a changed environment takes effect; ``fresh``
        reads the entry points again (e.g. after installing a package).
        """
        if fresh:
            _discover.cache_clear()
        return _discover(cls, LoadPolicy.from_env())

    @classmethod
    def discover(cls, policy: LoadPolicy = LoadPolicy()) -> "Zoo":
        """A new zoo of the ``codec_zoo`` entry points that ``policy`` lets load."""
        zoo = cls()
        zoo.policy = policy
        # built-ins first: a third-party plugin named like one is broken, never in its place
        points = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                        key=lambda ep: not ep.dist or _package_key(ep.dist.name) != BUILTIN_PACKAGE)
        for ep in points:
            package, version = (ep.dist.name, ep.dist.version) if ep.dist else ("?", "?")
            reason = policy.skip_reason(ep.name, package)
            taken = zoo.plugins.get(ep.name)
            if reason:
                zoo.skipped.append(Skipped(ep.name, package, version, reason))
            elif taken:
                zoo.broken.append(Broken(ep.name, package, f"name taken by package {taken.package}",
                                         version))
            else:
                zoo.add(ep.name, ep.load, package, version)
        known = [*zoo.plugins.values(), *zoo.broken, *zoo.skipped]
        for name in sorted(policy.only or ()):
            if not any(_named([name], p.name, p.package) for p in known):
                zoo.broken.append(Broken(name, "?", f"named in {PLUGINS_ENV} but not installed"))
        return zoo

    def add(self, name: str, load: Any, package: str = "?", version: str = "?") -> Plugin | None:
        """Register one plugin; a failure is recorded in ``broken``, not raised.

        Failures: the name is ``pipeline`` (its options are the pipeline's), the import
        fails, a hook's arguments do not match its spec (pluggy's validation), a hook is
        unknown to this plugin API, the plugin declares another API version, or
        describing or registering it raises,
        ``SystemExit`` and ``KeyboardInterrupt`` included (see :func:`_isolated`).
        """
        if name in self.plugins:
            return self.plugins[name]
        if name == PIPELINE:
            self.broken.append(Broken(name, package, f"the name {PIPELINE!r} is reserved for the "
                                      f"pipeline's options", version))
            return None
        module = None
        with _isolated():
            try:
                module = load() if callable(load) and not isinstance(load, ModuleType) else load
                self.pm.register(module, name=name)
                plugin = self._inspect(name, module, package, version)
            except BaseException as e:  # a broken plugin must not break the zoo
                if module is not None and self.pm.get_name(module) == name:
                    self.pm.unregister(module)
                self.broken.append(Broken(name, package, _reason(e), version))
                return None
        self.plugins[name] = plugin
        return plugin

    def _inspect(self, name: str, module: Any, package: str, version: str) -> Plugin:
        """Check a registered plugin against the plugin API; describe it."""
        unknown = [c.name for c in self.pm.get_hookcallers(module) or () if not c.has_spec()
                   and any(i.plugin is module and not i.optionalhook for i in c.get_hookimpls())]
        if unknown:
            raise PluginError(f"unknown hook {unknown[0]} (plugin API version {API_VERSION} "
                              f"has no such hook)")
        infos = self.ask(module, "zoo_describe")
        info = infos[0] if infos else PluginInfo(summary="")
        if not isinstance(info, PluginInfo):
            raise PluginError(f"zoo_describe returned {type(info).__name__}, not a PluginInfo")
        if info.api is not None and info.api != API_VERSION:
            raise PluginError(f"written for plugin API version {info.api}; this codec-zoo "
                              f"has version {API_VERSION}")
        try:
            check_schema(info.options)
        except ValueError as e:
            raise PluginError(str(e)) from None
        self.ask(module, "zoo_register_models",
                 register=functools.partial(_dry_register, plugin_folder(module)))
        impls = {s: next((i for i in getattr(self.pm.hook, f"zoo_{s}").get_hookimpls()
                          if i.plugin is module), None) for s in SLOTS}
        slots = tuple(s for s, impl in impls.items() if impl is not None)
        late = [s for s in slots if not impls[s].trylast]
        if info.default and late:
            raise PluginError(f"a default plugin answers last: its zoo_{late[0]} must be "
                              f"@hookimpl(trylast=True)")
        return Plugin(name, info, slots, package, version, module)

    def ask(self, plugin: Any, hook: str, **kwargs: Any) -> Any:
        """Call ``hook`` of one plugin (a :class:`Plugin` or its module) alone, through pluggy."""
        module = plugin.module if isinstance(plugin, Plugin) else plugin
        return self.pm.subset_hook_caller(hook, self._others(module))(**kwargs)

    def _others(self, module: Any) -> list[Any]:
        return [p for p in self.pm.get_plugins() if p is not module]

    def default_for(self, slot: str) -> Plugin | None:
        """The default plugin of ``slot``; two of them is an error (which would win is arbitrary)."""
        defaults = [p for p in self.plugins.values() if p.info.default and slot in p.slots]
        if len(defaults) > 1:
            a, b = defaults[:2]
            raise ZooError(f"slot {slot} has two default plugins: {a.name!r} from {a.package} and "
                           f"{b.name!r} from {b.package}; block one with ${BLOCK_ENV}")
        return defaults[0] if defaults else None

    def select(self, names: Sequence[str]) -> "Selection":
        """Activate ``names`` (at most one per slot) and the default of every slot: a
        default answers for its slot when no requested plugin does (it is ``trylast``)."""
        requested = [self.get(n) for n in dict.fromkeys(names)]
        filled: dict[str, Plugin] = {}
        for plugin in requested:
            for slot in plugin.slots:
                if slot in filled:
                    raise ZooError(f"plugins {filled[slot].name!r} and {plugin.name!r} "
                                   f"both fill slot {slot}")
                filled[slot] = plugin
        defaults = {slot: self.default_for(slot) for slot in SLOTS}
        active = _unique([*requested, *(d for d in defaults.values() if d)])
        filling = _unique([*requested, *(d for s, d in defaults.items() if d and s not in filled)])
        _check_rules(requested, filling)
        if self.policy is not None:
            self._check_filled(active)
        return Selection(self, tuple(requested), tuple(active))

    def _check_filled(self, active: Sequence[Plugin]) -> None:
        """A model not composed of others needs every slot filled (a default may be blocked)."""
        if any("compose" in p.slots for p in active):
            return
        for slot in SLOTS:
            if slot != "compose" and not any(slot in p.slots for p in active):
                missing = [*(b.name for b in self.broken), *(s.name for s in self.skipped)]
                hint = f" (not loaded: {', '.join(missing)})" if missing else ""
                raise ZooError(f"no active plugin fills slot {slot}{hint}")

    def get(self, name: str) -> Plugin:
        if name in self.plugins:
            return self.plugins[name]
        broken = next((b for b in self.broken if b.name == name), None)
        if broken:
            raise ZooError(f"plugin {name!r} is broken: {broken.reason}")
        skipped = next((s for s in self.skipped if s.name == name), None)
        if skipped:
            raise ZooError(f"plugin {name!r} is not loaded: {skipped.reason}")
        close = difflib.get_close_matches(name, list(self.plugins), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ZooError(f"unknown plugin {name!r}{hint}")


def _unique(plugins: Iterable[Plugin]) -> list[Plugin]:
    return list({p.name: p for p in plugins}.values())


def _check_rules(requested: Sequence[Plugin], filling: Sequence[Plugin]) -> None:
    """``requires`` counts the tags of the plugins that fill the slots (the requested ones
    and the defaults of the slots they leave free); ``excludes``, the requested ones."""
    provided = set().union(*(p.tags for p in filling))
    for plugin in filling:
        for tag in plugin.info.requires:
            if tag not in provided:
                raise ZooError(f"plugin {plugin.name!r} requires {tag!r}, "
                               f"which no active plugin provides")
    for plugin in requested:
        for other in requested:
            clash = set(plugin.info.excludes) & other.tags if other is not plugin else set()
            if clash:
                raise ZooError(f"plugin {plugin.name!r} excludes {sorted(clash)[0]!r} "
                               f"(from {other.name!r})")


@functools.cache
def _discover(cls: type[Zoo], policy: LoadPolicy) -> Zoo:
    return cls.discover(policy)


@dataclass(frozen=True)
class Selection:
    """The active plugins of one model: builds its slot modules, collects what they register."""

    zoo: Zoo
    requested: tuple[Plugin, ...]
    active: tuple[Plugin, ...]  #: the requested plugins, then the defaults

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.requested]

    def candidates(self, slot: str) -> list[Plugin]:
        """The active plugins that implement ``slot``, in pluggy's call order."""
        by_module = {id(p.module): p for p in self.active}
        impls = getattr(self.zoo.pm.hook, f"zoo_{slot}").get_hookimpls()
        return [by_module[id(i.plugin)] for i in reversed(impls) if id(i.plugin) in by_module]

    def filler(self, slot: str) -> Plugin | None:
        """The plugin asked first for ``slot`` (it may pass; then the next one answers)."""
        return next(iter(self.candidates(slot)), None)

    def build(self, slot: str, **kwargs: Any) -> Any:
        """The first module the candidates for ``slot`` return (None if all pass), tagged
        with the plugin that built it (:data:`PLUGIN_TAG`)."""
        for plugin in self.candidates(slot):
            try:
                module = self.zoo.ask(plugin, f"zoo_{slot}", **kwargs)
            except ZooError:
                raise
            except Exception as e:
                raise ZooError(f"plugin {plugin.name!r} failed to build {slot}: "
                               f"{type(e).__name__}: {e}".splitlines()[0]) from e
            if module is None:
                continue
            if not isinstance(module, nn.Module):
                raise ZooError(f"plugin {plugin.name!r} returned {type(module).__name__} for slot "
                               f"{slot}, not a torch.nn.Module")
            setattr(module, PLUGIN_TAG, (plugin.name, slot))  # so that an error while it runs names it
            return module
        passed = [p.name for p in self.candidates(slot)]
        if passed and slot != "compose":  # compose: None means "not a composed model"
            raise ZooError(f"no active plugin built slot {slot} ({', '.join(passed)} passed)")
        return None

    def collect(self, hook: str, **kwargs: Any) -> list[tuple[Plugin, tuple, dict[str, Any]]]:
        """What the active plugins register through ``hook(register, **kwargs)``: one
        ``(plugin, args, keyword args)`` per call of ``register``, in activation order."""
        calls: list[tuple[Plugin, tuple, dict[str, Any]]] = []
        for plugin in self.active:
            def register(*args: Any, _plugin: Plugin = plugin, **fields: Any) -> None:
                calls.append((_plugin, args, fields))
            try:
                self.zoo.ask(plugin, hook, register=register, **kwargs)
            except ZooError:
                raise
            except Exception as e:
                raise ZooError(f"plugin {plugin.name!r} failed in {hook}: "
                               f"{type(e).__name__}: {e}".splitlines()[0]) from e
        return calls

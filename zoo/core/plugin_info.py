"""What a plugin says about itself through ``zoo_describe``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The types an option may have; ``list`` options hold ``item``-typed values.
OPTION_TYPES = (bool, int, float, str, list)


@dataclass(frozen=True)
class Option:
    """One of a plugin's options (``--option PLUGIN.NAME=VALUE``, a registry entry's
    ``options``), as the plugin reads it: ``config.option(plugin, name, default)``.

    ``type`` is one of :data:`OPTION_TYPES`; a ``list`` holds values of type
    ``item``; ``choices`` limits a value (each item of a list) to those given.
    ``default`` is what the plugin uses when the option is not set (None: see
    ``help``, e.g. a value that depends on the preset).
    """

    name: str
    type: type
    default: Any = None
    help: str = ""
    item: type = str
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.default, list):  # hashable, as the rest of a PluginInfo
            object.__setattr__(self, "default", tuple(self.default))


@dataclass(frozen=True)
class PluginInfo:
    """A plugin's self-description.

    ``requires`` and ``excludes`` name tags: a plugin's tags are its name, the
    slots it fills and what it ``provides`` (e.g. ``"conditional"`` for a
    residual domain that codes against the context). ``default`` marks a
    plugin that answers for its slots whenever no requested plugin does (its
    slot hooks are ``@hookimpl(trylast=True)``). ``options`` are the only
    option keys the plugin accepts (see :class:`Option`). ``api`` is the
    plugin API version (``zoo.API_VERSION``) the plugin was written for: a zoo
    of another version reports the plugin as broken instead of running it;
    None (not declared) loads on any version.
    """

    summary: str
    paper: str = ""
    requires: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    default: bool = False
    api: int | None = None
    options: tuple[Option, ...] = ()

"""What a plugin says about itself through ``zoo_describe``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PluginInfo:
    """A plugin's self-description.

    ``requires`` and ``excludes`` name tags: a plugin's tags are its name, the
    slots it fills and what it ``provides`` (e.g. ``"conditional"`` for a
    residual domain that codes against the context). ``default`` marks a
    built-in that fills its slots whenever no active plugin does. ``api`` is
    the plugin API version (``zoo.API_VERSION``) the plugin was written for:
    a zoo of another version reports the plugin as broken instead of running
    it; None (not declared) loads on any version.
    """

    summary: str
    paper: str = ""
    requires: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    default: bool = False
    api: int | None = None

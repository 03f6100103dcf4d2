"""Plugin options checked against the schemas the plugins declare (``PluginInfo.options``)."""

from __future__ import annotations

import difflib
import math
from typing import Any, Iterable, Mapping

from zoo.errors import ZooError
from .metrics import RD_CRITERIA
from .plugin_info import OPTION_TYPES, Option

#: The pipeline's own options, given as a plugin's are (``--option pipeline.skip=true``, a
#: registry entry's ``options = { pipeline = { skip = true } }``): no plugin takes this name.
PIPELINE = "pipeline"
SKIP_WEIGHT = 2.0  #: option ``skip_weight``'s default
PIPELINE_OPTIONS = (
    Option("skip", bool, False, "the encoder may code a P-frame as its prediction alone, no "
           "residual, where that costs less in bits + skip_weight · distortion (option criterion; "
           "zoo.core.pipeline)"),
    Option("skip_weight", float, SKIP_WEIGHT, "the distortion's weight in that decision (> 0; 2: a "
           "skipped frame's error stays in the next frame too)"),
    Option("skip_weight_unreferenced", float, None, "skip_weight for a frame that no frame will "
           "predict from (p-frame mode; > 0; default: skip_weight)"),
    Option("filter_choice", bool, False, "the encoder may show a P-frame without the "
           "post-filter where that is closer to the source (option criterion's distortion); "
           "such a frame's record holds an empty latent 'unfiltered', no bytes (zoo.core.pipeline)"),
    Option("criterion", str, "rd", "the distortion in the encoder's choices (skip, a motion "
           "coder's alternatives): rd weighs λ·255²·MSE, rd-ms-ssim λ_ms·(1 - MS-SSIM), as "
           "the models' training losses do (zoo.core.metrics.rd_cost)", choices=RD_CRITERIA),
)

_ITEM_TYPES = (bool, int, float, str)
_WHAT = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def check_schema(options: Iterable[Any]) -> None:
    """ValueError unless ``options`` is a valid schema: :class:`Option` s of distinct names
    and supported types (a plugin that declares another is broken with that reason)."""
    seen: set[str] = set()
    for option in options:
        if not isinstance(option, Option):
            raise ValueError(f"PluginInfo.options holds {type(option).__name__}, not an Option")
        if not option.name or option.name in seen:
            raise ValueError(f"option name {option.name!r} is " + ("declared twice" if option.name
                                                                   else "empty"))
        if option.type not in OPTION_TYPES or option.item not in _ITEM_TYPES:
            kind = option.type if option.type not in OPTION_TYPES else option.item
            raise ValueError(f"option {option.name!r}: type {getattr(kind, '__name__', kind)} "
                             f"is not one of bool, int, float, str, list")
        seen.add(option.name)


def _scalar(kind: type, value: Any) -> Any:
    """``value`` as ``kind``, or ValueError. Digits given as text (``a=1,2`` on the command
    line gives strings) count as numbers."""
    if kind is bool and isinstance(value, bool):
        return value
    if kind in (int, float) and isinstance(value, str):
        try:
            value = kind(value)
        except ValueError:
            raise ValueError(_WHAT[kind]) from None
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise ValueError(_WHAT[kind])


def check_value(option: Option, value: Any) -> Any:
    """``value`` checked against ``option`` (coerced: ``"3"`` for an int is 3); ValueError
    saying what it must be."""
    if option.type is list:
        items = [value] if isinstance(value, str) else value
        try:
            if not isinstance(items, (list, tuple)):
                raise ValueError
            checked = [_scalar(option.item, v) for v in items]
        except ValueError:
            raise ValueError(f"a list of {option.item.__name__} values") from None
    else:
        checked = [_scalar(option.type, value)]
    bad = [v for v in checked if option.choices and v not in option.choices]
    if bad:
        raise ValueError("one of " + ", ".join(map(str, option.choices)))
    return checked if option.type is list else checked[0]


def check_options(plugins: Iterable[Any], options: Mapping[str, Mapping[str, Any]],
                  loaded: Iterable[Any] = ()) -> dict[str, dict[str, Any]]:
    """``options`` (plugin -> key -> value) checked against the schemas of ``plugins`` (the
    model's active plugins, and the pipeline's, :data:`PIPELINE_OPTIONS`), values coerced.
    Options of another ``loaded`` plugin are checked too, then dropped (an ablation's
    options reach the rows that have the plugin; the others' specs stay as they are). A
    ZooError names the first plugin that is not loaded, unknown key or bad value."""
    active = {PIPELINE, *(p.name for p in plugins)}
    schemas = {p.name: {o.name: o for o in p.info.options} for p in (*loaded, *plugins)}
    schemas[PIPELINE] = {o.name: o for o in PIPELINE_OPTIONS}
    checked: dict[str, dict[str, Any]] = {}
    for plugin, values in options.items():
        if plugin not in schemas:
            close = difflib.get_close_matches(plugin, list(schemas), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ZooError(f"options for plugin {plugin!r}, which is not loaded{hint}")
        schema = schemas[plugin]
        values = {key: _checked(plugin, schema, key, value) for key, value in values.items()}
        if plugin in active:
            checked[plugin] = values
    return checked


def _checked(plugin: str, schema: Mapping[str, Option], key: str, value: Any) -> Any:
    if key not in schema:
        close = difflib.get_close_matches(key, list(schema), n=1)
        hint = f"did you mean {plugin}.{close[0]}? " if close else ""
        raise ZooError(f"unknown option {plugin}.{key} ({hint}{plugin}'s options: "
                       f"{', '.join(schema) or 'none'})")
    try:
        return check_value(schema[key], value)
    except ValueError as e:
        raise ZooError(f"option {plugin}.{key} must be {e}, got {value!r}"[:300]) from None

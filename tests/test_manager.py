"""Plugin discovery, activation and the mixing rules."""

from __future__ import annotations

import pytest
from torch import nn

from zoo.core.hookspecs import hookimpl
from zoo.core.manager import SLOTS, Zoo
from zoo.core.plugin_info import PluginInfo
from zoo.errors import ZooError

DEFAULT_SLOTS = [s for s in SLOTS if s != "compose"]


def plugin_object(**hooks) -> object:
    """An object carrying hook implementations, as a plugin module does."""
    return type("FakePlugin", (), {k: staticmethod(v) for k, v in hooks.items()})()


class Labelled(nn.Module):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label


def fake_plugin(slot: str, info: PluginInfo) -> object:
    """A plugin object filling ``slot``, as a third-party module would."""
    def build(config, **kwargs):
        return Labelled(f"module from {info.summary}")
    build.__name__ = f"zoo_{slot}"
    return plugin_object(**{f"zoo_{slot}": hookimpl(build), "zoo_describe": hookimpl(lambda: info)})


def test_builtins_come_from_entry_points():
    zoo = Zoo.load()
    assert not zoo.broken, zoo.broken
    for slot in DEFAULT_SLOTS:
        default = zoo.default_for(slot)
        assert default is not None, f"no default for {slot}"
        assert default.package == "codec-zoo" and default.version
        assert default.slots == (slot,)
    for name in ("cmfr", "sff", "refiner", "masked-residual", "pixel-residual",
                 "feature-residual", "gmm", "grdn", "ensemble"):
        assert name in zoo.plugins and not zoo.plugins[name].info.default


def test_defaults_fill_free_slots():
    selection = Zoo.load().select([])
    assert {s: selection.filler(s).info.default for s in DEFAULT_SLOTS} == dict.fromkeys(DEFAULT_SLOTS, True)
    assert selection.filler("compose") is None


def test_requested_plugin_is_asked_before_the_default():
    selection = Zoo.load().select(["cmfr"])
    assert [p.name for p in selection.candidates("residual_domain")] == ["cmfr", "conditional"]
    assert selection.filler("residual_domain").name == "cmfr"


def test_unknown_plugin_suggests_the_closest_name():
    with pytest.raises(ZooError, match=r"unknown plugin 'cmrf' \(did you mean 'cmfr'\?\)"):
        Zoo.load().select(["cmrf"])


def test_two_plugins_in_one_slot_clash():
    with pytest.raises(ZooError, match="both fill slot residual_domain"):
        Zoo.load().select(["cmfr", "masked-residual"])


def test_requirement_and_exclusion_rules():
    zoo = Zoo()
    zoo.add("plain", fake_plugin("residual_domain", PluginInfo("plain residual")))
    zoo.add("needy", fake_plugin("fusion", PluginInfo("needy fusion", requires=("conditional",))))
    zoo.add("cond", fake_plugin("residual_domain", PluginInfo("cond", provides=("conditional",))))
    zoo.add("loner", fake_plugin("post_filter", PluginInfo("loner", excludes=("fusion",))))
    with pytest.raises(ZooError, match="'needy' requires 'conditional'"):
        zoo.select(["plain", "needy"])
    assert [p.name for p in zoo.select(["cond", "needy"]).active] == ["cond", "needy"]
    with pytest.raises(ZooError, match="'loner' excludes 'fusion'"):
        zoo.select(["cond", "needy", "loner"])


def test_selection_builds_only_from_active_plugins():
    zoo = Zoo()
    zoo.add("a", fake_plugin("fusion", PluginInfo("a")))
    zoo.add("b", fake_plugin("post_filter", PluginInfo("b")))
    selection = zoo.select(["b"])
    assert selection.build("fusion", config=None, channels=8, levels=3) is None  # a is loaded, not active
    assert selection.build("post_filter", config=None).label == "module from b"


def test_a_plugin_that_fails_to_import_is_broken_not_fatal():
    zoo = Zoo()

    def failing_import():
        raise ImportError("no module named torch_nonexistent")

    assert zoo.add("bad", failing_import, "bad-pkg", "1.0") is None
    assert zoo.broken[0].name == "bad" and "torch_nonexistent" in zoo.broken[0].reason
    with pytest.raises(ZooError, match="'bad' is broken"):
        zoo.select(["bad"])


def test_a_plugin_that_raises_while_building_is_named():
    zoo = Zoo()

    @hookimpl
    def zoo_post_filter(config):
        raise RuntimeError("boom")

    zoo.add("exploding", plugin_object(zoo_post_filter=zoo_post_filter))
    with pytest.raises(ZooError, match="plugin 'exploding' failed to build post_filter: RuntimeError: boom"):
        zoo.select(["exploding"]).build("post_filter", config=None)

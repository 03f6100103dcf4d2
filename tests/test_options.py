"""Per-plugin option schemas: declared, shown by ``zoo list PLUGIN``, enforced."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import pytest

from zoo.cli import main
from zoo.core.build import ModelSpec
from zoo.core.hookspecs import hookimpl
from zoo.core.manager import Zoo
from zoo.core.models import checked
from zoo.core.options import check_options, check_value
from zoo.core.plugin_info import Option, PluginInfo
from zoo.core.registry import load_registry
from zoo.errors import ZooError

ROOT = Path(__file__).resolve().parents[1]


def test_every_option_a_plugin_reads_is_declared():
    """Each ``config.option("plugin", "key", ...)`` in the built-ins names a declared option."""
    zoo = Zoo.load()
    read = {(m[1], m[2]) for path in (ROOT / "plugins").glob("*.py")
            for m in re.finditer(r'config\.option\(\s*"([\w-]+)",\s*"(\w+)"', path.read_text())}
    assert len(read) >= 9
    for plugin, key in sorted(read):
        assert key in [o.name for o in zoo.get(plugin).info.options], f"{plugin}.{key} undeclared"


def test_every_registry_model_has_options_its_plugins_declare():
    for entry in load_registry().values():
        assert checked(entry.spec).options == entry.options


@pytest.mark.parametrize("option, value, result", [
    (Option("k", bool), True, True),
    (Option("k", int), 3, 3),
    (Option("k", int), "3", 3),  # from a comma list on the command line
    (Option("k", float), 2, 2.0),
    (Option("k", str, choices=("a", "b")), "b", "b"),
    (Option("k", list), "one", ["one"]),
    (Option("k", list, item=int), ["40", 35], [40, 35]),
    (Option("k", list, choices=("intra", "residual")), ["residual"], ["residual"]),
])
def test_values_are_checked_and_coerced(option, value, result):
    assert check_value(option, value) == result


@pytest.mark.parametrize("option, value, message", [
    (Option("k", bool), 1, "true or false"),
    (Option("k", bool), "yes", "true or false"),
    (Option("k", int), 2.5, "an integer"),
    (Option("k", int), True, "an integer"),
    (Option("k", float), float("nan"), "a number"),
    (Option("k", str, choices=("a", "b")), "c", "one of a, b"),
    (Option("k", list, item=int), ["x"], "a list of int values"),
    (Option("k", list), {"a": 1}, "a list of str values"),
    (Option("k", list, choices=("intra",)), ["motion"], "one of intra"),
])
def test_bad_values_say_what_they_must_be(option, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_value(option, value)


def test_unknown_plugins_and_keys_are_one_line_errors():
    active = Zoo.load().select(["grdn"]).active
    assert check_options(active, {"grdn": {"in_loop": True}}) == {"grdn": {"in_loop": True}}
    with pytest.raises(ZooError, match=r"^unknown option grdn\.inloop \(did you mean "
                                       r"grdn\.in_loop\? grdn's options: in_loop\)$"):
        check_options(active, {"grdn": {"inloop": True}})
    with pytest.raises(ZooError, match=r"options for plugin 'grnd', which is not loaded "
                                       r"\(did you mean 'grdn'\?\)"):
        check_options(active, {"grnd": {"in_loop": True}})
    loaded = Zoo.load().plugins.values()
    assert check_options(active, {"refiner": {"blocks": 2}}, loaded) == {}  # not in this model
    with pytest.raises(ZooError, match="unknown option refiner.block "):
        check_options(active, {"refiner": {"block": 2}}, loaded)
    with pytest.raises(ZooError, match="unknown option hyperprior.k .*hyperprior's options: none"):
        check_options(active, {"hyperprior": {"k": 1}})  # an active default takes none


def test_the_pipelines_options_are_checked_as_a_plugins_are(capsys):
    active = Zoo.load().select([]).active
    assert check_options(active, {"pipeline": {"skip": True}}) == {"pipeline": {"skip": True}}
    with pytest.raises(ZooError, match=r"^unknown option pipeline\.skp \(did you mean pipeline\.skip\?"):
        check_options(active, {"pipeline": {"skp": True}})
    with pytest.raises(ZooError, match=r"^option pipeline\.skip must be true or false, got 2$"):
        check_options(active, {"pipeline": {"skip": 2}})
    assert main(["list", "pipeline"]) == 0
    assert "  skip (bool, default false): the encoder may code a P-frame as its prediction alone" \
        in capsys.readouterr().out


def test_a_plugin_named_pipeline_is_broken():
    zoo = Zoo()
    zoo.add("pipeline", ModuleType("pipeline"))
    assert [(b.name, b.reason) for b in zoo.broken] == [
        ("pipeline", "the name 'pipeline' is reserved for the pipeline's options")]


def test_a_bad_schema_makes_the_plugin_broken():
    zoo = Zoo()
    for name, options in (("twice", (Option("a", int), Option("a", str))),
                          ("odd", (Option("a", dict),)), ("raw", ("a",))):
        module = ModuleType(name)
        module.zoo_describe = hookimpl(lambda options=options: PluginInfo("x", options=options))
        zoo.add(name, module)
    assert {b.name: b.reason for b in zoo.broken} == {
        "twice": "option name 'a' is declared twice",
        "odd": "option 'a': type dict is not one of bool, int, float, str, list",
        "raw": "PluginInfo.options holds str, not an Option"}


def test_the_options_reach_the_plugin_coerced(tmp_path):
    spec = checked(ModelSpec(("x265-intra",), options={"x265-intra": {"qps": ["40", "35", "30", "25"]}}))
    assert spec.options == {"x265-intra": {"qps": [40, 35, 30, 25]}}


def test_list_shows_a_plugins_options(capsys):
    assert main(["list", "--plugins", "grdn", "ensemble"]) == 0
    out = capsys.readouterr().out
    assert "options of grdn (--option grdn.NAME=VALUE):" in out
    assert "  in_loop (bool, default false): filter inside the coding loop" in out
    assert "  criterion (str, default \"rd\"; one of rd, rd-ms-ssim, ms-ssim): how the best member" in out
    assert main(["list", "--plugins", "--json", "gmm", "no-filter"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert plugins["gmm"]["options"][1] == {
        "name": "latents", "type": "list[str]", "default": ["residual"], "choices":
        ["intra", "motion", "residual"], "help": "the latents the mixture codes (the default "
                                                  "entropy model codes the others)"}
    assert plugins["no-filter"]["options"] == []


def test_a_model_trained_on_top_of_a_registry_model_keeps_its_pipeline_options():
    from zoo.core.registry import ModelEntry, on_top_of
    entry = ModelEntry("base", ("pixel-residual", "no-filter"), options={
        "pipeline": {"skip": True}, "no-filter": {}})
    spec = on_top_of(entry, ["grdn"], {"grdn": {"in_loop": True}})
    assert spec.plugins == ("pixel-residual", "grdn")
    assert spec.options == {"pipeline": {"skip": True}, "grdn": {"in_loop": True}}

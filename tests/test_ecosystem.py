"""Third-party plugins: the example package (its own tests, and installed as a
package), loading control, broken plugins, the plugin API version, the
conformance checks of ``zoo.testing`` and the guide's snippets."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo import testing
from zoo.cli import main, make_parser
from zoo.core.hookspecs import hookimpl
from zoo.core.manager import BLOCK_ENV, DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, LoadPolicy, Zoo
from zoo.core.plugin_info import PluginInfo
from zoo.core.registry import load_registry
from zoo.errors import ZooError, ZooWarning
from zoo.slots import PostFilter

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "zoo-checkerboard"
GUIDE = ROOT / "docs" / "writing-plugins.md"
ENV_VARS = (DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, BLOCK_ENV)


def plugin(**hooks) -> ModuleType:
    """A plugin made on the spot: a module holding the hook implementations."""
    module = ModuleType("on_the_spot")
    vars(module).update(hooks)
    return module


def describe(summary: str = "test plugin", **fields) -> object:
    return hookimpl(lambda: PluginInfo(summary, **fields))


# ------------------------------------------------------------ the example's own tests


def _example_tests() -> ModuleType:
    """examples/zoo-checkerboard/tests/test_checkerboard.py, its ``src`` importable
    (as its pytest configuration makes it), so that the suite runs its tests."""
    src = str(EXAMPLE / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    spec = importlib.util.spec_from_file_location("zoo_checkerboard_example_tests",
                                                  EXAMPLE / "tests" / "test_checkerboard.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


for _name, _test in vars(_example_tests()).items():
    if _name.startswith("test_"):
        globals()[f"test_example_{_name[len('test_'):]}"] = _test


# ------------------------------------------------------------ the conformance checks


def test_every_builtin_passes_the_slot_checks():
    installed = Zoo.load()
    checked = {}
    for p in installed.plugins.values():
        if p.package == "codec-zoo":
            testing.check_registration(installed, p.name)
            # dvc-mc requires a residual domain that reads the prediction alone
            partner = "pixel-residual" if p.name == "dvc-mc" else ()
            checked[p.name] = testing.check_slots(installed, p.name, partner)
    assert checked["gmm"] == ["entropy_model"] and checked["sff"] == ["fusion"]
    assert checked["ensemble"] == []  # compose: whole codecs only
    assert {s for slots in checked.values() for s in slots} == set(testing._SLOT_CHECKS)


def test_check_slots_names_a_module_that_breaks_the_contract():
    class Cropping(PostFilter):
        def forward(self, x_hat, q):
            return x_hat[..., :-1, :]

    bad = testing.plugin_zoo(plugin(zoo_post_filter=hookimpl(lambda: Cropping()),
                                    zoo_describe=describe()), "cropping")
    with pytest.raises(testing.ConformanceError,
                       match="cropping: post_filter: forward.x_hat, q. must return a frame of the same"):
        testing.check_slots(bad, "cropping")


def test_check_codec_catches_initial_weights_a_decoder_cannot_rebuild():
    class Unseeded(PostFilter):
        def __init__(self):
            super().__init__()
            noise = np.random.default_rng().normal(size=(1, 3, 1, 1))
            self.bias = nn.Parameter(torch.from_numpy(noise).float())

        def forward(self, x_hat, q):
            return x_hat + self.bias

    bad = testing.plugin_zoo(plugin(zoo_post_filter=hookimpl(lambda: Unseeded()),
                                    zoo_describe=describe()), "unseeded")
    testing.check_slots(bad, "unseeded")  # a fine module on its own
    with pytest.raises(testing.ConformanceError, match="two builds have different initial weights"):
        testing.check_codec(bad, ["unseeded"])


def test_check_registration_catches_unmarked_hooks_and_unknown_tags():
    unmarked = testing.plugin_zoo(plugin(zoo_post_filter=lambda config: None,
                                         zoo_describe=describe()), "unmarked")
    with pytest.raises(testing.ConformanceError, match="zoo_post_filter is not marked @hookimpl"):
        testing.check_registration(unmarked, "unmarked")
    typo = testing.plugin_zoo(plugin(zoo_fusion=hookimpl(lambda: None),
                                     zoo_describe=describe(requires=("conditonal",))), "typo")
    with pytest.raises(testing.ConformanceError, match="requires 'conditonal', which no installed"):
        testing.check_registration(typo, "typo")


def test_plugin_zoo_fails_for_a_plugin_that_does_not_load():
    with pytest.raises(testing.ConformanceError, match="'bad' does not load: unknown hook zoo_nope"):
        testing.plugin_zoo(plugin(zoo_nope=hookimpl(lambda: None)), "bad")


# ------------------------------------------------------------ broken plugins, API version


def test_a_hook_whose_arguments_do_not_match_its_spec_is_broken_and_unregistered():
    fresh = Zoo()
    assert fresh.add("typo", plugin(zoo_post_filter=hookimpl(lambda config, strength: None),
                                    zoo_describe=describe()), "zoo-typo", "1.0") is None
    (broken,) = fresh.broken
    assert (broken.name, broken.package, broken.version) == ("typo", "zoo-typo", "1.0")
    assert broken.reason.startswith("PluginValidationError: Plugin 'typo' for hook 'zoo_post_filter'")
    assert "Argument(s) {'strength'} are declared in the hookimpl" in broken.reason
    assert not fresh.pm.get_plugins() and not fresh.pm.hook.zoo_describe.get_hookimpls()
    with pytest.raises(ZooError, match="plugin 'typo' is broken: PluginValidationError"):
        fresh.select(["typo"])


def test_unknown_hooks_are_reported_optional_ones_are_not():
    fresh = Zoo()
    fresh.add("ahead", plugin(zoo_rate_control=hookimpl(lambda config: None), zoo_describe=describe()))
    fresh.add("optional", plugin(zoo_rate_control=hookimpl(optionalhook=True)(lambda config: None),
                                 zoo_post_filter=hookimpl(lambda config: None),
                                 zoo_describe=describe()))
    assert [(b.name, b.reason) for b in fresh.broken] == [
        ("ahead", f"unknown hook zoo_rate_control (plugin API version {zoo.API_VERSION} "
                  f"has no such hook)")]
    assert fresh.get("optional").slots == ("post_filter",)


def test_a_plugin_written_for_another_api_version_is_broken():
    fresh = Zoo()
    fresh.add("future", plugin(zoo_describe=describe(api=zoo.API_VERSION + 1)))
    fresh.add("current", plugin(zoo_describe=describe(api=zoo.API_VERSION),
                                zoo_post_filter=hookimpl(lambda config: None)))
    assert fresh.broken[0].reason == (f"written for plugin API version {zoo.API_VERSION + 1}; "
                                      f"this codec-zoo has version {zoo.API_VERSION}")
    assert list(fresh.plugins) == ["current"] and fresh.plugins["current"].info.api == 1


def test_describing_or_registering_that_fails_makes_a_plugin_broken():
    def explode(register):
        raise RuntimeError("no registry for you")

    fresh = Zoo()
    fresh.add("not-info", plugin(zoo_describe=hookimpl(lambda: "a summary")))
    fresh.add("exploding", plugin(zoo_register_models=hookimpl(explode), zoo_describe=describe()))
    fresh.add("nameless", plugin(zoo_register_models=hookimpl(lambda register: register(None)),
                                 zoo_describe=describe()))
    reasons = {b.name: b.reason for b in fresh.broken}
    assert reasons == {"not-info": "zoo_describe returned str, not a PluginInfo",
                       "exploding": "RuntimeError: no registry for you",
                       "nameless": "zoo_register_models registered a model named None"}
    assert not fresh.plugins and not fresh.pm.get_plugins()


def test_list_shows_broken_and_skipped_plugins_with_their_reasons(monkeypatch, capsys):
    listed = Zoo.discover(LoadPolicy(blocked=frozenset({"grdn"})))
    listed.add("typo", plugin(zoo_post_filter=hookimpl(lambda config, strength: None)),
               "zoo-typo", "0.2")
    listed.add("ahead", plugin(zoo_rate_control=hookimpl(lambda: None)), "zoo-ahead", "1.0")
    monkeypatch.setattr(Zoo, "load", classmethod(lambda cls, fresh=False: listed))
    assert main(["list", "--plugins"]) == 0
    out = capsys.readouterr().out
    assert f"plugin API version {zoo.API_VERSION}" in out
    assert ("broken: typo (zoo-typo 0.2): PluginValidationError: Plugin 'typo' for hook "
            "'zoo_post_filter'; hookimpl definition: <lambda>(config, strength); Argument(s) "
            "{'strength'} are declared in the hookimpl but can not be found in the hookspec") in out
    assert "broken: ahead (zoo-ahead 1.0): unknown hook zoo_rate_control (plugin API version" in out
    assert f"not loaded: grdn (codec-zoo {zoo.__version__}): blocked by ZOO_BLOCK_PLUGINS" in out
    assert main(["list", "--plugins", "--json", "typo", "grdn", "cmfr"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listing["plugins"]] == ["cmfr"]
    assert [(b["name"], b["package"], b["version"]) for b in listing["broken"]] == [
        ("typo", "zoo-typo", "0.2")]
    assert listing["skipped"] == [{"name": "grdn", "package": "codec-zoo", "version": zoo.__version__,
                                   "reason": "blocked by ZOO_BLOCK_PLUGINS"}]
    assert listing["api_version"] == zoo.API_VERSION


def test_a_plugins_model_named_like_another_is_left_out_with_a_warning(monkeypatch, capsys):
    zoo = Zoo.discover(LoadPolicy(only=frozenset({"codec-zoo"})))

    def models(register):
        register("cmfr2025", plugins=["cmfr"])  # a registry.toml model's name
        register("clash-mine", plugins=["cmfr"])

    zoo.add("clasher", plugin(zoo_register_models=hookimpl(models)), "zoo-clasher", "1.0")
    zoo.add("late", plugin(zoo_register_models=hookimpl(
        lambda register: register("clash-mine", plugins=["gmm"]))), "zoo-late", "1.0")
    assert not zoo.broken
    with pytest.warns(ZooWarning) as caught:
        registry = load_registry(zoo)
    assert [str(w.message) for w in caught] == [
        "model 'cmfr2025' of plugin 'clasher' is left out: registry.toml has a model of that name",
        "model 'clash-mine' of plugin 'late' is left out: plugin 'clasher' has a model of that name"]
    assert registry["cmfr2025"].source == "registry.toml"
    assert registry["cmfr2025"].plugins == ("block-motion", "dis-flow", "x265-intra", "cmfr", "sff",
                                            "refiner")
    assert registry["clash-mine"].source == "clasher" and registry["clash-mine"].plugins == ("cmfr",)
    # the command line says it in one line on stderr, and goes on
    monkeypatch.setattr(Zoo, "load", classmethod(lambda cls, fresh=False: zoo))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["list", "--models", "--json", "clash*", "cmfr2025"]) == 0
    out, err = capsys.readouterr()
    assert {m["name"]: m["source"] for m in json.loads(out)["models"]} == {
        "clash-mine": "clasher", "cmfr2025": "registry.toml"}
    assert err.splitlines() == [
        "warning: model 'cmfr2025' of plugin 'clasher' is left out: registry.toml has a model of "
        "that name",
        "warning: model 'clash-mine' of plugin 'late' is left out: plugin 'clasher' has a model of "
        "that name"]


# ------------------------------------------------------------ loading control


@pytest.mark.parametrize("env, loads, reason", [
    ({}, True, None),
    ({DISABLE_AUTOLOAD_ENV: "1"}, False, "autoload disabled by ZOO_DISABLE_PLUGIN_AUTOLOAD"),
    ({DISABLE_AUTOLOAD_ENV: "0"}, True, None),
    ({DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "checkerboard"}, True, None),
    ({DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "zoo-checkerboard"}, True, None),  # by package
    ({PLUGINS_ENV: "other, checkerboard"}, True, None),
    ({PLUGINS_ENV: "other"}, False, "not named in ZOO_PLUGINS"),
    ({BLOCK_ENV: "checkerboard"}, False, "blocked by ZOO_BLOCK_PLUGINS"),
    ({BLOCK_ENV: "zoo_checkerboard"}, False, "blocked by ZOO_BLOCK_PLUGINS"),
    ({PLUGINS_ENV: "checkerboard", BLOCK_ENV: "checkerboard"}, False, "blocked by ZOO_BLOCK_PLUGINS"),
])
def test_load_policy_for_a_third_party_plugin(env, loads, reason):
    policy = LoadPolicy.from_env(env)
    assert policy.skip_reason("checkerboard", "zoo-checkerboard") == reason
    assert (reason is None) is loads


@pytest.mark.parametrize("env, reason", [
    ({}, None),
    ({DISABLE_AUTOLOAD_ENV: "1"}, "autoload disabled by ZOO_DISABLE_PLUGIN_AUTOLOAD"),
    ({DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "hyperprior"}, None),
    ({DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "codec-zoo"}, None),  # by package
    ({PLUGINS_ENV: "checkerboard"}, "not named in ZOO_PLUGINS"),
    ({PLUGINS_ENV: "checkerboard,codec_zoo"}, None),
    ({BLOCK_ENV: "hyperprior"}, "blocked by ZOO_BLOCK_PLUGINS"),
    ({PLUGINS_ENV: "codec-zoo", BLOCK_ENV: "hyperprior"}, "blocked by ZOO_BLOCK_PLUGINS"),
])
def test_load_policy_for_a_builtin(env, reason):
    assert LoadPolicy.from_env(env).skip_reason("hyperprior", "codec-zoo") == reason


@pytest.mark.parametrize("env", [{}, {DISABLE_AUTOLOAD_ENV: "1"}, {PLUGINS_ENV: "other"},
                                 {DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "other"},
                                 {BLOCK_ENV: "other"}])
def test_load_policy_treats_builtins_as_third_party_plugins(env):
    policy = LoadPolicy.from_env(env)
    assert policy.skip_reason("gmm", "codec-zoo") == policy.skip_reason("checkerboard",
                                                                         "zoo-checkerboard")


def test_builtins_left_out_by_the_environment_are_listed_as_not_loaded():
    found = Zoo.discover(LoadPolicy.from_env({DISABLE_AUTOLOAD_ENV: "1"}))
    assert not found.plugins
    assert {s.name for s in found.skipped} >= {"cmfr", "hyperprior", "spynet"}
    with pytest.raises(ZooError, match="plugin 'cmfr' is not loaded: autoload disabled by "
                                       "ZOO_DISABLE_PLUGIN_AUTOLOAD"):
        found.select(["cmfr"])
    kept = Zoo.discover(LoadPolicy.from_env({DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "codec-zoo"}))
    assert "cmfr" in kept.plugins and not kept.broken
    assert all(s.package != "codec-zoo" for s in kept.skipped)


def test_load_follows_the_environment_and_can_reload(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    base = Zoo.load()
    assert Zoo.load() is base and not base.skipped
    monkeypatch.setenv(BLOCK_ENV, "grdn,refiner")
    blocked = Zoo.load()
    assert blocked is not base and {s.name for s in blocked.skipped} == {"grdn", "refiner"}
    with pytest.raises(ZooError, match="plugin 'refiner' is not loaded: blocked by ZOO_BLOCK_PLUGINS"):
        blocked.select(["cmfr", "refiner"])
    monkeypatch.delenv(BLOCK_ENV)
    assert Zoo.load() is base
    reloaded = Zoo.load(fresh=True)
    assert reloaded is not base and Zoo.load() is reloaded
    assert reloaded.plugins.keys() == base.plugins.keys()


def test_blocking_a_default_leaves_its_slot_to_another_plugin():
    import zoo_checkerboard
    without = Zoo.discover(LoadPolicy(blocked=frozenset({"hyperprior"})))
    with pytest.raises(ZooError, match=r"fills slot entropy_model \(not loaded: hyperprior\)"):
        without.select(["cmfr"])
    without.add("checkerboard", zoo_checkerboard, "zoo-checkerboard", "0.1.0")
    selection = without.select(["checkerboard", "cmfr"])
    assert selection.filler("entropy_model").name == "checkerboard"
    # A composed model needs no other slot filled.
    assert without.select(["ensemble"]).filler("compose").name == "ensemble"


def test_zoo_plugins_naming_a_missing_plugin_is_reported():
    found = Zoo.discover(LoadPolicy(only=frozenset({"no-such-plugin", "codec-zoo"})))
    assert [(b.name, b.reason) for b in found.broken] == [
        ("no-such-plugin", "named in ZOO_PLUGINS but not installed")]
    assert "cmfr" in found.plugins


# ------------------------------------------------------------ the example, installed


BROKEN_DIST = {  # a third-party package whose plugins are all broken, one way each
    "zoo_bad_signature.py": "from zoo.core.hookspecs import hookimpl\n\n\n@hookimpl\n"
                            "def zoo_post_filter(config, strength):\n    return None\n",
    "zoo_unknown_hook.py": "from zoo.core.hookspecs import hookimpl\n\n\n@hookimpl\n"
                           "def zoo_rate_control(config):\n    return None\n",
    "zoo_future_api.py": "from zoo.core.hookspecs import hookimpl\n"
                         "from zoo.core.plugin_info import PluginInfo\n\n\n@hookimpl\n"
                         "def zoo_describe():\n    return PluginInfo('from the future', api=99)\n",
    "zoo_broken_plugins-0.3.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: zoo-broken-plugins\n"
                                                   "Version: 0.3.0\n",
    "zoo_broken_plugins-0.3.0.dist-info/entry_points.txt": (
        "[codec_zoo]\nbroken-import = zoo_no_such_module\nbad-signature = zoo_bad_signature\n"
        "unknown-hook = zoo_unknown_hook\nfuture-api = zoo_future_api\n"),
}
BROKEN_REASONS = {
    "broken-import": "ModuleNotFoundError: No module named 'zoo_no_such_module'",
    "bad-signature": "Argument(s) {'strength'} are declared in the hookimpl",
    "unknown-hook": "unknown hook zoo_rate_control (plugin API version 1 has no such hook)",
    "future-api": "written for plugin API version 99; this codec-zoo has version 1",
}


@dataclass
class Installed:
    target: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
        return {**env, "PYTHONPATH": str(self.target), "OMP_NUM_THREADS": "1", **extra}

    def zoo(self, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                              cwd=cwd, env=self.env(**env), timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """zoo-checkerboard pip-installed (no network, no build isolation) into a
    folder of its own, beside a package of broken plugins."""
    work = tmp_path_factory.mktemp("site")
    source, target = work / "zoo-checkerboard", work / "target"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                             "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                             "--target", str(target), str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for name, text in BROKEN_DIST.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text)
    return Installed(target)


def test_installed_example_is_listed_with_its_package_beside_broken_ones(installed, tmp_path):
    result = installed.zoo("list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    plugins = {p["name"]: p for p in listing["plugins"]}
    assert plugins["checkerboard"] | {"summary": ""} == {
        "name": "checkerboard", "slots": ["entropy_model"], "package": "zoo-checkerboard",
        "version": "0.1.0", "default": False, "summary": "", "paper": "He et al., CVPR 2021",
        "requires": [], "excludes": [], "provides": [], "options": [
            {"name": "forward_method", "type": "str", "default": "twopass", "choices":
             ["onepass", "twopass", "twopass_faster"], "help": "how training runs the two passes "
             "(CompressAI's CheckerboardLatentCodec)"}]}
    assert plugins["cmfr"]["package"] == "codec-zoo"
    models = {m["name"]: m for m in listing["models"]}
    assert models["cmfr2025-checkerboard"]["plugins"] == ["cmfr", "sff", "refiner", "checkerboard"]
    assert models["cmfr2025-checkerboard"]["source"] == "checkerboard"
    broken = {b["name"]: b for b in listing["broken"]}
    assert broken.keys() == BROKEN_REASONS.keys()
    for name, reason in BROKEN_REASONS.items():
        assert reason in broken[name]["reason"]
        assert (broken[name]["package"], broken[name]["version"]) == ("zoo-broken-plugins", "0.3.0")


def test_installed_example_runs_with_cmfr_in_place_of_a_blocked_default(installed, tiny_y4m, tmp_path):
    """``zoo run --plugins checkerboard,cmfr``, with the default entropy model
    blocked and the broken plugins loaded beside it."""
    result = installed.zoo("run", "--plugins", "checkerboard,cmfr", "--untrained", "--input",
                           str(tiny_y4m), "--frames", "2", "--out", str(tmp_path / "out"),
                           cwd=tmp_path, ZOO_BLOCK_PLUGINS="hyperprior")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "checkerboard-cmfr" / "tiny_72x48.json").read_text())
    assert report["decoded_equals_encoder"] is True
    assert [f["kind"] for f in report["frames"]] == ["I", "P"]
    assert report["model"]["plugins"] == ["checkerboard", "cmfr"] and report["model"]["untrained"]


def test_environment_controls_loading_in_a_new_process(installed, tmp_path):
    result = installed.zoo("list", "--plugins", "--json", cwd=tmp_path,
                           ZOO_DISABLE_PLUGIN_AUTOLOAD="1", ZOO_PLUGINS="checkerboard,codec-zoo")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert {"checkerboard", "cmfr"} <= {p["name"] for p in listing["plugins"]}
    assert not listing["broken"]
    assert {s["name"]: s["reason"] for s in listing["skipped"]} == dict.fromkeys(
        BROKEN_REASONS, "not named in ZOO_PLUGINS")
    # the built-ins follow the same rules: not named, not loaded
    result = installed.zoo("list", "--plugins", "--json", cwd=tmp_path,
                           ZOO_DISABLE_PLUGIN_AUTOLOAD="1", ZOO_PLUGINS="checkerboard")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert [p["name"] for p in listing["plugins"]] == ["checkerboard"]
    skipped = {s["name"]: (s["package"], s["reason"]) for s in listing["skipped"]}
    assert skipped["cmfr"] == ("codec-zoo", "not named in ZOO_PLUGINS")


@pytest.mark.parametrize("env, checkerboard, builtins", [
    ({}, "loaded", "loaded"),
    ({DISABLE_AUTOLOAD_ENV: "1"}, "autoload disabled by ZOO_DISABLE_PLUGIN_AUTOLOAD",
     "autoload disabled by ZOO_DISABLE_PLUGIN_AUTOLOAD"),
    ({DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "checkerboard"}, "loaded", "not named in ZOO_PLUGINS"),
    ({DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "checkerboard,codec-zoo"}, "loaded", "loaded"),
    ({PLUGINS_ENV: "zoo-checkerboard"}, "loaded", "not named in ZOO_PLUGINS"),
    ({PLUGINS_ENV: "zoo-checkerboard,codec-zoo"}, "loaded", "loaded"),
    ({BLOCK_ENV: "checkerboard"}, "blocked by ZOO_BLOCK_PLUGINS", "loaded"),
])
def test_environment_selects_installed_plugins(installed, monkeypatch, env, checkerboard, builtins):
    monkeypatch.syspath_prepend(str(installed.target))
    found = Zoo.discover(LoadPolicy.from_env(env))
    skipped = {s.name: s.reason for s in found.skipped}
    assert (skipped.get("checkerboard") or "loaded") == checkerboard
    if checkerboard == "loaded":
        assert found.get("checkerboard").package == "zoo-checkerboard"
    for name in ("cmfr", "hyperprior", "gmm"):  # built-ins, under the same rules
        assert (skipped.get(name) or "loaded") == builtins
        if builtins == "loaded":
            assert found.get(name).package == "codec-zoo"
    third_party_loaded = not env or (PLUGINS_ENV not in env and DISABLE_AUTOLOAD_ENV not in env)
    assert ({b.name for b in found.broken} == BROKEN_REASONS.keys()) is third_party_loaded


# ------------------------------------------------------------ the guide


@dataclass
class Block:
    lang: str
    code: str
    line: int  #: the code's first line in the guide
    include: str | None  #: the file the block must equal


def guide_blocks(path: Path = GUIDE) -> list[Block]:
    text = path.read_text()
    blocks = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        include = re.fullmatch(r"<!-- include: (\S+) -->", before)
        blocks.append(Block(m[1], m[2], text.count("\n", 0, m.start(2)) + 1,
                            include[1] if include else None))
    return blocks


def test_guide_includes_the_example_package_verbatim():
    included = {b.include: b for b in guide_blocks() if b.include}
    assert included.keys() == {"examples/zoo-checkerboard/pyproject.toml",
                               "examples/zoo-checkerboard/src/zoo_checkerboard/__init__.py",
                               "examples/zoo-checkerboard/tests/test_checkerboard.py"}
    for path, block in included.items():
        assert block.code == (ROOT / path).read_text(), f"{GUIDE.name}:{block.line}: {path} differs"


def test_guide_python_snippets_run(tmp_path, monkeypatch):
    """Each Python block runs on its own (``# file:`` blocks are written out first),
    with tracebacks pointing at the guide's lines."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    ran = files = 0
    for block in guide_blocks():
        if block.lang != "python" or block.include:
            continue
        first = block.code.split("\n", 1)[0]
        if first.startswith("# file: "):
            (tmp_path / first.removeprefix("# file: ").strip()).write_text(block.code)
            files += 1
            continue
        exec(compile("\n" * (block.line - 1) + block.code, str(GUIDE), "exec"), {"__name__": "guide"})
        ran += 1
    assert files == 2 and ran >= 8


def test_guide_commands_and_configuration_parse():
    parser = make_parser()
    commands = 0
    for block in [*guide_blocks(), *guide_blocks(EXAMPLE / "README.md")]:
        if block.lang == "toml":
            tomllib.loads(block.code)
        if block.lang != "bash":
            continue
        for line in block.code.splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if words and words[0] == "zoo":
                parser.parse_args(words[1:])  # a bad command exits: SystemExit fails the test
                commands += 1
    assert commands >= 10

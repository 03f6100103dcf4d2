"""The dispatch model as documented (zoo/core/hookspecs.py, docs/writing-plugins.md), shown by a
test package: a slot hook that returns None, a second default, a training stage with its
loss (and a loss term, and auxiliary parameters), and a command of its own."""

from __future__ import annotations

import json
from types import ModuleType

import pytest
import torch
from torch import nn

from zoo.cli import main
from zoo.core.build import ModelSpec, build_codec
from zoo.core.hookspecs import hookimpl
from zoo.core.manager import BUILTIN_PACKAGE, PLUGIN_TAG, LoadPolicy, Zoo
from zoo.core.plugin_info import Option, PluginInfo
from zoo.errors import ZooError
from zoo.plugins.hyperprior import MeanScaleHyperprior
from zoo.slots import PostFilter
from zoo.train.trainer import default_stages, stage_table

#: The built-in plugins only (third-party ones installed here are left out).
BUILTINS_ONLY = LoadPolicy(only=frozenset({BUILTIN_PACKAGE}))


def package(name: str, **hooks) -> ModuleType:
    """A plugin module of the test package: its hook implementations."""
    module = ModuleType(name)
    vars(module).update(hooks)
    return module


# ------------------------------------------------------------ the test package

ASKED: list[str] = []  # the latents the entropy model was asked for


@hookimpl
def zoo_entropy_model(config, channels, latent, context_channels):
    ASKED.append(latent)
    if latent != "residual":
        return None  # pass: the slot's default codes the other latents
    return MeanScaleHyperprior(channels, config.hyper_channels, context_channels)


class Brighten(PostFilter):
    """``x_hat + bias``; ``offset`` is auxiliary, fitted by its own loss towards 1."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.offset = nn.Parameter(torch.zeros(3))

    def forward(self, x_hat, q=None):
        return x_hat + self.bias

    def aux_parameters(self):
        return [self.offset]

    def aux_loss(self):
        return (self.offset - 1).square().sum()


LOSSES: list[str] = []  # what the stage's loss was given


def stage_loss(x, out, distortion):
    LOSSES.append(type(out["x_hat"]).__name__)
    return distortion(x, out["x_hat"])


def hello(args):
    if args.who == "nobody":
        raise ZooError("nobody to greet")
    print(f"hello {args.who} from brighten")


def register_commands(register):
    register("brighten-hello", hello, help="greets").add_argument("--who", default="you")


HALFWAY = package("zoo_halfway", zoo_entropy_model=zoo_entropy_model,
                  zoo_describe=hookimpl(lambda: PluginInfo("codes the residual latent only")))
BRIGHTEN = package(
    "zoo_brighten",
    zoo_post_filter=hookimpl(lambda config: Brighten()),
    zoo_register_stages=hookimpl(lambda register: register(
        "brighten", trains=("post_filter",), loss=stage_loss, frames=2, lr=1e-2)),
    zoo_register_losses=hookimpl(lambda register, config: register(
        "brightness", lambda x, out: out["x_hat"].mean().abs(), stages=("brighten",),
        weight=config.option("brighten", "weight", 0.5))),
    zoo_register_commands=hookimpl(register_commands),
    zoo_describe=hookimpl(lambda: PluginInfo(
        "brightens the decoded frame", options=(Option("weight", float, 0.5, "term weight"),))))
SECOND_DEFAULT = package("zoo_second", zoo_post_filter=hookimpl(trylast=True)(lambda config: None),
                         zoo_describe=hookimpl(lambda: PluginInfo("another default", default=True)))
EAGER_DEFAULT = package("zoo_eager", zoo_post_filter=hookimpl(lambda config: None),
                        zoo_describe=hookimpl(lambda: PluginInfo("eager default", default=True)))


@pytest.fixture(scope="module")
def probe_zoo() -> Zoo:
    zoo = Zoo.discover(BUILTINS_ONLY)
    zoo.add("halfway", HALFWAY, "zoo-probe", "0.1")
    zoo.add("brighten", BRIGHTEN, "zoo-probe", "0.1")
    assert not zoo.broken
    return zoo


@pytest.fixture
def installed(probe_zoo, monkeypatch) -> Zoo:
    """The test package as if installed: ``Zoo.load()`` gives it."""
    monkeypatch.setattr(Zoo, "load", classmethod(lambda cls, fresh=False: probe_zoo))
    return probe_zoo


# ------------------------------------------------------------ slot hooks


def test_a_slot_hook_returning_none_leaves_its_call_to_the_default(probe_zoo):
    ASKED.clear()
    codec = build_codec(ModelSpec(("halfway",)), zoo=probe_zoo)
    built = [getattr(m, PLUGIN_TAG)[0] for m in codec.modules()
             if getattr(m, PLUGIN_TAG, (None, None))[1] == "entropy_model"]
    assert sorted(ASKED) == ["intra", "motion", "residual"]  # asked for every latent
    assert sorted(built) == ["halfway", "hyperprior", "hyperprior"]  # answered for one


def test_the_requested_plugin_is_asked_first_and_the_default_last(probe_zoo):
    selection = probe_zoo.select(["halfway"])
    assert [p.name for p in selection.candidates("entropy_model")] == ["halfway", "hyperprior"]
    assert [p.name for p in selection.candidates("post_filter")] == ["no-filter"]
    assert "brighten" not in [p.name for p in selection.active]  # loaded, not asked


def test_a_slot_every_active_plugin_passes_on_is_an_error():
    zoo = Zoo()
    zoo.add("shy", package("zoo_shy", zoo_post_filter=hookimpl(lambda config: None)))
    with pytest.raises(ZooError, match=r"no active plugin built slot post_filter \(shy passed\)"):
        zoo.select(["shy"]).build("post_filter", config=None)


def test_a_second_default_for_a_slot_names_both_packages():
    zoo = Zoo.discover(BUILTINS_ONLY)
    zoo.add("second", SECOND_DEFAULT, "zoo-second", "1.0")
    assert "second" in zoo.plugins
    with pytest.raises(ZooError, match="slot post_filter has two default plugins: 'no-filter' "
                                       "from codec-zoo and 'second' from zoo-second"):
        zoo.select(["cmfr"])


def test_a_default_that_would_not_answer_last_is_broken():
    zoo = Zoo()
    assert zoo.add("eager", EAGER_DEFAULT, "zoo-eager", "1.0") is None
    assert zoo.broken[0].reason == ("a default plugin answers last: its zoo_post_filter must be "
                                    "@hookimpl(trylast=True)")


# ------------------------------------------------------------ training


def test_a_plugin_stage_trains_its_slot_on_its_loss(installed, tiny_y4m, tmp_path):
    table = stage_table(ModelSpec(("brighten",)))
    assert default_stages(table)[-1] == "brighten" and "brighten" not in stage_table(ModelSpec())
    LOSSES.clear()
    assert main(["train", "--plugins", "brighten", "--stages", "brighten", "--iterations", "2",
                 "--data", str(tiny_y4m), "--crop", "64", "--batch", "1", "--threads", "1",
                 "--checkpoint-every", "1", "--out", str(tmp_path)]) == 0
    assert LOSSES == ["Tensor", "Tensor"]  # one coded P-frame per step
    log = [json.loads(line) for line in (tmp_path / "brighten" / "train.log").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "step"]
    assert [r["stage"] for r in steps] == ["brighten", "brighten"] and "brightness" in steps[0]
    trained = torch.load(tmp_path / "brighten" / "checkpoint.pt", weights_only=True)["model"]
    initial = build_codec(ModelSpec(("brighten",))).state_dict()
    changed = {k for k in initial if not torch.equal(initial[k], trained[k])}
    assert changed == {"post_filter.bias", "post_filter.offset"}  # the rest is frozen
    assert (trained["post_filter.offset"] > 0).all()  # its auxiliary loss pulls it towards 1


def test_stages_and_terms_a_plugin_registers_are_checked(monkeypatch):
    bad = package("zoo_bad", zoo_post_filter=hookimpl(lambda config: Brighten()),
                  zoo_register_stages=hookimpl(lambda register: register("joint", trains=())))
    zoo = Zoo.discover(BUILTINS_ONLY)
    zoo.add("bad", bad)
    monkeypatch.setattr(Zoo, "load", classmethod(lambda cls, fresh=False: zoo))
    with pytest.raises(ZooError, match="plugin 'bad' registers stage 'joint', which this model "
                                       "already has"):
        stage_table(ModelSpec(("bad",)))


# ------------------------------------------------------------ commands


def test_a_plugin_command_runs_as_zoo_command(installed, capsys):
    assert main(["brighten-hello", "--who", "Ada"]) == 0
    assert capsys.readouterr().out == "hello Ada from brighten\n"
    assert main(["brighten-hello", "--who", "nobody"]) == 2
    assert capsys.readouterr().err.strip() == "error: nobody to greet"


def test_a_command_named_like_another_is_refused_with_a_warning(probe_zoo, monkeypatch, capsys):
    clash = package("zoo_clash", zoo_register_commands=hookimpl(
        lambda register: register("list", lambda args: print("hijacked"))),
        zoo_post_filter=hookimpl(lambda config: None))
    zoo = Zoo.discover(BUILTINS_ONLY)
    zoo.add("clash", clash, "zoo-clash", "1.0")
    monkeypatch.setattr(Zoo, "load", classmethod(lambda cls, fresh=False: zoo))
    with pytest.raises(SystemExit):
        main(["--help"])
    captured = capsys.readouterr()
    assert "warning: plugin 'clash' cannot add its commands: command 'list' exists already" in captured.err
    assert main(["list", "--plugins", "--json", "clash"]) == 0
    assert "hijacked" not in capsys.readouterr().out

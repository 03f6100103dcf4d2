"""Hostile plugins: some added in-process (outputs the encoder must check, strings the
container cannot hold, modules that are not modules), some installed as third-party
packages (shadowing a built-in, a second default, exiting or parsing argv at import)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from zoo.core.hookspecs import hookimpl
from zoo.io import bitstream
from zoo.plugins.hyperprior import MeanScaleHyperprior
from zoo.slots import MotionEstimation, PostFilter
from . import Case, Run, clip_file, only, streams


def plugin(**hooks) -> ModuleType:
    """A plugin module made on the spot: its hook implementations."""
    module = ModuleType("hostile_plugin")
    vars(module).update({name: hookimpl(f) for name, f in hooks.items()})
    return module


class NaNFilter(PostFilter):
    in_loop = True

    def forward(self, x_hat, q):
        return x_hat * float("nan")


class Cropping(PostFilter):
    def forward(self, x_hat, q):
        return x_hat[..., :-1, :]


class NaNFlow(MotionEstimation):
    def forward(self, x, ref_frame):
        return x[:, :2] * float("nan")


class Strings(MeanScaleHyperprior):
    """Its strings are made by ``change``."""

    change = staticmethod(lambda strings: strings)

    def compress(self, y):
        strings, y_hat = super().compress(y)
        return self.change(strings), y_hat


def strings_plugin(change) -> ModuleType:
    def zoo_entropy_model(config, channels):
        module = Strings(channels, config.hyper_channels)
        module.change = change
        return module
    return plugin(zoo_entropy_model=zoo_entropy_model)


def encode_with(name: str, module_plugin, *flags: str):
    def make(folder: Path) -> Run:
        return Run(["encode", str(clip_file(folder)), "-o", str(folder / "out.bin"), "--untrained",
                    "--plugins", name, "--intra-period", "0", *flags], plugins={name: module_plugin})
    return make


def site(folder: Path, package: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
    """A third-party package ``package`` 1.0 installed in ``folder / "site"``."""
    root = folder / "site"
    info = root / f"{package.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[codec_zoo]\n" + "".join(f"{name} = {module}\n" for name, module in entry_points.items()))
    for module, source in modules.items():
        (root / f"{module}.py").write_text("from zoo.core.hookspecs import hookimpl\n"
                                           "from zoo.core.plugin_info import PluginInfo\n" + source)
    return root


def installed(package: str, modules: dict[str, str], entry_points: dict[str, str], argv):
    def make(folder: Path) -> Run:
        root = site(folder, package, modules, entry_points)
        return Run(argv(folder), site=root)
    return make


def decode_real(folder: Path) -> list[str]:
    bitstream.write(folder / "s.bin", *streams.real_stream())
    return ["decode", str(folder / "s.bin"), "-o", str(folder / "out.y4m")]


def listing(folder: Path) -> list[str]:
    return ["list", "--plugins", "--json"]


def broken(reasons: dict[str, str], loaded: tuple[str, ...] = ()):
    """A check of ``zoo list --json``: these plugins broken, for these reasons; those loaded."""
    def check(folder: Path, stdout: str) -> None:
        listed = json.loads(stdout)
        found = {b["name"]: b["reason"] for b in listed["broken"]}
        for name, reason in reasons.items():
            assert reason in found.get(name, ""), (name, found)
        assert set(loaded) <= {p["name"] for p in listed["plugins"]}
    return check


IMPOSTOR = """
@hookimpl
def zoo_describe():
    return PluginInfo("an impostor", default=True)


@hookimpl
def zoo_entropy_model(config, channels):
    raise RuntimeError("the impostor ran")
"""
SECOND_DEFAULT = """
@hookimpl
def zoo_describe():
    return PluginInfo("another default", default=True)


@hookimpl(trylast=True)
def zoo_entropy_model(config, channels):
    from zoo.plugins.hyperprior import MeanScaleHyperprior
    return MeanScaleHyperprior(channels, config.hyper_channels)
"""
RUDE = {  # module -> source
    "zoo_hostile_exit": "raise SystemExit(3)\n",
    "zoo_hostile_interrupt": "@hookimpl\ndef zoo_describe():\n    raise KeyboardInterrupt\n",
    "zoo_hostile_required": ("import argparse\nparser = argparse.ArgumentParser()\n"
                             "parser.add_argument('--must', required=True)\nparser.parse_args()\n"),
    "zoo_hostile_argv": ("import argparse\nparser = argparse.ArgumentParser()\n"
                         "parser.add_argument('--level', type=int, default=1)\nARGS = parser.parse_args()\n"),
    "zoo_hostile_weights": ("@hookimpl\ndef zoo_register_models(register):\n"
                            "    register('stolen', plugins=[], weights='/etc/passwd', sha256='0')\n"),
}

CASES = [
    Case("an in-loop post filter returning NaN", "encoder checks", encode_with("nan-filter", plugin(
        zoo_post_filter=lambda config: NaNFilter())),
         "frame 1 cannot be encoded: it decodes to non-finite values", only(Path("."), "clip.y4m")),
    Case("a post filter returning a frame of the wrong shape", "encoder checks",
         encode_with("cropping", plugin(zoo_post_filter=lambda config: Cropping())),
         "frame 1 cannot be encoded: the codec returned a frame of (1, 3, 63, 64), not (1, 3, 64, 64)",
         only(Path("."), "clip.y4m")),
    Case("NaN motion: NaN latents for the rANS encoder", "non-finite latents",
         encode_with("nan-flow", plugin(zoo_motion_estimation=lambda config: NaNFlow())),
         "frame 1 cannot be encoded: ValueError in plugin 'hyperprior' (entropy_model): latents are "
         "not finite", only(Path("."), "clip.y4m")),
    Case("an entropy model returning str strings", "encoder checks",
         encode_with("str-strings", strings_plugin(lambda strings: [s.hex() for s in strings])),
         "frame 0 cannot be encoded: its payload does not fit the bitstream (latent 'intra' holds a "
         "str, not bytes)"),
    Case("an entropy model returning 300 strings", "encoder checks",
         encode_with("many-strings", strings_plugin(lambda strings: strings * 150)),
         "string count of 'intra' must be an int in 0..255, got 300"),
    Case("an entropy model returning 'hello'", "encoder checks",
         encode_with("hello-strings", strings_plugin(lambda strings: "hello")),
         "latent 'intra' must be a list of strings, got str"),
    Case("an entropy model returning 42", "encoder checks",
         encode_with("forty-two-strings", strings_plugin(lambda strings: 42)),
         "latent 'intra' must be a list of strings, got int"),
    Case("a slot returning 'hello'", "encoder checks",
         encode_with("hello", plugin(zoo_post_filter=lambda config: "hello")),
         "plugin 'hello' returned str for slot post_filter, not a torch.nn.Module"),
    Case("a slot returning 42", "encoder checks",
         encode_with("forty-two", plugin(zoo_post_filter=lambda config: 42)),
         "plugin 'forty-two' returned int for slot post_filter, not a torch.nn.Module"),
    Case("a third-party plugin named like a built-in", "plugin provenance",
         installed("zoo-shadow", {"zoo_hostile_shadow": IMPOSTOR}, {"hyperprior": "zoo_hostile_shadow"},
                   decode_real), None),
    Case("a third-party plugin named like a built-in, listed", "plugin provenance",
         installed("zoo-shadow", {"zoo_hostile_shadow": IMPOSTOR}, {"hyperprior": "zoo_hostile_shadow"},
                   listing), None, broken({"hyperprior": "name taken by package codec-zoo"})),
    Case("a second default for a slot", "plugin provenance",
         installed("zoo-second", {"zoo_hostile_second": SECOND_DEFAULT},
                   {"second-default": "zoo_hostile_second"}, decode_real),
         "slot entropy_model has two default plugins: 'hyperprior' from codec-zoo and "
         "'second-default' from zoo-second"),
    Case("plugins that exit, interrupt or parse argv at import", "plugin isolation",
         installed("zoo-rude", RUDE, {m.removeprefix("zoo_hostile_"): m for m in RUDE}, listing),
         None, broken({"exit": "SystemExit: 3", "interrupt": "KeyboardInterrupt",
                       "required": "SystemExit: 2", "weights": "'/etc/passwd' lies outside"},
                      loaded=("argv",))),
]

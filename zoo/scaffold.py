"""``zoo new-plugin``: a pip-installable package skeleton for a plugin that fills one slot.

The skeleton's slot hook builds the slot's default module, so the package
passes the conformance checks (``zoo.testing``) from the start; its author
replaces that module with the technique. A post-filter also gets a training
stage of its own: no built-in stage trains that slot.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from string import Template

from zoo import API_VERSION, __version__, slots
from zoo.core import hookspecs
from zoo.core.manager import SLOTS, Zoo
from zoo.errors import ZooError
from zoo.io.atomic import write_text

#: The slots a skeleton can fill (``compose`` builds whole models out of others).
OFFERED = tuple(s for s in SLOTS if s != "compose")
#: How the skeleton annotates each hook argument, and what it imports for that.
_ARGUMENTS = {"config": ("Config", "from zoo.core.config import Config"),
              "entropy": ("EntropyFactory", "from zoo.slots import EntropyFactory"),
              "fusion": ("FusionFactory", "from zoo.slots import FusionFactory"),
              "channels": ("int", None), "latent": ("str", None), "context_channels": ("int", None)}

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$package"
version = "0.1.0"
description = "$name: a $slot plugin for codec-zoo"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["codec-zoo>=$zoo_version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The plugin: its name in the zoo (`--plugins $name`) = the module that implements the hooks.
[project.entry-points.codec_zoo]
$name = "$module"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
filterwarnings = ["ignore:`torch.jit.script` is deprecated:FutureWarning"]
''')

MODULE = Template('''\
"""codec-zoo plugin ``$name``: fills the slot ``$slot``.

TODO: the technique, the paper it follows, and what is inferred rather than stated.
"""

from __future__ import annotations

from torch import nn

$imports
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.plugins import $default_module as default


@hookimpl
def zoo_$slot($parameters) -> nn.Module:
    """$contract

    The skeleton builds the slot's default module (``$default``): build yours here.
    """
    return default.zoo_$slot($arguments)
$stage

@hookimpl
def zoo_describe() -> PluginInfo:
    # Declare each option the module reads, config.option("$name", NAME, DEFAULT), as
    # zoo.core.plugin_info.Option(NAME, TYPE, DEFAULT, HELP): no other key is accepted.
    return PluginInfo(summary="$name: TODO, one line on the technique", paper="",
                      api=$api, options=())
''')

STAGE = Template('''

def _distortion(x, out, distortion):
    """The loss of one coded frame in the stage below: the filtered frame's distortion."""
    return distortion(x, out["x_hat"])


@hookimpl
def zoo_register_stages(register) -> None:
    # No built-in stage trains the post-filter: this one does, the rest of the codec frozen.
    register("$name", trains=("post_filter",), loss=_distortion, lr=2e-4)
''')

TEST = Template('''\
"""$package's tests: the zoo's conformance checks (``zoo.testing``), then the technique's own."""

import $module
from zoo import testing


def test_passes_the_conformance_checks():
    zoo = testing.plugin_zoo($module, "$name")
    testing.check_plugin(zoo, "$name", frames=2)
''')

README = Template('''\
# $package

A codec-zoo plugin: `$name` fills the slot `$slot`.

```bash
pip install -e .
python -m pytest
zoo list $name
zoo run --plugins $name --untrained
```
''')


def _contract(slot: str) -> str:
    """The first paragraph of the slot's contract in :mod:`zoo.slots`."""
    cls = getattr(slots, "".join(word.title() for word in slot.split("_")))
    return " ".join(inspect.getdoc(cls).split("\n\n")[0].split())


def _hook(slot: str, default_hook) -> dict[str, str]:
    """The skeleton hook's parameters (the spec's, annotated), the default hook's
    arguments (those it names), and the imports the annotations need."""
    names = list(inspect.signature(getattr(hookspecs, f"zoo_{slot}")).parameters)
    wanted = inspect.signature(default_hook).parameters
    parameters = [f"{n}: {_ARGUMENTS[n][0]}" if n in _ARGUMENTS else n for n in names]
    imports = sorted({_ARGUMENTS[n][1] for n in names if n in _ARGUMENTS and _ARGUMENTS[n][1]})
    return {"parameters": ", ".join(parameters), "imports": "\n".join(imports),
            "arguments": ", ".join(n for n in names if n in wanted)}


def new_plugin(name: str, slot: str, folder: Path, zoo: Zoo | None = None) -> list[Path]:
    """Write the package of plugin ``name`` (slot ``slot``) into ``folder``; returns its files."""
    zoo = zoo or Zoo.load()
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ZooError(f"plugin name {name!r}: lowercase letters, digits and '-', "
                       f"starting with a letter")
    if name in zoo.plugins:
        raise ZooError(f"a plugin named {name!r} is installed already ({zoo.plugins[name].package})")
    if slot not in OFFERED:
        raise ZooError(f"--slot {slot}: one of {', '.join(OFFERED)}")
    if folder.exists() and any(folder.iterdir()):
        raise ZooError(f"{folder} exists and is not empty")
    default = zoo.default_for(slot)
    if default is None or not default.builtin:
        raise ZooError(f"slot {slot} has no built-in default to start from here")
    module = "zoo_" + name.replace("-", "_")
    fields = dict(name=name, slot=slot, module=module, package=f"zoo-{name}", api=API_VERSION,
                  zoo_version=__version__, default=default.name, contract=_contract(slot),
                  default_module=default.module.__name__.rsplit(".", 1)[-1],
                  stage=STAGE.substitute(name=name) if slot == "post_filter" else "",
                  **_hook(slot, getattr(default.module, f"zoo_{slot}")))
    files = {folder / "pyproject.toml": PYPROJECT, folder / "README.md": README,
             folder / "src" / module / "__init__.py": MODULE,
             folder / "tests" / f"test_{module.removeprefix('zoo_')}.py": TEST}
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, template.substitute(fields))
    return list(files)

"""Malformed ``registry.toml`` files: ``zoo list`` (every command reads the registry)
fails in one line naming the file and the key; weights must lie inside its folder."""

from __future__ import annotations

import os
from pathlib import Path

from . import Case, Run


def registry(text: str, link: bool = False):
    def make(folder: Path) -> Run:
        (folder / "registry.toml").write_text(text)
        if link:  # inside the folder, pointing out of it
            (folder / "weights").mkdir()
            os.symlink("/etc/passwd", folder / "weights" / "x.safetensors")
        return Run(["list", "--models"], env={"ZOO_REGISTRY": str(folder / "registry.toml")})
    return make


CASES = [
    Case("weights = 5", "registry schema", registry("[models.x]\nplugins = []\nweights = 5\n"),
         "registry.toml: models.x.weights must be a path (a string), got 5"),
    Case("models = 5", "registry schema", registry("models = 5\n"),
         "registry.toml: models must be a table of models, got 5"),
    Case("a model that is not a table", "registry schema", registry("[models]\nx = 5\n"),
         "registry.toml: models.x must be a table, got 5"),
    Case("preset = 3", "registry schema", registry("[models.x]\nplugins = []\npreset = 3\n"),
         "registry.toml: models.x.preset must be a string, got 3"),
    Case("plugins = 'cmfr'", "registry schema", registry("[models.x]\nplugins = 'cmfr'\n"),
         "registry.toml: models.x.plugins must be a list of plugin names, got 'cmfr'"),
    Case("options = { cmfr = 1 }", "registry schema",
         registry("[models.x]\nplugins = []\noptions = { cmfr = 1 }\n"),
         "registry.toml: models.x.options must be a table of tables"),
    Case("weights = '../../../../etc/passwd'", "weight paths",
         registry("[models.x]\nplugins = []\nweights = '../../../../etc/passwd'\nsha256 = ''\n"),
         "models.x.weights '../../../../etc/passwd' lies outside"),
    Case("weights linked out of the registry's folder", "weight paths",
         registry("[models.x]\nplugins = []\nweights = 'weights/x.safetensors'\n", link=True),
         "models.x.weights 'weights/x.safetensors' lies outside"),
]

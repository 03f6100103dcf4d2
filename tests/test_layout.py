"""The layout of ``zoo/`` (docs/architecture.md): floors, and imports that only go down.

Every module of ``zoo/`` and of ``plugins/`` (installed as ``zoo.plugins``) is
parsed with ``ast`` and each of its imports (at module level, in functions and
under ``TYPE_CHECKING`` alike) resolved to the zoo module it names. A module
imports only from its own floor or below; the foot (``zoo``, ``zoo.slots``,
``zoo.errors``) imports nothing of the zoo; and the rooms (the subpackages and
the modules at the top of ``zoo/``) import each other in no circle. The
deprecated old paths (``zoo.hookspecs``, ``zoo.layers``, ...) import only the
module they stand for, and nothing in the repository imports them.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Each room's floor, from the foot up (a room: a subpackage, or a module at the top of zoo/).
FLOORS = {
    "zoo": 1, "zoo.slots": 1, "zoo.errors": 1,  # the contract every floor shares
    "zoo.nn": 3, "zoo.io": 3,  # building blocks for slot modules; files in and out
    "zoo.core": 4,  # a codec from plugins; clips to streams and back
    "zoo.train": 5, "zoo.eval": 5, "zoo.plugins": 5,  # learning weights; measuring codecs; techniques
    "zoo.cli": 6, "zoo.__main__": 6, "zoo.testing": 6, "zoo.scaffold": 6,  # entry points
}
FOOT = 1
SHIM_FLOOR = 6  #: a deprecated old path stands where entry points do: nothing in the zoo imports it


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    is_package: bool

    @property
    def moved_to(self) -> str | None:
        """The module a deprecated old path stands for (its ``_MOVED_TO``), if it is one."""
        for node in self.tree.body:
            names = [getattr(t, "id", None) for t in getattr(node, "targets", ())]
            if names == ["_MOVED_TO"] and isinstance(node.value, ast.Constant):
                return node.value.value
        return None


def parse(sources: dict[str, tuple[str, Path, bool]]) -> dict[str, Module]:
    return {name: Module(name, path, ast.parse(text, str(path)), is_pkg)
            for name, (text, path, is_pkg) in sources.items()}


def repository_sources() -> dict[str, tuple[str, Path, bool]]:
    """``{module name: (source, path, is a package)}`` of zoo/ and plugins/."""
    found = {}
    for base, package in ((ROOT / "zoo", "zoo"), (ROOT / "plugins", "zoo.plugins")):
        for path in sorted(base.rglob("*.py")):
            parts = [package, *path.relative_to(base).with_suffix("").parts]
            is_pkg = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_pkg else parts)
            found[name] = (path.read_text(), path, is_pkg)
    return found


def room(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2])


def floor(module: Module) -> int | None:
    return SHIM_FLOOR if module.moved_to else FLOORS.get(room(module.name))


def imports(module: Module, known: dict[str, Module]) -> list[tuple[int, str]]:
    """``(line, zoo module)`` for every import of the zoo in ``module``."""
    out = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "zoo"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "zoo":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.append((node.lineno, sub if sub in known else target))
    return out


def problems(modules: dict[str, Module]) -> list[str]:
    """Every way ``modules`` break the layout, one line each (empty: none)."""
    found = []
    graph: dict[str, set[str]] = {}
    for module in modules.values():
        here = floor(module)
        where = f"{module.path.relative_to(ROOT) if module.path.is_absolute() else module.path}"
        if here is None:
            found.append(f"{module.name} is on no floor (add its room to FLOORS)")
            continue
        for line, target in imports(module, modules):
            at = f"{where}:{line}: {module.name} imports {target}"
            if target not in modules:
                found.append(f"{at}, which is no module of the zoo")
                continue
            other = modules[target]
            if other.moved_to and other is not module:
                found.append(f"{at}, a deprecated path: import {other.moved_to}")
                continue
            if module.moved_to:
                if target != module.moved_to:
                    found.append(f"{at}; a deprecated path imports only {module.moved_to}")
                continue
            theirs = floor(other)
            if here == FOOT and target != module.name:
                found.append(f"{at}: the foot (zoo, zoo.slots, zoo.errors) imports nothing of the zoo")
            elif theirs is not None and theirs > here:
                found.append(f"{at}, upward (floor {theirs} above floor {here})")
            if room(target) != room(module.name):
                graph.setdefault(room(module.name), set()).add(room(target))
    for path, group in circles(graph):
        rest = [r for r in group if r not in path]
        more = f" (and through {', '.join(rest)})" if rest else ""
        found.append(f"import circle between rooms: {' -> '.join(path)}{more}")
    return found


def circles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Per strongly connected group of rooms (Tarjan): a circle through it, as a path back to
    its start, and the whole group."""
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for group in groups:  # a path through the group back to its first room
        path, seen = [group[0]], {group[0]}
        while True:
            nxt = next((w for w in sorted(graph[path[-1]])
                        if w in group and (w not in seen or w == path[0])), None)
            if nxt is None or nxt == path[0]:
                out.append((path + [path[0]], group))
                break
            path.append(nxt)
            seen.add(nxt)
    return out


# ------------------------------------------------------------------ the repository


def test_every_import_goes_down_and_no_room_imports_in_a_circle():
    modules = parse(repository_sources())
    assert {floor(m) for m in modules.values()} >= {1, 3, 4, 5, 6}
    found = problems(modules)
    assert not found, "\n".join(found)


def test_the_core_imports_nothing_from_train_eval_cli_or_plugins():
    modules = parse(repository_sources())
    core = [m for m in modules.values() if room(m.name) == "zoo.core"]
    assert len(core) >= 15
    above = {(m.name, t) for m in core for _, t in imports(m, modules)
             if room(t) in ("zoo.train", "zoo.eval", "zoo.cli", "zoo.plugins", "zoo.testing")}
    assert not above


# ------------------------------------------------------------------ the checks can fail


def fake(**modules: str) -> dict[str, Module]:
    """Modules from source text, named with ``__`` for dots (``zoo__core__a``); ``_pkg`` marks
    a package's ``__init__``."""
    sources = {}
    for key, text in modules.items():
        is_pkg = key.endswith("_pkg")
        name = key.removesuffix("_pkg").replace("__", ".")
        sources[name] = (text, Path(f"<{name}>"), is_pkg)
    return parse(sources)


def test_the_checks_find_an_upward_import():
    found = problems(fake(zoo__core__a="from zoo.eval.b import run\n", zoo__eval__b="x = 1\n"))
    assert found == ["<zoo.core.a>:1: zoo.core.a imports zoo.eval.b, upward (floor 5 above floor 4)"]
    found = problems(fake(zoo__io__v="def f():\n    from ..core import m\n", zoo__core__m="x = 1\n"))
    assert found == ["<zoo.io.v>:2: zoo.io.v imports zoo.core.m, upward (floor 4 above floor 3)"]
    found = problems(fake(zoo__core_pkg="", zoo__core__a="from . import b\n", zoo__core__b="",
                          zoo__train__t="from zoo.core import a\n"))
    assert found == []  # the same room, and down
    found = problems(fake(zoo__errors="from zoo.slots import Payload\n", zoo__slots=""))
    assert found == ["<zoo.errors>:1: zoo.errors imports zoo.slots: the foot (zoo, zoo.slots, "
                     "zoo.errors) imports nothing of the zoo"]


def test_the_checks_find_a_circle_between_rooms():
    found = problems(fake(zoo__train__a="import zoo.eval.b\n", zoo__eval__b="from zoo.train import a\n",
                          zoo__train_pkg="", zoo__eval_pkg=""))
    assert found == ["import circle between rooms: zoo.eval -> zoo.train -> zoo.eval"]


def test_the_checks_find_a_module_on_no_floor_a_missing_module_and_a_deprecated_path():
    found = problems(fake(zoo__extra="x = 1\n", zoo__cli="from zoo.bitstream import dumps\n"))
    assert found == ["zoo.extra is on no floor (add its room to FLOORS)",
                     "<zoo.cli>:1: zoo.cli imports zoo.bitstream, which is no module of the zoo"]
    shim = "from zoo.nn import layers as _module\n_MOVED_TO = 'zoo.nn.layers'\n"
    found = problems(fake(zoo__layers=shim, zoo__nn__layers="", zoo__nn_pkg="",
                          zoo__plugins__p="from zoo.layers import warp\n"))
    assert found == ["<zoo.plugins.p>:1: zoo.plugins.p imports zoo.layers, a deprecated path: "
                     "import zoo.nn.layers"]


# ------------------------------------------------------------------ the deprecated old paths


SHIMS = {m.name: m.moved_to for m in parse(repository_sources()).values() if m.moved_to}


def test_the_old_paths_plugin_authors_use_are_kept():
    assert {"zoo.hookspecs", "zoo.layers", "zoo.plugin_info", "zoo.config"} <= SHIMS.keys()
    assert SHIMS["zoo.hookspecs"] == "zoo.core.hookspecs" and SHIMS["zoo.layers"] == "zoo.nn.layers"
    for name in ("zoo.slots", "zoo.testing", "zoo.errors"):  # these did not move
        assert importlib.import_module(name).__name__ == name


@pytest.mark.parametrize("old", sorted(SHIMS))
def test_an_old_path_is_the_moved_module_with_a_deprecation_warning(old):
    saved = sys.modules.pop(old, None)
    try:
        with pytest.warns(DeprecationWarning, match=rf"{re.escape(old)} is deprecated: import "
                                                    rf"{re.escape(SHIMS[old])}") as caught:
            module = __import__(old, fromlist=["_"])  # an import statement's own call
        assert module is importlib.import_module(SHIMS[old])
        assert {Path(w.filename).name for w in caught} == {Path(__file__).name}  # the importer's line
    finally:
        sys.modules.pop(old, None)
        if saved is not None:
            sys.modules[old] = saved


def test_nothing_in_the_repository_imports_an_old_path():
    """Code and documentation (whose code blocks the tests run) use the new paths, so the
    zoo itself never raises the DeprecationWarning."""
    old = "|".join(re.escape(name) for name in SHIMS)
    pattern = re.compile(rf"^\s*(?:from ({old}) import|import ({old})\b)", re.M)
    hits = []
    paths = [ROOT / "README.md", ROOT / "pyproject.toml", *(
        path for folder in ("zoo", "plugins", "scripts", "tests", "examples", "docs")
        for path in sorted((ROOT / folder).rglob("*")) if path.suffix in (".py", ".md", ".sh", ".toml"))]
    for path in paths:
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(errors="replace")
        hits += [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0).strip()}"
                 for m in pattern.finditer(text)]
    assert not hits, "\n".join(hits)


def test_importing_the_zoo_and_its_plugins_raises_no_deprecation_warning(tmp_path):
    import subprocess
    code = ("import warnings\n"
            "warnings.filterwarnings('error', r'zoo\\..* is deprecated', DeprecationWarning)\n"
            "import zoo.cli, zoo.testing, zoo.scaffold, zoo.train.trainer, zoo.eval.evaluate\n"
            "import zoo.eval.speed.report, zoo.eval.ablate, zoo.eval.anchors, zoo.eval.plot\n"
            "from zoo.core.manager import Zoo\n"
            "zoo = Zoo.load()\n"
            "assert not zoo.broken, zoo.broken\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

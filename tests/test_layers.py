"""The library's imports follow the layer table of docs/ARCHITECTURE.md.

Every module under ``purify_tf/`` is parsed (imports at the top and inside functions alike);
each import of another unit (subpackage or top-level module) must point to a lower layer, the
units of one layer stay independent, and no unit imports the entry points that are not installed
with the wheel. A failure names the file, the line and the imported module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "purify_tf"
ARCHITECTURE = REPO / "docs" / "ARCHITECTURE.md"
ROOT = "purify_tf"  # the package root's own unit (purify_tf/__init__.py)
ENTRY_POINTS = ("trainers", "export", "tools", "benchmarks", "tests")


def read_layers(text: str) -> dict[str, int]:
    """``{unit: layer}`` from the ```text block under "## Layers" (lines ``N unit, unit``)."""
    section = text.split("\n## Layers\n", 1)
    if len(section) != 2:
        raise AssertionError(f"{ARCHITECTURE}: no '## Layers' section")
    block = re.search(r"```text\n(.*?)```", section[1], re.S)
    if block is None:
        raise AssertionError(f"{ARCHITECTURE}: no ```text block under '## Layers'")
    layers: dict[str, int] = {}
    for line in block.group(1).splitlines():
        match = re.fullmatch(r"(\d+) (.+)", line.strip())
        if match is None:
            raise AssertionError(f"{ARCHITECTURE}: layer line {line!r}: expected 'N unit, unit'")
        for unit in match.group(2).split(","):
            if unit.strip() in layers:
                raise AssertionError(f"{ARCHITECTURE}: {unit.strip()!r} is listed twice")
            layers[unit.strip()] = int(match.group(1))
    return layers


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str | None:
    """The layer unit of a ``purify_tf[.x[.y]]`` name; None for names outside the package."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    return parts[1] if len(parts) > 1 else ROOT


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # ``from purify_tf import pretrained`` imports the unit ``pretrained``.
            found += [(node.lineno, f"{base}.{alias.name}" if base == ROOT and not alias.name.startswith("__")
                       else base) for alias in node.names]
    return list(dict.fromkeys(found))  # ``from x import a, b`` is one import of x


def layer_violations(package: Path, units: dict[str, int]) -> list[str]:
    """One line per import against the table, per unit the table does not know, and per pair
    of units that import each other."""
    problems: list[str] = []
    edges: dict[tuple[str, str], str] = {}
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        source = unit_of(module)
        where = path.relative_to(package.parent)
        if source not in units:
            problems.append(f"{where}: unit {source!r} is not in the layer table of {ARCHITECTURE.name}")
            continue
        for line, imported in imports_of(path, module):
            if imported.split(".")[0] in ENTRY_POINTS:
                problems.append(f"{where}:{line}: imports {imported} (an entry point, not part of the wheel)")
                continue
            target = unit_of(imported)
            if target is None or target == source:
                continue
            if target not in units:
                problems.append(f"{where}:{line}: imports {imported}, whose unit {target!r} is not in the layer table")
                continue
            edges.setdefault((source, target), f"{where}:{line}")
            if units[target] > units[source]:
                problems.append(f"{where}:{line}: imports {imported}, a higher layer "
                                f"({target} {units[target]} > {source} {units[source]})")
            elif units[target] == units[source]:
                problems.append(f"{where}:{line}: imports {imported}; {source} and {target} share "
                                f"layer {units[source]} and must stay independent")
    for (a, b), where in sorted(edges.items()):
        if a < b and (b, a) in edges:
            problems.append(f"{a} and {b} import each other: {where} and {edges[(b, a)]}")
    return problems


def test_imports_follow_the_layer_table():
    problems = layer_violations(PACKAGE, read_layers(ARCHITECTURE.read_text()))
    assert not problems, "imports against docs/ARCHITECTURE.md's layers:\n" + "\n".join(problems)


def test_every_unit_of_the_table_exists():
    units = read_layers(ARCHITECTURE.read_text())
    missing = [u for u in units if u != ROOT and not (PACKAGE / u).is_dir() and not (PACKAGE / f"{u}.py").is_file()]
    assert not missing, f"{ARCHITECTURE.name} lists units that purify_tf does not have: {missing}"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "purify_tf"


LAYERS = {ROOT: 0, "errors": 1, "data": 2, "models": 3, "losses": 3, "cli": 4}


@pytest.mark.parametrize("files, expected", [
    ({"purify_tf/data/a.py": "def f():\n    from purify_tf.models import vgg\n"},
     "purify_tf/data/a.py:2: imports purify_tf.models, a higher layer"),
    ({"purify_tf/errors.py": "from .data import a\n", "purify_tf/data/a.py": ""},
     "purify_tf/errors.py:1: imports purify_tf.data, a higher layer"),
    ({"purify_tf/models/m.py": "from ..losses.l import x\n", "purify_tf/losses/l.py": ""},
     "purify_tf/models/m.py:1: imports purify_tf.losses.l; models and losses share layer 3"),
    ({"purify_tf/cli.py": "import trainers.purify\n"},
     "purify_tf/cli.py:1: imports trainers.purify (an entry point"),
    ({"purify_tf/gaze/g.py": ""}, "unit 'gaze' is not in the layer table"),
    ({"purify_tf/models/m.py": "from purify_tf.losses import l\n",
      "purify_tf/losses/l.py": "import purify_tf.models.m\n"},
     "losses and models import each other: purify_tf/losses/l.py:1 and purify_tf/models/m.py:1"),
])
def test_each_kind_of_violation_is_named(tmp_path, files, expected):
    package = _write(tmp_path, {"purify_tf/__init__.py": "", **files})
    problems = layer_violations(package, LAYERS)
    assert any(expected in p for p in problems), problems


def test_downward_and_inner_imports_pass(tmp_path):
    package = _write(tmp_path, {
        "purify_tf/__init__.py": "",
        "purify_tf/cli.py": "import purify_tf\nfrom purify_tf import errors\nfrom purify_tf.models.m import x\n",
        "purify_tf/models/m.py": "from . import n\nfrom purify_tf.data.a import y\nimport numpy\n",
        "purify_tf/models/n.py": "from .m import x\n",
        "purify_tf/data/a.py": "def f():\n    from purify_tf.errors import E\n",
    })
    assert layer_violations(package, LAYERS) == []


def test_read_layers_rejects_a_malformed_table():
    assert read_layers("x\n## Layers\n\n```text\n1 b, c\n0 a\n```\n") == {"b": 1, "c": 1, "a": 0}
    with pytest.raises(AssertionError, match="expected 'N unit, unit'"):
        read_layers("\n## Layers\n```text\ncli\n```\n")

"""The import contract: layers import downward only, and the compiler never loads torch.

Layers, bottom to top: ir -> targets -> passes -> compiler -> runtime -> studies -> cli. A module
may import its own layer and the layers below it, at module level or inside a function alike.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["ir", "targets", "passes", "compiler", "runtime", "studies", "cli"]
NO_TORCH = {"ir", "targets", "passes", "compiler"}


def _modules() -> list[tuple[str, Path]]:
    return [(layer, p) for layer in LAYERS for p in sorted((ROOT / layer).glob("*.py"))]


def _imported(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in the file, nested ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno}: relative import; use hqvit.<layer>")
            out.append((node.module or "", node.lineno))
    return out


def test_every_package_is_a_known_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages == set(LAYERS)


@pytest.mark.parametrize("layer,path", _modules(), ids=lambda x: x if isinstance(x, str) else x.name)
def test_imports_go_downward_only(layer, path):
    rank = LAYERS.index(layer)
    for module, line in _imported(path):
        parts = module.split(".")
        if parts[0] in LAYERS + ["compiler", "passes", "targets", "runtime"] and parts[0] != "hqvit":
            pytest.fail(f"{path.relative_to(ROOT)}:{line}: '{module}' is outside the hqvit namespace")
        if parts[0] == "hqvit" and len(parts) > 1:
            assert LAYERS.index(parts[1]) <= rank, f"{path.relative_to(ROOT)}:{line}: {layer} imports {module}"
        if layer in NO_TORCH:
            assert parts[0] != "torch", f"{path.relative_to(ROOT)}:{line}: {layer} imports torch"


def test_compiling_does_not_load_torch():
    code = (
        "import sys; from hqvit.compiler.hqvit import HQViTConfig; from hqvit.compiler.pipeline import compile_hqvit;"
        "from hqvit.targets import resolve_target; compile_hqvit(HQViTConfig(), resolve_target('grid:3x4'));"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_use_public_names_only(path):
    """Benchmarks are the package's first outside users: a private name they import is an API
    that is missing."""
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hqvit")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert not private, f"{path.name} imports private names {private}"

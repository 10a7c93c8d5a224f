"""The house rules a change must keep: short functions, the Hydra config read only where it
enters, few modules at the top of the package, and a light engine seam."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vssbench"
MAX_FUNCTION_LINES = 60
# Where Hydra hands over a config: the command lines and Hydra's callbacks; config/ reads it.
ENTRY_POINTS = {"__main__.py", "sweep/callbacks.py"}


def _modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(PACKAGE)): ast.parse(path.read_text())
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _reads_config(relative: str) -> bool:
    return (
        relative.startswith("config/")
        or relative.endswith("__main__.py")
        or relative in ENTRY_POINTS
    )


def test_no_function_is_longer_than_60_lines():
    long = [
        f"{module}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for module, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def _omegaconf_uses(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names]
            found += [f"imports {n}" for n in names if n.split(".")[0] in ("omegaconf", "hydra")]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for arg in node.args.args + node.args.kwonlyargs:
                if arg.annotation is not None and "DictConfig" in ast.unparse(arg.annotation):
                    found.append(f"{node.name}({arg.arg}: DictConfig)")
    return found


def test_only_entry_points_and_config_read_the_hydra_config():
    readers = {
        module: uses
        for module, tree in _modules().items()
        if not _reads_config(module) and (uses := _omegaconf_uses(tree))
    }
    assert readers == {}


def test_the_package_top_holds_at_most_a_dozen_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top


def test_the_engines_load_without_the_data_generators():
    """The fresh-process index memory probe imports an engine: it must not pay for (or count
    the memory of) faker, scipy or kiwi, which only make data."""
    code = (
        "import sys; from vssbench.engines.registry import engine_class; "
        "engine_class('duckdb_vss'); import vssbench.engines.index_probe; "
        "print(sorted(m for m in ('faker', 'scipy', 'kiwipiepy', 'omegaconf') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

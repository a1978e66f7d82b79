"""The package layout: each family in its own folder, imports pointing down the pipeline, no cycles.

Read from the source with ``ast`` (nothing is imported), so every import counts, also the
lazy ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edgekit"

# Lowest first. A unit may import units of its own rank or below, never above.
# (The package itself, ``edgekit/__init__.py``, is the public face and may import anything.)
RANKS = {
    "_version": 0, "errors": 0, "results": 0,
    "preprocess": 1, "postprocess": 1, "options": 1, "imagefile": 1, "backend": 1, "_device": 1,
    "delegates": 1,
    "_jsonout": 0,
    "_detect": 2, "_modelfile": 2,
    "model": 3,
    "sources": 4, "sinks": 4,
    "_stream": 5, "_batch": 5, "_actions": 5,
    "_reload": 5,
    "_serve": 6, "_tools": 6, "_evaluate": 6,
    "cli": 7, "__main__": 8,
}


def _unit(module: str) -> str:
    """``edgekit._detect.nms`` → ``_detect``; ``edgekit.model`` → ``model``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "edgekit"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every edgekit module ``path`` imports (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "edgekit")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "edgekit":
                continue
            for alias in node.names:  # `from .x import y` may import the submodule y
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _exists(candidate) else target)
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def test_every_unit_has_a_rank() -> None:
    units = {_unit(m) for m in MODULES} - {"edgekit"}
    assert units <= set(RANKS), f"place these in RANKS: {sorted(units - set(RANKS))}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _unit(m) != "edgekit"))
def test_imports_point_down_the_pipeline(module: str) -> None:
    rank = RANKS[_unit(module)]
    upward = sorted(m for m in GRAPH[module] if _unit(m) == "edgekit" or RANKS[_unit(m)] > rank)
    assert not upward, f"{module} (rank {rank}) imports upward: {upward}"


def test_no_import_cycles_between_modules() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_top_level_holds_only_the_public_face_and_the_pipeline_stages() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= 13, top
    prefixes = [name.split("_")[0] for name in top if not name.startswith("_")]
    assert len(prefixes) == len(set(prefixes)), f"a shared prefix means a missing subpackage: {top}"


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split by idea: {long}"

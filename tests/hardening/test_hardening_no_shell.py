"""No user string reaches a shell: the package never runs a command through one."""

from __future__ import annotations

import ast
from pathlib import Path

import edgekit

PACKAGE = Path(edgekit.__file__).resolve().parent
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"),
               ("subprocess", "getstatusoutput"), ("os", "execl"), ("os", "execlp"), ("os", "spawnl")}


def _sources() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    return files


def test_no_subprocess_call_uses_shell_true() -> None:
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, found


def test_no_os_system_popen_or_getoutput() -> None:
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and (node.value.id, node.attr) in SHELL_CALLS:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value.id}.{node.attr}")
    assert not found, found


def test_the_text_grep_agrees_with_the_ast_check() -> None:
    """A plain grep too, in case a call is built in a way the AST walk misses."""
    hits = [f"{p.relative_to(PACKAGE)}:{n}" for p in _sources()
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if any(s in line.split("#")[0] for s in ("shell=True", "os.system(", "os.popen("))]
    assert not hits, hits

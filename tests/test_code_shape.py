"""Small functions (DEVELOPERS.md): none over 80 lines in the library (rag/, its subpackages) or the UI."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 80


@pytest.mark.parametrize("package", ["rag", "ui"])
def test_no_function_is_longer_than_80_lines(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    too_long = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} is {length} lines")
    assert too_long == []

"""Size targets of the codebase: no file over 400 lines, no function over 60, in the library and
its entry points (tests aside), so that every concept reads on a screen or two."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("purify_tf", "trainers", "export", "tools")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources():
    for folder in FOLDERS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def oversized() -> list[str]:
    found = []
    for path in _sources():
        text = path.read_text()
        rel = path.relative_to(ROOT)
        lines = len(text.splitlines())
        if lines > MAX_FILE_LINES:
            found.append(f"{rel}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_file_or_function_over_the_limits():
    assert oversized() == []


if __name__ == "__main__":
    print("\n".join(oversized()) or "all within the limits")

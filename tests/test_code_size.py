"""A sanity limit on the size of the codebase: no file over 1000 lines, no function over 150, in
the library and its entry points (tests aside).

The limits are generous on purpose. Code is split by concept (one module per idea, see
docs/ARCHITECTURE.md), not by length: a tight cap (it was 400 lines per file and 60 per function)
pushed code into modules whose concept it is not and made signatures vaguer to save lines. What is
left only catches a file or a function that has plainly grown past what anyone reads in one go.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("purify_tf", "trainers", "export", "tools")
MAX_FILE_LINES = 1000
MAX_FUNCTION_LINES = 150


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


def test_no_file_or_function_over_the_sanity_limits():
    assert oversized() == []


if __name__ == "__main__":
    print("\n".join(oversized()) or "all within the limits")

"""Every flagfile in configs/ parses with its entry point's flags (names, types and validators)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Which entry point reads which flagfile (a new flagfile must be added here).
ENTRY_POINTS = {
    "demo.flags": "trainers.purify",
    "paper.flags": "trainers.purify",
    "johnson.flags": "trainers.purify",
    "pretrained.flags": "trainers.purify",
    "report.flags": "trainers.report",
    "report_paper.flags": "trainers.report",
    "gaze.flags": "trainers.gaze",
    "paired.flags": "trainers.purify",
}

PARSE = """
import sys
from absl import flags
import importlib
importlib.import_module(sys.argv[1])
flags.FLAGS(["prog", "--flagfile=" + sys.argv[2]])
print("parsed", len([f for f in flags.FLAGS if flags.FLAGS[f].present]))
"""


def test_every_flagfile_has_an_entry_point():
    assert sorted(p.name for p in (REPO / "configs").glob("*.flags")) == sorted(ENTRY_POINTS)


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_flagfile_parses(name):
    path = REPO / "configs" / name
    if not path.is_file():
        pytest.fail(f"configs/{name} is listed but missing")
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    # Paths in flagfiles are relative to the repository root, as `make` runs them; absent ../shared
    # files fail validators that check existence, so parse from the root.
    proc = subprocess.run([sys.executable, "-c", PARSE, ENTRY_POINTS[name], str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "parsed" in proc.stdout

"""Every flagfile in configs/ parses with its entry point's flags (names, types and validators),
and its values reach what the entry point runs: the trainer's config dataclass (``PurifyTrainConfig``
with its ``LossWeights``, ``ReportConfig`` with its ``TrainSettings``) field by field, and for
``trainers.purify`` the flags recorded in the saved purifier's card."""

from __future__ import annotations

import json
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
    "base.flags": "trainers.purify",  # included by demo, paired and pretrained
}
# How each entry point turns its flags into its config (None: it reads the flags directly).
CONFIG_BUILDERS = {
    "trainers.purify": "train_config_from_flags(Path(FLAGS.model_dir))",
    "trainers.report": "config_from_flags()",
    "trainers.gaze": None,
}

# Run once per entry point (its flags are process-wide); prints one JSON line per flagfile:
# {"present": {flag: value}, "fields": [[path, value]], "provenance": {flag: value} | None}.
PARSE = """
import dataclasses, importlib, json, sys
from pathlib import Path
from absl import flags
FLAGS = flags.FLAGS
module = importlib.import_module(sys.argv[1])
builder = sys.argv[2]

def fields(obj, prefix=""):
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += fields(value, prefix + f.name + ".")
        else:
            out.append([prefix + f.name, value])
    return out

for path in sys.argv[3:]:
    FLAGS.unparse_flags()
    FLAGS(["prog", "--flagfile=" + path])
    present = {name: FLAGS[name].value for name in FLAGS if FLAGS[name].present}
    cfg = eval(builder, vars(module)) if builder != "None" else None
    provenance = getattr(cfg, "provenance", None)
    print(json.dumps({"file": path, "present": present, "fields": fields(cfg) if cfg is not None else [],
                      "provenance": (provenance or {}).get("flags")}, default=str))
"""


def _normalise(value):
    """Flag and field values on one footing: lists as tuples of strings, numbers as floats."""
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict]:
    """{flagfile name: what its entry point parsed and built}, one subprocess per entry point."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    out = {}
    for module in sorted(set(ENTRY_POINTS.values())):
        names = sorted(n for n, m in ENTRY_POINTS.items() if m == module and (REPO / "configs" / n).is_file())
        # Paths in flagfiles are relative to the repository root, as `make` runs them; absent ../shared
        # files fail validators that check existence, so parse from the root.
        proc = subprocess.run([sys.executable, "-c", PARSE, module, str(CONFIG_BUILDERS[module]),
                               *(str(REPO / "configs" / n) for n in names)],
                              cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                out[Path(record["file"]).name] = record
    return out


def test_every_flagfile_has_an_entry_point():
    assert sorted(p.name for p in (REPO / "configs").glob("*.flags")) == sorted(ENTRY_POINTS)


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_flagfile_values_reach_the_config(name, parsed):
    if not (REPO / "configs" / name).is_file():
        pytest.fail(f"configs/{name} is listed but missing")
    record = parsed[name]
    present = record["present"]
    assert present, f"configs/{name} sets no flag"
    # Every flag the file sets that names a config field (at any depth) has its value there.
    by_field: dict[str, list] = {}
    for path, value in record["fields"]:
        by_field.setdefault(path.rsplit(".", 1)[-1], []).append((path, value))
    reached = 0
    for flag, value in present.items():
        for path, field_value in by_field.get(flag, []):
            assert _normalise(field_value) == _normalise(value), f"configs/{name}: --{flag}={value} but {path}={field_value}"
            reached += 1
    if CONFIG_BUILDERS[ENTRY_POINTS[name]] is not None:
        assert reached >= len(present) // 2, f"configs/{name}: only {reached} of {len(present)} flags reach the config"
    # trainers.purify records every flag in the purifier's card, including those read outside the config.
    if record["provenance"] is not None:
        for flag, value in present.items():
            assert _normalise(record["provenance"][flag]) == _normalise(value), flag

"""What the wheel installs, and that ``purify-tf purify`` needs nothing beyond it.

The wheel holds ``purify_tf`` alone (the entry points ``trainers``, ``export``, ``tools`` and
``benchmarks`` run from a checkout) and the report's plotting is an extra, so the command must
run without matplotlib and without the checkout. One test checks this in a subprocess that
cannot import them; another builds the wheel, installs it into a clean virtual environment
and runs the command there. Both start Python processes that import TensorFlow, so both are slow
tests; the quick suite checks the imports statically.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_INSTALLED = ("matplotlib", "trainers", "export", "tools", "benchmarks")
SIZES = ((36, 60), (50, 70))  # (H, W); 50 x 70 is not a multiple of 4: padded and cropped back


def _eye_folder(root: Path) -> Path:
    folder = root / "eyes"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(SIZES):
        cv2.imwrite(str(folder / f"eye{i}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return folder


def _assert_purified(out: Path) -> None:
    for i, (h, w) in enumerate(SIZES):
        image = cv2.imread(str(out / f"eye{i}.png"), cv2.IMREAD_UNCHANGED)
        assert image is not None, f"{out / f'eye{i}.png'} was not written"
        assert image.shape == (h, w, 3) and image.dtype == np.uint8


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PURIFY_PRETRAINED_DIR")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def test_library_imports_matplotlib_only_inside_functions():
    """Plotting is loaded by the report code that draws, never by importing a module."""
    found = []
    for path in sorted((REPO / "purify_tf").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:  # module level only
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(REPO)}:{node.lineno}" for n in names if n.split(".")[0] == "matplotlib"]
    assert not found, f"module-level matplotlib imports: {found}"


@pytest.mark.slow
def test_purify_command_runs_without_matplotlib_or_entry_points(tmp_path):
    """The shipped purifier on two eyes, with matplotlib and the checkout's entry points blocked."""
    folder, out = _eye_folder(tmp_path), tmp_path / "out"
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        BLOCKED = {NOT_INSTALLED!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is not installed with the wheel")
                return None

        sys.meta_path.insert(0, Block())
        from purify_tf import cli
        status = cli.main(["purify", "--input={folder}", "--output={out}", "--quiet"])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        sys.exit(status)
    """)
    env = {**_clean_env(), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_purified(out)


def _copy_checkout(dest: Path) -> Path:
    """The source tree without local build outputs, so building leaves the checkout untouched."""
    ignore = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "reports", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis")
    return Path(shutil.copytree(REPO, dest, ignore=ignore))


def _run(args: list, cwd: Path, timeout: int) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_wheel_installs_the_library_only_and_purifies(tmp_path):
    """``pip install`` the wheel into a clean venv (dependencies from the package index), then
    ``purify-tf purify`` a folder of two eyes with the shipped purifier, outside the checkout."""
    source = _copy_checkout(tmp_path / "src")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "dist", "."], source, 900)
    (wheel,) = (tmp_path / "dist").glob("purify_tf-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path, 300)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", wheel], tmp_path, 2700)

    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path, 60).strip())
    assert (site / "purify_tf" / "cli.py").is_file()
    assert (site / "purify_tf" / "pretrained" / "purifier.keras").is_file()
    assert (site / "purify_tf" / "pretrained" / "purifier.json").is_file()
    for name in NOT_INSTALLED:
        assert not (site / name).exists(), f"the wheel installed a top-level {name!r} into {site}"

    folder, out = _eye_folder(tmp_path), tmp_path / "out"
    _run([venv / "bin" / "purify-tf", "purify", f"--input={folder}", f"--output={out}", "--quiet"], tmp_path, 600)
    _assert_purified(out)

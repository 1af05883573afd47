"""The purify-tf command on a folder with broken and unusual files, and its argument errors."""

from __future__ import annotations

import subprocess
import sys

import cv2
import export_fixtures
import numpy as np
import pytest
from export_fixtures import random_images

from purify_tf import cli

keras_model_file = export_fixtures.keras_model_file


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    (src / "nested").mkdir(parents=True)
    color = random_images(1, 36, 60, seed=1)[0]
    cv2.imwrite(str(src / "gray.png"), cv2.cvtColor(color, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(src / "rgba.png"), np.dstack([color, np.full((36, 60), 200, np.uint8)]))
    cv2.imwrite(str(src / "deep16.png"), color.astype(np.uint16) * 257)
    cv2.imwrite(str(src / "nested" / "eye.jpg"), color)
    good = (src / "gray.png").read_bytes()
    (src / "corrupt.png").write_bytes(good[: len(good) // 3])
    (src / "notes.txt").write_text("not an image: ignored")
    return src


def test_folder_with_bad_files(keras_model_file, folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["purify", f"--model={keras_model_file[1]}", f"--input={folder}", f"--output={out}", "--quiet"]
    assert cli.main(args + ["--batch_size=3"]) == 1
    captured = capsys.readouterr()
    assert "corrupt.png" in captured.err and "done 4, skipped 0 (output exists), failed 1" in captured.out
    for name in ("gray.png", "rgba.png", "deep16.png", "nested/eye.jpg"):
        image = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert image.shape == (36, 60, 3) and image.dtype == np.uint8, name
    assert not (out / "corrupt.png").exists() and not (out / "notes.txt").exists()
    before = (out / "gray.png").stat().st_mtime_ns
    assert cli.main(args) == 1  # the corrupt file still fails; the rest is skipped
    assert "done 0, skipped 4 (output exists), failed 1" in capsys.readouterr().out
    assert (out / "gray.png").stat().st_mtime_ns == before
    (folder / "corrupt.png").unlink()
    assert cli.main(args + ["--overwrite", "--format=png"]) == 0
    assert "done 4, skipped 0" in capsys.readouterr().out and (out / "nested" / "eye.png").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model=/no/such/model.keras", "--input=IN", "--output=OUT"], "--model"),
        (["--model=MODEL", "--input=/no/such/dir", "--output=OUT"], "--input"),
        (["--model=MODEL", "--input=IN", "--output=OUT", "--batch_size=0"], "--batch_size"),
        (["--model=MODEL", "--input=IN", "--output=OUT", "--format=gif"], "--format"),
        (["--input=IN", "--output=OUT"], "--model"),
        (["--model=MODEL", "--input=IN", "--output=OUT", "--precision=float64"], "--precision"),
    ],
)
def test_bad_arguments(keras_model_file, folder, tmp_path, capsys, extra, message):
    args = [a.replace("MODEL", str(keras_model_file[1])).replace("IN", str(folder)).replace("OUT", str(tmp_path / "o")) for a in extra]
    with pytest.raises(SystemExit) as info:
        cli.main(["purify", *args])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "purify_tf.cli", "purify", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for option in ("--model", "--input", "--output", "--batch_size", "--overwrite", "--format"):
        assert option in result.stdout

"""The purify-tf command: a folder with broken and unusual files, argument errors, exit status,
quiet start-up, progress in logs, the pretrained default model and ``info``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from model_helpers import random_images

from purify_tf import cli


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
    assert "done 4, skipped 0 (output exists), failed 1" in captured.out and "images/s" in captured.out
    # The closing line names what --runtime=auto ran (OpenVINO on AMX where installed, else TensorFlow).
    from purify_tf.inference.runtimes import auto_runtime

    assert f"{auto_runtime()} in float32" in captured.out or f"{auto_runtime()} in bfloat16" in captured.out
    # The bad file is reported exactly once, on one line that names it and says why.
    assert captured.err.count("corrupt.png") == 1
    assert "purify-tf: failed: " in captured.err and "cannot decode image" in captured.err
    for name in ("gray.png", "rgba.png", "deep16.png", "nested/eye.jpg"):
        image = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert image.shape == (36, 60, 3) and image.dtype == np.uint8, name
    assert not (out / "corrupt.png").exists() and not (out / "notes.txt").exists()
    before = (out / "gray.png").stat().st_mtime_ns
    assert cli.main(args) == 1  # the corrupt file still fails; the rest is skipped
    assert "done 0, skipped 4 (output exists), failed 1" in capsys.readouterr().out
    assert (out / "gray.png").stat().st_mtime_ns == before
    (folder / "corrupt.png").unlink()
    assert cli.main(args + ["--overwrite", "--format=png", "--jit=off"]) == 0
    assert "done 4, skipped 0" in capsys.readouterr().out and (out / "nested" / "eye.png").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model=/no/such/model.keras", "--input=IN", "--output=OUT"], "--model"),
        (["--model=MODEL", "--input=/no/such/dir", "--output=OUT"], "--input"),
        (["--model=MODEL", "--input=IN", "--output=OUT", "--batch_size=0"], "--batch_size"),
        (["--model=MODEL", "--input=IN", "--output=OUT", "--format=gif"], "--format"),
        (["--model=MODEL", "--output=OUT"], "--input"),
        (["--model=MODEL", "--input=IN", "--output=OUT", "--precision=float64"], "--precision"),
        (["--model=MODEL", "--input=IN", "--output=OUT", "--jit=always"], "--jit"),
    ],
)
def test_bad_arguments(keras_model_file, folder, tmp_path, capsys, extra, message):
    args = [a.replace("MODEL", str(keras_model_file[1])).replace("IN", str(folder)).replace("OUT", str(tmp_path / "o")) for a in extra]
    with pytest.raises(SystemExit) as info:
        cli.main(["purify", *args])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_openvino_run_says_its_precision(keras_model_file, tmp_path, capsys, monkeypatch):
    pytest.importorskip("openvino", reason="OpenVINO is in the openvino/peers extras")
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "eye.png"), random_images(1, 36, 60, seed=2)[0])
    monkeypatch.setenv("PURIFY_NATIVE_BF16", "1")
    args = ["purify", f"--model={keras_model_file[1]}", f"--input={src}", f"--output={tmp_path / 'out'}",
            "--quiet", "--runtime=openvino"]
    assert cli.main(args) == 0
    assert "openvino in bfloat16" in capsys.readouterr().out
    monkeypatch.setenv("PURIFY_NATIVE_BF16", "0")
    assert cli.main(args + ["--overwrite"]) == 0
    assert "openvino in float32" in capsys.readouterr().out


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "purify_tf.cli", "purify", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for option in ("--model", "--input", "--output", "--batch_size", "--jit", "--overwrite", "--format", "--verbose"):
        assert option in result.stdout
    assert "examples:" in result.stdout and "purify-tf info" in result.stdout and "exit status" in result.stdout


def _run_cli(args, env_extra, **kwargs):
    env = {**os.environ, **env_extra}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command itself must silence TensorFlow
    return subprocess.run([sys.executable, "-m", "purify_tf.cli", *args], capture_output=True, text=True,
                          timeout=180, env=env, **kwargs)


@pytest.mark.slow
def test_piped_run_has_no_tensorflow_noise_and_plain_progress(pretrained_dir, folder, tmp_path):
    """Default model, stderr not a terminal: only failure and progress lines, no ANSI or redraws."""
    result = _run_cli(["purify", f"--input={folder}", f"--output={tmp_path / 'out'}"],
                      {"PURIFY_PRETRAINED_DIR": str(pretrained_dir)})
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("purify-tf: ") for line in lines), result.stderr
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert sum("failed: " in line for line in lines) == 1
    assert any("5/5 files (100%)" in line for line in lines)
    assert "done 4, skipped 0 (output exists), failed 1" in result.stdout
    assert (tmp_path / "out" / "nested" / "eye.jpg").is_file()


def test_missing_or_damaged_pretrained_model(pretrained_dir, folder, tmp_path, capsys):
    args = ["purify", f"--input={folder}", f"--output={tmp_path / 'out'}", "--quiet"]
    model = pretrained_dir / "purifier.keras"
    model.write_bytes(model.read_bytes()[:-100])  # truncated
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert str(model) in err and "damaged" in err and "make pretrained" in err
    from purify_tf.model_io import write_model_metadata

    write_model_metadata(model)  # sealed, but not a Keras archive any more
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert str(model) in err and "is damaged" in err and "make pretrained" in err
    model.unlink()
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "not installed" in err and "--model" in err and "make pretrained" in err
    assert not (tmp_path / "out").exists()


def test_info_describes_a_model(pretrained_dir, keras_model_file, capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for text in ("pretrained", "sha256:         ok", "parameters:", "training size:  36x60",
                 '"objective": "paper"', '"seed": 7', "gaze_error_deg"):
        assert text in out, text
    assert cli.main(["info", f"--model={keras_model_file[1]}", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["sha256_status"] == "not recorded" and facts["parameters"] == keras_model_file[0].count_params()
    model = pretrained_dir / "purifier.keras"
    model.write_bytes(model.read_bytes()[:-100])
    assert cli.main(["info"]) == 1
    assert "MISMATCH" in capsys.readouterr().out
    model.unlink()
    assert cli.main(["info"]) == 1
    assert "not installed" in capsys.readouterr().err


def test_native_stderr_is_hidden_unless_something_fails(capfd):
    with cli._stderr_swallowed():
        os.write(2, b"I0000 cudart_stub.cc: noise\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(ImportError), cli._stderr_swallowed():
        os.write(2, b"libfoo.so: cannot open shared object file\n")
        raise ImportError("tensorflow")
    assert "libfoo.so" in capfd.readouterr().err  # replayed: the reason an import failed


def test_verbose_leaves_tensorflow_logging_alone(monkeypatch):
    for key in cli._QUIET_ENV:
        monkeypatch.delenv(key, raising=False)
    cli.start_tensorflow(verbose=True)
    assert not any(key in os.environ for key in cli._QUIET_ENV)
    cli.start_tensorflow(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_info_on_a_saved_model(saved_model_dir, keras_model_file, capsys):
    assert cli.main(["info", f"--model={saved_model_dir.parent}", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["usable"] and facts["parameters"] >= keras_model_file[0].count_params()
    assert facts["card"].endswith("purify_tf.json") and "transformer" in facts["metadata"]


def test_info_summarises_the_cards_scores():
    """`purify-tf info` reads the card's scores as lines, not as one JSON line."""
    from purify_tf.model_io import scores_summary

    vs = {"delta_deg": -0.5, "delta_lo": -0.7, "delta_hi": -0.3, "gap_share": 0.4}
    scores = {
        "real_gaze": {"estimators": ["kNN"], "n_test": 10, "eval_subjects": ["p05"], "rows": [
            {"row": "raw", "kind": "raw", "mean_error_deg": {"kNN": 9.0}, "vs_raw": {}},
            {"row": "purified", "kind": "candidate", "mean_error_deg": {"kNN": 8.5}, "vs_raw": {"kNN": vs}}]},
        "gap_share": {"kNN": {"gap_share": 0.78}},
        "pupil_shift_px_real": {"mean": 1.8, "median": 0.73, "n": 144},
    }
    lines = scores_summary(scores)
    assert lines == ["real eyes (10 of p05), error raw -> purified, degrees: kNN 9.00 -> 8.50 (-0.50 [-0.70, -0.30])",
                     "renderer, share of the raw -> twin gap closed: kNN 78%",
                     "pupil shift on 144 real crops: 1.80 px (median 0.73)"]
    assert scores_summary({}) == []

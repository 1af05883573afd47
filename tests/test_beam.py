"""Dataset-scale purification on Apache Beam's local runner: images and TFRecords, good and bad inputs.

Skips when the ``beam`` extra is not installed.
"""

from __future__ import annotations

import glob

import cv2
import numpy as np
import pytest

pytest.importorskip("apache_beam")

from purify_tf.data.renderer import render_eyes  # noqa: E402
from purify_tf.errors import ConfigError  # noqa: E402
from purify_tf.inference import beam_pipeline  # noqa: E402

# The in-process runner that DirectRunner uses for batch pipelines; naming it avoids DirectRunner's
# attempt to download the Prism runner binary (tests never touch the network).
LOCAL = ["--runner=FnApiRunner"]


@pytest.fixture
def eye_folder(tmp_path):
    src = tmp_path / "eyes"
    (src / "left").mkdir(parents=True)
    eyes = render_eyes(5, 36, 60, "real", seed=4)["image"]
    for i, eye in enumerate(eyes):
        cv2.imwrite(str(src / ("left" if i % 2 else "") / f"eye{i}.png"), eye[:, :, ::-1])
    (src / "truncated.png").write_bytes((src / "eye0.png").read_bytes()[:40])
    (src / "empty.png").write_bytes(b"")
    cv2.imwrite(str(src / "left" / "tiny.png"), eyes[0][:2, :2])  # decodes, but too small to purify
    return src, eyes


def test_image_files_good_and_bad(pretrained_dir, eye_folder, tmp_path):
    src, eyes = eye_folder
    out = tmp_path / "out"
    job = beam_pipeline.BeamJob(output=str(out), input_glob=f"{src}/**", batch_size=2, image_format="png")
    counts = beam_pipeline.run(job, LOCAL)  # the pretrained purifier (PURIFY_PRETRAINED_DIR)
    assert counts["inputs"] == 8 and counts["purified"] == 5 and counts["written"] == 5
    assert counts["bad_inputs"] == 3
    for i in range(5):
        image = cv2.imread(str(out / ("left" if i % 2 else "") / f"eye{i}.png"))
        assert image is not None and image.shape == (36, 60, 3)
    failed = (out / "failed.tsv").read_text().splitlines()
    assert failed[0] == "input\treason" and len(failed) == 4
    reasons = {line.split("\t")[0].rsplit("/", 1)[-1]: line.split("\t")[1] for line in failed[1:]}
    assert set(reasons) == {"truncated.png", "empty.png", "tiny.png"}
    assert reasons["tiny.png"].startswith("cannot purify an image of shape (2, 2, 3)")
    assert all(line.split("\t")[1] for line in failed[1:])  # every bad file has a reason
    assert not glob.glob(str(out / "**" / ".*tmp*"), recursive=True)
    again = beam_pipeline.run(job, LOCAL)  # a rerun skips what exists
    assert again["skipped_existing"] == 5 and again.get("purified", 0) == 0


def test_tfrecords_keep_their_labels(keras_model_file, tmp_path):
    import tensorflow as tf

    from purify_tf.data.tfrecord import tfrecord_dataset
    from purify_tf.data.writers import serialize_example

    batch = render_eyes(4, 36, 60, "real", seed=5)
    path = tmp_path / "in" / "eyes.tfrecord"
    path.parent.mkdir()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(4):
            writer.write(serialize_example(batch, i))
        writer.write(b"not an example")
        bad = tf.train.Example(features=tf.train.Features(feature={
            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\x89PNG broken"]))}))
        writer.write(bad.SerializeToString())
    job = beam_pipeline.BeamJob(output=str(tmp_path / "out"), tfrecord_glob=str(path),
                                model=str(keras_model_file[1]), num_shards=1)
    counts = beam_pipeline.run(job, LOCAL)
    assert counts["purified"] == 4 and counts["bad_inputs"] == 2
    assert len((tmp_path / "out" / "failed.tsv").read_text().splitlines()) == 3
    records = list(tfrecord_dataset(tmp_path / "out").as_numpy_iterator())
    assert len(records) == 4
    by_gaze = {tuple(np.round(r["gaze"], 5)): r for r in records}
    for i in range(4):
        record = by_gaze[tuple(np.round(batch["gaze"][i], 5))]  # labels carried through
        np.testing.assert_array_equal(record["mask"], batch["mask"][i])
        np.testing.assert_allclose(record["pupil_center"], batch["pupil_center"][i])
        assert record["image"].shape == (36, 60, 3) and not np.array_equal(record["image"], batch["image"][i])


def test_job_checks_its_arguments(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of --input"):
        beam_pipeline.BeamJob(output=str(tmp_path))
    with pytest.raises(ConfigError, match="--batch_size"):
        beam_pipeline.BeamJob(output=str(tmp_path), input_glob="*.png", batch_size=0)
    with pytest.raises(ConfigError, match="--format"):
        beam_pipeline.BeamJob(output=str(tmp_path), input_glob="*.png", image_format="gif")
    assert beam_pipeline.glob_root("data/eyes/**/*.png") == "data/eyes"
    assert beam_pipeline.glob_root("gs://b/eyes/*.jpg") == "gs://b/eyes"
    assert beam_pipeline.glob_root("*.png") == ""


def _run_entry_point(args, cwd):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "trainers.purify_beam", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=240, env=env)


@pytest.mark.slow
def test_entry_point_passes_runner_options_through(keras_model_file, eye_folder, tmp_path):
    src, _ = eye_folder
    result = _run_entry_point(
        ["--input=*.png", "--output=../out", f"--model={keras_model_file[1]}", "--batch_size=4", *LOCAL], cwd=src
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "inputs 5, purified 3, written 3, skipped (output exists) 0, bad inputs 2" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["eye0.png", "eye2.png", "eye4.png"]
    bad = _run_entry_point(["--output=out"], cwd=tmp_path)
    assert bad.returncode != 0 and "exactly one of --input" in bad.stderr
    missing = _run_entry_point(["--input=*.png", "--output=out", "--model=none.keras"], cwd=tmp_path)
    assert missing.returncode == 2 and "--model:" in missing.stderr and "none.keras" in missing.stderr

"""End to end: ``purify-tf purify`` on a folder of eye crops against the model alone.

    python -m benchmarks.bench_cli [--quick] [--cli_images=3000]

Writes ``--cli_images`` rendered 36x60 real-domain crops as PNG files, then times, in one process
and alternating: the model alone (``Purifier.purify`` on in-memory batches, no files) and
``purify_path`` over the folder (decode, purify, encode, atomic writes: what the CLI runs, with the
same ``Purifier``). ``cli_over_model`` is the share of the model's batched throughput that the
file job reaches.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from absl import app, flags

from benchmarks import common

flags.DEFINE_integer("cli_images", 3000, "Eye crops in the folder purified end to end.", lower_bound=1)

FLAGS = flags.FLAGS
EYE_SIZE = (36, 60)


def _write_crops(folder: Path, n: int) -> np.ndarray:
    from purify_tf.data.renderer import render_eyes

    images = np.asarray(render_eyes(n, *EYE_SIZE, domain="real", seed=11)["image"])
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"eye_{i:05d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return images


def run(quick: bool = False) -> dict[str, Any]:
    from purify_tf.inference.files import purify_path
    from purify_tf.inference.purifier import Purifier
    from purify_tf.pretrained import load_pretrained

    n = 64 if quick else FLAGS.cli_images
    purifier = Purifier(load_pretrained())
    rounds = 1 if quick else 2
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        images = _write_crops(src, n)
        purifier.purify(images[:64])  # trace once outside the timings
        model_s, cli_s = [], []
        for r in range(rounds):
            start = time.perf_counter()
            purifier.purify(images)
            model_s.append(time.perf_counter() - start)
            dst = Path(tmp) / f"out{r}"
            start = time.perf_counter()
            summary = purify_path(purifier, src, dst, verbose=False)
            cli_s.append(time.perf_counter() - start)
            if summary.done != n:
                raise RuntimeError(f"purified {summary.done} of {n} files: {summary.line()}")
            shutil.rmtree(dst)
    model_rate, cli_rate = n / min(model_s), n / min(cli_s)
    return {
        "images": n,
        "size": common.size_key(*EYE_SIZE),
        "precision": purifier.precision,
        "model_images_per_s": model_rate,
        "cli_images_per_s": cli_rate,
        "cli_over_model": cli_rate / model_rate,
    }


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        ("cli", f"{results['images']} crops {results['size']}", f"model {common.fmt(results['model_images_per_s'])}/s, "
         f"folder {common.fmt(results['cli_images_per_s'])}/s = {100 * results['cli_over_model']:.0f}%"),
    ]


def main(argv: list[str]) -> None:
    del argv
    common.run_alone("cli", run, rows, "purify-tf purify on a folder vs the model alone")


if __name__ == "__main__":
    app.run(main)

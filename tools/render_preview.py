r"""Grid of rendered eyes (both domains, masks overlaid) beside real MPIIGaze and SynthesEyes
crops (when present), to judge the renderer's realism by eye:

    python -m tools.render_preview --out docs/renders_grid.png
"""

from __future__ import annotations

from pathlib import Path

import cv2
from absl import app, flags, logging

from purify_tf.data.preview import make_grid

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "docs/renders_grid.png", "Where to write the PNG grid.")
flags.DEFINE_string("shared", "../shared", "The shared folder with data/mpiigaze-55x35 and data/syntheseyes-120x80.")
flags.DEFINE_integer("seed", 0, "Renderer seed.")
flags.DEFINE_integer("count", 8, "Images per row.")


def main(argv: list[str]) -> None:
    del argv
    grid = make_grid(Path(FLAGS.shared), FLAGS.count, FLAGS.seed)
    out = Path(FLAGS.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), grid[:, :, ::-1])
    logging.info("wrote %s", out)


if __name__ == "__main__":
    app.run(main)

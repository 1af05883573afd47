"""TensorFlow's oneDNN CPU kernels: what ``purify-tf`` asks for, set before TensorFlow is imported.

TensorFlow turns oneDNN on by itself only on CPUs with AVX512_VNNI, AVX512_BF16 or AMX. On an AVX2
CPU it runs batches of eye crops faster than TF's Eigen kernels, but a single large image slower
in the plain graph: its convolutions barely use a second core at batch 1 (docs/BENCHMARKS.md,
``peers``). ``Purifier(jit="auto")`` therefore sends large repeated sizes through XLA,
whose own kernels do not have that problem, and keeps the graph for batches of small images.
The switch (``TF_ENABLE_ONEDNN_OPTS``) is read once per process, so it must be set before
TensorFlow is imported: the command line does it after parsing its arguments.
"""

from __future__ import annotations

import os
import sys

ENV_VAR = "TF_ENABLE_ONEDNN_OPTS"
MODES = ("auto", "on", "off")


def request_onednn(mode: str) -> bool:
    """Set oneDNN for this process: ``on``, ``off``, or ``auto`` (on, unless the environment
    already says). Returns False when TensorFlow was imported first and the request cannot apply."""
    if mode not in MODES:
        raise ValueError(f"oneDNN mode must be one of {MODES}, got {mode!r}")
    if "tensorflow" in sys.modules:
        return False
    if mode == "auto":
        os.environ.setdefault(ENV_VAR, "1")
    else:
        os.environ[ENV_VAR] = "1" if mode == "on" else "0"
    return True

"""What the CPU computes natively, read once where the automatic choices need it.

Both the inference path (``precision="auto"``, OpenVINO's precision) and training (the mixed
bfloat16 default) ask the same question, so it lives below both.
"""

from __future__ import annotations

import os
from pathlib import Path

from purify_tf.errors import ConfigError

_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# Overrides the CPU-feature detection of ``native_bf16`` (1 / 0 / auto).
ENV_NATIVE_BF16 = "PURIFY_NATIVE_BF16"


def native_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (AVX512_BF16 or AMX).

    ``$PURIFY_NATIVE_BF16`` (``1``/``0``) overrides the detection, so that every outcome of the
    automatic choices can be run (and tested) on any CPU; unset or ``auto``: read ``/proc/cpuinfo``.
    """
    override = os.environ.get(ENV_NATIVE_BF16, "auto").strip().lower()
    if override in ("1", "true", "yes", "on"):
        return True
    if override in ("0", "false", "no", "off"):
        return False
    if override != "auto":
        raise ConfigError(f"${ENV_NATIVE_BF16} must be 1, 0 or auto, got {override!r}")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return any(flag in line.split() for flag in _BF16_FLAGS)
    return False

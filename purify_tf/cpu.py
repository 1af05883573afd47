"""What the CPU computes natively, read once where the automatic choices need it.

Both the inference path (``precision="auto"``, OpenVINO's precision, ``runtime="auto"``) and
training (the mixed bfloat16 default) ask the same question, so it lives below both.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from purify_tf.errors import ConfigError

_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# Overrides the CPU-feature detection of ``native_bf16`` (1 / 0 / auto).
ENV_NATIVE_BF16 = "PURIFY_NATIVE_BF16"
# Overrides the CPU class of ``cpu_class`` (one of CPU_CLASSES, or auto).
ENV_CPU_CLASS = "PURIFY_CPU_CLASS"
# The classes the measured speed rules are keyed by, fastest matrix units first: AMX tiles (bf16 and
# int8), AVX-512 with bf16 dot products, AVX-512, AVX2 with FMA, and anything older.
CPU_CLASSES = ("amx", "avx512_bf16", "avx512", "avx2", "baseline")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The feature flags of ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[-1].split())
    return frozenset()


def cpu_class() -> str:
    """Which of ``CPU_CLASSES`` this CPU belongs to; ``$PURIFY_CPU_CLASS`` overrides the detection
    (so that every branch of a rule keyed by it can be run on any CPU)."""
    override = os.environ.get(ENV_CPU_CLASS, "auto").strip().lower()
    if override != "auto":
        if override not in CPU_CLASSES:
            raise ConfigError(f"${ENV_CPU_CLASS} must be auto or one of {CPU_CLASSES}, got {override!r}")
        return override
    flags = cpu_flags()
    if "amx_bf16" in flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags and "fma" in flags:
        return "avx2"
    return "baseline"


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
    return any(flag in cpu_flags() for flag in _BF16_FLAGS)

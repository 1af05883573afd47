"""request_onednn: the oneDNN switch is set before TensorFlow loads, and the environment wins in auto."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from purify_tf.inference.onednn import ENV_VAR, request_onednn

_PROBE = (
    "import os, sys; from purify_tf.inference.onednn import request_onednn; "
    "ok = request_onednn(sys.argv[1]); print(ok, os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"
)


def _probe(mode: str, preset: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if preset is not None:
        env[ENV_VAR] = preset
    result = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    "mode, preset, expected",
    [("auto", None, "True 1"), ("auto", "0", "True 0"), ("on", "0", "True 1"), ("off", None, "True 0")],
)
def test_request_before_tensorflow(mode, preset, expected):
    assert _probe(mode, preset) == expected


def test_request_after_tensorflow_is_refused():
    import tensorflow  # noqa: F401

    before = os.environ.get(ENV_VAR)
    assert request_onednn("on") is False
    assert os.environ.get(ENV_VAR) == before
    with pytest.raises(ValueError, match="oneDNN mode"):
        request_onednn("fast")


@pytest.mark.parametrize("preset, expected", [(None, "1"), ("0", "0")])
def test_trainers_ask_for_onednn_before_tensorflow(preset, expected):
    """Every trainer imports trainers.common first: oneDNN is on for training on AVX2 CPUs too,
    unless the environment says otherwise."""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if preset is not None:
        env[ENV_VAR] = preset
    code = f"import os, sys; import trainers.common; print('tensorflow' in sys.modules, os.environ.get('{ENV_VAR}'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"False {expected}"

"""Shared test fixtures: quiet TensorFlow, fixed seeds, and the optional ../shared folder."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests never touch the network or the user's weights: the loss network is random unless a
# test points at a file explicitly.
os.environ.pop("PURIFY_VGG_WEIGHTS", None)
os.environ["PURIFY_OFFLINE"] = "1"  # never download loss-network weights in tests

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _seed_everything():
    np.random.seed(0)
    try:
        import keras

        keras.utils.set_random_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture
def shared_dir() -> Path:
    """../shared when present; tests that need it skip with a reason otherwise."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is not present beside the checkout")
    return SHARED_DIR

"""Soak: many kill/resume cycles at random moments; every round must end like a straight run.

Each round trains the tiny configuration of ``test_faults`` in a fresh directory and kills it
again and again, after a random delay (SIGKILL from outside; the delay window widens after a kill
that saved nothing, so every round ends) or inside a checkpoint write (the
fault wrapper), rerunning the same command each time. After every kill the last complete
checkpoint must be no older than before (no progress lost) and ``purifier.keras`` must be absent
or complete. Each round must end at the final step with the straight run's weights.

Runs for ``$SOAK_SECONDS`` (default 480) and prints the number of cycles survived:
``pytest -m slow tests/test_soak.py -s``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import zipfile

import pytest
from test_faults import (
    RUN_TIMEOUT,
    TRAIN_STEPS,
    assert_finished,
    assert_same_weights,
    final_weights,
    finish,
    latest_checkpoint,
    start_trainer,
)

MAX_CYCLES_PER_ROUND = 40


def _purifier_is_absent_or_complete(model_dir) -> bool:
    path = model_dir / "purifier.keras"
    if not path.exists():
        return True
    with zipfile.ZipFile(path) as archive:
        return archive.testzip() is None and "model.weights.h5" in archive.namelist()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_random_kill_resume_soak(tmp_path):
    budget = float(os.environ.get("SOAK_SECONDS", "480"))
    rng = random.Random(os.environ.get("SOAK_SEED", "2024"))

    t0 = time.monotonic()
    straight = tmp_path / "straight"
    rc, log = finish(start_trainer(straight))
    assert rc == 0, log[-3000:]
    run_seconds = time.monotonic() - t0
    reference = final_weights(straight)

    deadline = time.monotonic() + budget
    kills = rounds = cycles = 0
    kinds: dict[str, int] = {}
    while time.monotonic() < deadline or rounds == 0:
        model_dir = tmp_path / f"round{rounds}"
        # On a loaded machine start-up alone can outlast a straight run: widen the delay window
        # after every kill that saved nothing new, so that each round ends.
        stretch = 1.0
        for _ in range(MAX_CYCLES_PER_ROUND):
            before = latest_checkpoint(model_dir) or 0
            cycles += 1
            roll = rng.random()
            if roll < 0.25 and before + 2 <= TRAIN_STEPS:
                kind = rng.choice(["before_index", "corrupt_latest"])
                step = rng.randrange(before + 2, TRAIN_STEPS + 1, 2)
                proc = start_trainer(model_dir, fault=(kind, step))
            else:
                kind, proc = "sigkill", start_trainer(model_dir)
                delay = rng.uniform(0.5, 0.9 * run_seconds * stretch)
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:  # still running: kill it now
                    proc.send_signal(signal.SIGKILL)
            rc, log = finish(proc, RUN_TIMEOUT)
            after = latest_checkpoint(model_dir) or 0
            assert after >= before, f"cycle {cycles}: checkpoint went back from {before} to {after}"
            assert _purifier_is_absent_or_complete(model_dir), f"cycle {cycles}: half-written model"
            if rc == 0:
                break
            stretch = 1.0 if after > before else stretch * 1.3
            assert rc == -signal.SIGKILL, log[-3000:]
            kills += 1
            kinds[kind] = kinds.get(kind, 0) + 1
        else:
            pytest.fail(f"round {rounds} did not finish in {MAX_CYCLES_PER_ROUND} cycles")
        assert_finished(model_dir)
        assert_same_weights(final_weights(model_dir), reference)
        rounds += 1
    print(
        f"\nSOAK: {kills} kills survived in {cycles} cycles over {rounds} rounds "
        f"(kinds: {kinds}); every round reached step {TRAIN_STEPS} with the straight run's weights"
    )

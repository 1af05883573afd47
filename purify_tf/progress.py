"""The one rule for progress output, shared by the CLI and the training loops.

On a terminal a redrawn bar is what a person wants; in a log (CI, ``nohup``, ``> log``, a pipe)
redraws turn into carriage returns and ANSI codes. So: a tqdm bar when the stream is a terminal,
else one plain line every ``interval_s`` seconds (and at the first and last step). Two users:
:class:`StepProgress` counts training steps (the trainers), :class:`Reporter` counts purified
files and prints one line per failed input (``purify-tf purify``, ``inference.files``). This
module sits below ``inference`` and ``training`` so that both can use it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

DEFAULT_INTERVAL_S = 10.0


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (False for files, pipes, closed or odd streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def bar_size(stream: Any) -> dict[str, Any]:
    """tqdm size options: follow the terminal, or a fixed 100x24 when it reports no size (a
    pseudo-terminal of size 0x0, as under ``script`` or some CI runners, where tqdm would hide
    the bar entirely)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        size = os.terminal_size((0, 0))
    if size.columns > 0 and size.lines > 0:
        return {"dynamic_ncols": True}
    return {"ncols": 100, "nrows": 24}


def format_terms(terms: Mapping[str, float]) -> str:
    """``total=1.23 content=0.456``: loss terms as a log line shows them."""
    return " ".join(f"{k}={v:.4g}" for k, v in terms.items())


class StepProgress:
    """Training progress on ``stream`` (default stderr): a tqdm bar on a terminal, else plain lines
    ``<prefix>step 120/600  total=1.23 ...  3.4 steps/s`` at the first step, every ``interval_s``
    seconds and at the last step. ``enabled=False`` prints nothing (the report's rows off a
    terminal); ``bar`` forces the bar on or off; ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        total: int,
        start: int = 0,
        enabled: bool = True,
        prefix: str = "",
        stream: TextIO | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        bar: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.step, self.enabled, self.prefix = total, start, enabled, prefix
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s, self.clock = interval_s, clock
        self.use_bar = is_terminal(self.stream) if bar is None else bar
        self._last_time, self._last_step, self._lines = clock(), start, 0
        self._bar: Any = None
        if enabled and self.use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=start, unit=" steps", desc=prefix.strip() or None,
                             file=self.stream, leave=True, **bar_size(self.stream))

    def update(self, step: int, terms: Mapping[str, float] | None = None) -> None:
        """Training reached ``step``; ``terms`` are the loss values shown beside it."""
        previous, self.step = self.step, step
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(step - previous)
            if terms:
                self._bar.set_postfix_str(format_terms(terms), refresh=False)
            return
        now = self.clock()
        if self._lines and step < self.total and now - self._last_time < self.interval_s:
            return
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_step, self._lines = now, step, self._lines + 1
        shown = f"  {format_terms(terms)}" if terms else ""
        print(f"{self.prefix}step {step}/{self.total}{shown}  {rate:.1f} steps/s", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reporter:
    """Counts processed files, shows progress on ``stream`` (default stderr) and reports failures.

    ``progress=False`` keeps only the failure lines (``--quiet``); ``bar`` forces the tqdm bar on or
    off (default: on exactly when ``stream`` is a terminal); ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        progress: bool = True,
        interval_s: float = DEFAULT_INTERVAL_S,
        bar: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        prefix: str = "purify-tf",
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.progress = progress
        self.interval_s = interval_s
        self.use_bar = is_terminal(self.stream) if bar is None else bar
        self.clock = clock
        self.prefix = prefix
        self.total: int | None = None
        self.unit = "files"
        self.count = self.frames = self.failed = 0
        self.started_at = self._last_line = clock()
        self._bar: Any = None

    @property
    def started(self) -> bool:
        return self.total is not None or self._bar is not None

    def start(self, total: int | None, unit: str = "files") -> None:
        """Begin counting ``total`` items (None when unknown)."""
        self.total, self.unit = total, unit
        self.started_at = self._last_line = self.clock()
        if self.progress and self.use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=f" {unit}", file=self.stream, leave=True, **bar_size(self.stream))

    def advance(self, n: int = 1) -> None:
        """``n`` more items are done (purified, skipped or failed)."""
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
        self._maybe_line()

    def add_frames(self, n: int) -> None:
        """``n`` more video frames are written (shown while a long video runs)."""
        self.frames += n
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.frames} frames", refresh=True)
        self._maybe_line()

    def fail(self, path: Any, reason: str) -> None:
        """One line for a failed input, printed now."""
        self.failed += 1
        line = f"{self.prefix}: failed: {path}: {reason}"
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def status_line(self) -> str:
        """``12/40 files (30%), 3 failed, 5.2 files/s``: what a periodic log line says."""
        elapsed = max(self.clock() - self.started_at, 1e-9)
        done = f"{self.count}/{self.total}" if self.total else f"{self.count}"
        pct = f" ({100 * self.count // self.total}%)" if self.total else ""
        frames = f", {self.frames} frames" if self.frames else ""
        return (f"{self.prefix}: {done} {self.unit}{pct}{frames}, {self.failed} failed, "
                f"{self.count / elapsed:.1f} {self.unit}/s")

    def _maybe_line(self) -> None:
        if not self.progress or self.use_bar:
            return
        now = self.clock()
        finished = self.total is not None and self.count >= self.total
        if now - self._last_line >= self.interval_s or (finished and self.count):
            self._last_line = now
            print(self.status_line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

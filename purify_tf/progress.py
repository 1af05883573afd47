"""The one rule for progress output, shared by the CLI and the training loops.

On a terminal a redrawn bar is what a person wants; in a log (CI, ``nohup``, ``> log``, a pipe)
redraws turn into carriage returns and ANSI codes. So: a tqdm bar when the stream is a terminal,
else one plain line every ``interval_s`` seconds (and at the first and last step). This module sits
below ``inference`` and ``training`` so that both can use it.
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
    seconds and at the last step. ``enabled=False`` prints nothing (``--progress=false``); ``bar``
    forces the bar on or off; ``clock`` is injectable for tests.
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

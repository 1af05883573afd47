"""Progress reporting: plain periodic lines in logs, a tqdm bar on terminals, one line per failure."""

from __future__ import annotations

import io

from purify_tf.progress import Reporter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_gets_periodic_plain_lines():
    stream, clock = io.StringIO(), FakeClock()
    reporter = Reporter(stream, interval_s=10.0, clock=clock)
    assert not reporter.use_bar  # a StringIO is not a terminal
    reporter.start(100)
    for _ in range(30):  # 30 files in 3 s: no line yet
        clock.now += 0.1
        reporter.advance()
    assert stream.getvalue() == ""
    clock.now = 12.0
    reporter.advance()
    reporter.fail("eyes/bad.png", "cannot decode image")
    clock.now = 13.0
    reporter.advance(69)  # finished: a last line whatever the interval
    lines = stream.getvalue().splitlines()
    assert lines == [
        "purify-tf: 31/100 files (31%), 0 failed, 2.6 files/s",
        "purify-tf: failed: eyes/bad.png: cannot decode image",
        "purify-tf: 100/100 files (100%), 1 failed, 7.7 files/s",
    ]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_quiet_keeps_only_failures():
    stream = io.StringIO()
    reporter = Reporter(stream, progress=False, interval_s=0.0)
    reporter.start(2)
    reporter.advance()
    reporter.fail("a.png", "broken")
    reporter.advance()
    assert stream.getvalue() == "purify-tf: failed: a.png: broken\n"


def test_terminal_gets_a_bar_and_failures_above_it():
    stream = io.StringIO()
    reporter = Reporter(stream, bar=True)
    reporter.start(4)
    reporter.advance(2)
    reporter.fail("b.png", "broken")
    reporter.add_frames(10)
    reporter.advance(2)
    reporter.close()
    text = stream.getvalue()
    assert "\r" in text and "4/4" in text and "10 frames" in text  # a redrawn tqdm bar
    assert text.count("purify-tf: failed: b.png: broken") == 1


def test_library_calls_report_to_stderr_when_verbose(tmp_path, capsys):
    """purify_path without a reporter: one progress line and one failure line, nothing twice."""
    import cv2
    import numpy as np

    from purify_tf.inference.files import purify_path

    class Identity:
        def purify(self, images):
            return [np.asarray(im) for im in images]

    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (src / "b.png").write_bytes(b"broken")
    summary = purify_path(Identity(), src, tmp_path / "out")
    assert summary.done == 1 and summary.failed == 1 and summary.images == 1
    err = capsys.readouterr().err.splitlines()
    assert sum(line.startswith("purify-tf: 2/2 files (100%), 1 failed, ") for line in err) == 1
    assert sum("failed: " in line and "b.png" in line for line in err) == 1


def test_bar_has_a_size_where_the_terminal_reports_none():
    from purify_tf.progress import bar_size

    assert bar_size(io.StringIO()) == {"ncols": 100, "nrows": 24}  # tqdm would hide a 0-row bar


def test_training_steps_in_a_log_are_plain_lines():
    """First step, then one line per interval, and the last step: no redraws, no ANSI codes."""
    from purify_tf.progress import StepProgress

    stream, clock = io.StringIO(), FakeClock()
    progress = StepProgress(600, start=100, prefix="fcn ", stream=stream, interval_s=10.0, clock=clock)
    assert not progress.use_bar
    for step in range(101, 601):
        clock.now += 0.125  # 8 steps/s: a line every 80 steps
        progress.update(step, {"loss": 1.0 / step})
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "fcn step 101/600  loss=0.009901  8.0 steps/s"
    assert [int(line.split()[2].split("/")[0]) for line in lines] == [101, 181, 261, 341, 421, 501, 581, 600]
    assert not {"\x1b", "\r", "\b"} & set(stream.getvalue())


def test_training_progress_off_prints_nothing_and_a_terminal_gets_a_bar():
    from purify_tf.progress import StepProgress

    quiet = io.StringIO()
    with StepProgress(5, enabled=False, stream=quiet, interval_s=0.0) as progress:
        for step in range(1, 6):
            progress.update(step, {"total": 1.0})
    assert quiet.getvalue() == ""
    terminal = io.StringIO()
    with StepProgress(5, stream=terminal, bar=True) as progress:
        for step in range(1, 6):
            progress.update(step, {"total": 2.5})
    text = terminal.getvalue()
    assert "\r" in text and "5/5" in text and "total=2.5" in text  # a redrawn tqdm bar

"""Progress lines: a bar rewritten in place on a terminal, plain lines in a CI log."""
import io
import logging

from harness.core.progress import ProgressHandler, progress_text


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _log(stream) -> logging.Logger:
    logger = logging.getLogger(f"test-progress-{id(stream)}")
    logger.propagate = False
    handler = ProgressHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def test_on_a_terminal_progress_rewrites_one_line_with_a_bar():
    out = Terminal()
    log = _log(out)
    log.info("build: 5 of 20", extra={"progress": (5, 20)})
    log.info("build: 20 of 20", extra={"progress": (20, 20)})
    log.info("build done")
    assert out.getvalue() == (f"\r{progress_text('build: 5 of 20', 5, 20)}\x1b[K"
                              f"\r{progress_text('build: 20 of 20', 20, 20)}\x1b[K\nbuild done\n")
    assert progress_text("x", 5, 20) == "[######..................] x"


def test_in_a_log_file_progress_is_plain_lines():
    out = io.StringIO()
    log = _log(out)
    log.info("VM booting, 30 s", extra={"progress": (None, None)})
    log.info("booted")
    assert out.getvalue() == "VM booting, 30 s\nbooted\n"


def test_a_heartbeat_says_long_quiet_work_still_runs_and_stops_with_it():
    import time
    from harness.core.progress import heartbeat
    out = io.StringIO()
    log = _log(out)
    with heartbeat(log, "the build", every=0.05):
        time.sleep(0.18)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(l.startswith("the build: still running, 0 min 00 s so far") for l in lines), lines
    time.sleep(0.12)
    assert out.getvalue().splitlines() == lines   # nothing after the block ended

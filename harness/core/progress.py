"""Progress of long work (Go builds, VM boots) as log records, shown as a bar on a terminal.

A record logged with `extra={"progress": (done, total)}` (or `(None, None)` without a count) is a
progress line: on a terminal it rewrites one line in place, with a bar when there is a count; in a
CI log (not a terminal) it is a plain line, as every other record.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

BAR = 24


def progress_text(message: str, done: int | None, total: int | None) -> str:
    if not done or not total:
        return message
    filled = min(BAR, BAR * done // total)
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {message}"


class ProgressHandler(logging.StreamHandler):
    def __init__(self, stream):
        super().__init__(stream)
        self.pending = False   # a progress line is on screen without its newline

    def emit(self, record: logging.LogRecord) -> None:
        progress = getattr(record, "progress", None)
        tty = getattr(self.stream, "isatty", lambda: False)()
        try:
            if progress is not None and tty:
                self.stream.write("\r" + progress_text(self.format(record), *progress) + "\x1b[K")
                self.pending = True
            else:
                if self.pending:
                    self.stream.write("\n")
                    self.pending = False
                self.stream.write(self.format(record) + self.terminator)
            self.flush()
        except Exception:   # logging must never break the work it reports on
            self.handleError(record)


def minutes(seconds: float) -> str:
    return f"{int(seconds) // 60} min {int(seconds) % 60:02d} s"


@contextmanager
def heartbeat(log: logging.Logger, describe: str, every: float = 30):
    """While the block runs: a progress line every `every` seconds saying it still runs, and for how long
    (long work with quiet stretches, such as a cold build, never looks hung)."""
    stop, start = threading.Event(), time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
            log.info("%s: still running, %s so far", describe, minutes(time.monotonic() - start),
                     extra={"progress": (None, None)})
    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

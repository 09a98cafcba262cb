"""Progress of long work (Go builds, VM boots) as log records, shown as a bar on a terminal.

A record logged with `extra={"progress": (done, total)}` (or `(None, None)` without a count) is a
progress line: on a terminal it rewrites one line in place, with a bar when there is a count; in a
CI log (not a terminal) it is a plain line, as every other record.
"""
from __future__ import annotations

import logging

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

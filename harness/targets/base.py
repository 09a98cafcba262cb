"""The Target protocol every backend (container, vm, ssh) implements."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from harness.core.commands import CommandResult
from harness.core.errors import CommandTimeout
from harness.core.wait import WaitTimeout, wait_for


@dataclass(frozen=True)
class TargetSpec:
    """What to boot: the same spec names a target in ids, groups and the report.

    `source` says where it comes from, not what it is: what a target is (Photon, the
    stand-in, another system) is read from it after boot (identity.py).
    """
    source: str        # photon | standin (the harness's recipes) | user (an image, disk or host given)
    flavor: str        # full | minimal
    backend: str       # container | vm | ssh
    image: str = ""    # the image booted (filled in once built)

    @property
    def id(self) -> str:
        return f"{self.source}-{self.flavor}-{self.backend}"


class PtySession:
    """What every backend's interactive session shares: typing, and matching what comes back.

    A backend supplies `_write(bytes)`, `_read(timeout) -> bytes | None | b""`, `abort()`
    and `close(timeout) -> exit status`.
    """
    closed = False

    def __init__(self, describe: str):
        self.buffer = ExpectBuffer(self._read, describe)

    def send(self, text: str) -> None:
        self._write(text.encode())

    def expect(self, pattern: str, timeout: float = 30) -> re.Match:
        return self.buffer.expect(pattern, timeout)

    @property
    def output(self) -> str:
        return self.buffer.text


class InteractiveSession(Protocol):
    def send(self, text: str) -> None: ...
    def expect(self, pattern: str, timeout: float = 30) -> re.Match: ...
    def close(self, timeout: float = 30) -> int: ...


class Target(Protocol):
    spec: TargetSpec
    name: str

    def run(self, command: str, user: str | None = None, timeout: float = 120,
            env: dict | None = None) -> CommandResult: ...

    def interactive(self, command: str, user: str | None = None) -> InteractiveSession: ...

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None: ...

    def get_file(self, path: str) -> bytes: ...

    @property
    def host(self): ...  # a testinfra Host bound to this target

    def close(self) -> None: ...


class ExpectBuffer:
    """Accumulates output of an interactive session and matches patterns in it."""

    def __init__(self, read_chunk, describe: str):
        self._read_chunk = read_chunk  # (timeout) -> bytes, b"" at EOF
        self._describe = describe
        self.text = ""
        self._pos = 0

    def expect(self, pattern: str, timeout: float = 30) -> re.Match:
        rx = re.compile(pattern, re.S)

        def read_and_match() -> re.Match | None:
            m = rx.search(self.text, self._pos)
            if m:
                return m
            chunk = self._read_chunk(1.0)   # None: nothing yet; b"": the session ended
            if chunk == b"":
                raise CommandTimeout(f"{self._describe}: session ended before {pattern!r}; "
                                     f"last output: {self.text[-400:]!r}")
            if chunk:
                self.text += chunk.decode(errors="replace")
            return rx.search(self.text, self._pos)
        try:
            m = wait_for(f"{self._describe}: {pattern!r}", read_and_match, timeout=timeout, interval=0)
        except WaitTimeout:
            raise CommandTimeout(f"{self._describe}: no {pattern!r} within {timeout:.0f}s; "
                                 f"last output: {self.text[-400:]!r}") from None
        self._pos = m.end()
        return m

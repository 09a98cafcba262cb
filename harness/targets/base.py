"""The Target protocol every backend (container, vm, ssh) implements."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from harness.core.commands import CommandResult
from harness.core.errors import CommandTimeout, HarnessError, InfrastructureError
from harness.core.wait import WaitTimeout, wait_for
from harness.targets.identity import Identity


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


@runtime_checkable
class Target(Protocol):
    spec: TargetSpec
    name: str
    identity: Identity | None      # what it is, read from it once booted (identity.py)
    boot_seconds: float | None     # how long boot (or restore) took
    procedures: dict               # documented procedures applied to it: name -> Transcript

    # `user`: None or "root" runs as root; another user's commands run in that user's login shell
    # (`su - USER`), on every backend.
    def run(self, command: str, user: str | None = None, timeout: float = 120,
            env: dict | None = None) -> CommandResult: ...

    def interactive(self, command: str, user: str | None = None) -> InteractiveSession: ...

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None: ...

    def get_file(self, path: str) -> bytes: ...

    @property
    def host(self): ...  # a testinfra Host bound to this target

    @property
    def access(self) -> str: ...  # how the harness reaches root on it (for the record)

    def boot_evidence(self) -> str: ...   # how it booted, in words (for the record)

    def journal(self, unit: str | None = None, lines: int = 200) -> str: ...

    def close(self) -> None: ...


READY_STATES = ("running", "degraded")


class TargetBase:
    """What every backend keeps on its targets, declared once: what the target turned out to be, how
    long it took to boot, the procedures applied to it, and testinfra's `host` over its own run()."""
    spec: TargetSpec
    identity: Identity | None = None
    boot_seconds: float | None = None
    boot_kind: str = ""
    access: str = ""
    _host = None

    @property
    def procedures(self) -> dict:
        return self.__dict__.setdefault("_procedures", {})

    @property
    def host(self):
        if self._host is None:
            from harness.targets.testinfra_backend import host_for   # testinfra loads only when asked for
            self._host = host_for(self)
        return self._host

    # -- the one readiness check of every backend ------------------------------------------------
    def wait_until_booted(self, timeout: float = 120, interval: float = 0.5) -> str:
        """Bounded wait for systemd to finish starting up (running or degraded); on timeout, one error
        with what systemd says, its failed units and the backend's own boot log."""
        def system_state() -> str:
            self._check_still_booting()
            try:
                r = self.run("systemctl is-system-running", timeout=30)
            except CommandTimeout:
                return "(systemctl did not answer)"
            state, said = r.stdout.strip(), r.stderr.strip()
            if "OCI runtime" in state + said:   # the engine cannot exec at all: waiting will not help
                raise InfrastructureError(f"cannot run commands in target {self.spec.id}: {state or said}")
            if not state and said:   # the login itself refused the command (say, an expired password)
                return f"(no answer; the target said: {said.splitlines()[-1][:200]})"
            return state
        try:
            return wait_for(f"target {self.spec.id}: systemd running or degraded", system_state,
                            lambda s: s in READY_STATES, timeout=timeout, interval=interval)
        except WaitTimeout as e:
            try:
                failed = self.run("systemctl --failed --no-legend --plain", timeout=15).stdout.strip()
            except HarnessError as why:
                failed = f"(could not ask: {why})"
            raise InfrastructureError(
                f"target {self.spec.id} not booted within {timeout:.0f}s: systemctl is-system-running says "
                f"{e.last!r}; failed units: {failed or 'none'}; {self._boot_log()}") from None

    def _check_still_booting(self) -> None:
        """Raise InfrastructureError when the machine is gone (a backend knows how to tell)."""

    def _boot_log(self) -> str:
        """The backend's last boot output, for an error."""
        return ""

    def boot_evidence(self) -> str:
        if self.boot_seconds is None:
            return "not booted"
        return f"booted in {self.boot_seconds:.0f} s" + (f", {self.boot_kind}" if self.boot_kind else "")


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

"""Commands over SSH (paramiko): run, interactive sessions, files, the journal.

Shared by VM targets (targets/vm.py) and existing hosts (targets/ssh.py).
"""
from __future__ import annotations

import shlex
import socket
import time

from harness.core.commands import CommandResult
from harness.core.errors import CommandTimeout
from harness.core.wait import WaitTimeout, wait_for
from harness.targets.base import PtySession, TargetSpec


class SshSession(PtySession):
    """An interactive command on a pseudo-terminal over SSH."""

    def __init__(self, channel, describe: str):
        self.channel = channel
        super().__init__(describe)

    def _read(self, timeout: float):
        self.channel.settimeout(timeout)
        try:
            return self.channel.recv(65536)
        except socket.timeout:
            return None

    def _write(self, data: bytes) -> None:
        self.channel.sendall(data)

    def abort(self) -> None:
        self.channel.close()
        self.closed = True

    def close(self, timeout: float = 30) -> int:
        def ended() -> bool:
            if self.channel.recv_ready():   # keep reading, so the command never blocks on its output
                self.buffer.text += self.channel.recv(65536).decode(errors="replace")
            return self.channel.exit_status_ready()
        try:
            wait_for("the interactive command to end", ended, timeout=timeout, interval=0.1)
        except WaitTimeout:
            self.abort()
            raise CommandTimeout(f"interactive session still running after {timeout:.0f}s") from None
        status = self.channel.recv_exit_status()
        self.abort()
        return status


class SshCommands:
    """run / interactive / files over one paramiko connection (shared by vm and ssh targets)."""

    ssh = None
    spec: TargetSpec

    def run(self, command: str, user: str | None = None, timeout: float = 120,
            env: dict | None = None) -> CommandResult:
        if user and user != "root":
            command = f"su - {shlex.quote(user)} -c {shlex.quote(command)}"
        if env:
            command = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + command
        start = time.monotonic()
        wrapped = f"timeout -k 5 {int(timeout)} /bin/sh -c {shlex.quote(command)}"
        stdin, stdout, stderr = self.ssh.exec_command(wrapped, timeout=timeout + 15)
        try:
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
        except socket.timeout:
            raise CommandTimeout(f"{command!r} on {self.spec.id} gave no answer in {timeout + 15:.0f}s") from None
        code = stdout.channel.recv_exit_status()
        duration = time.monotonic() - start
        if code in (124, 137) and duration >= timeout:
            raise CommandTimeout(f"{command!r} on {self.spec.id} ran past its {timeout:.0f}s timeout")
        return CommandResult(command, code, out, err, duration, user or "root")

    def interactive(self, command: str, user: str | None = None) -> SshSession:
        if user and user != "root":
            command = f"su - {shlex.quote(user)} -c {shlex.quote(command)}"
        channel = self.ssh.get_transport().open_session()
        channel.get_pty(width=200, height=50)
        channel.exec_command(command)
        return SshSession(channel, f"{command!r} on {self.spec.id}")

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        with self.ssh.open_sftp() as sftp:
            with sftp.open(path, "wb") as f:
                f.write(data)
            sftp.chmod(path, mode)

    def get_file(self, path: str) -> bytes:
        with self.ssh.open_sftp() as sftp:
            try:
                with sftp.open(path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                raise FileNotFoundError(f"{path} on {self.spec.id}") from None

    def journal(self, unit: str | None = None, lines: int = 200) -> str:
        unit_arg = f"-u {shlex.quote(unit)} " if unit else ""
        return self.run(f"journalctl --no-pager {unit_arg}-n {lines}", timeout=30).stdout

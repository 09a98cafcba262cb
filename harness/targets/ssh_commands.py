"""Commands over SSH (paramiko): run, interactive sessions, files, the journal.

Shared by VM targets (targets/vm.py) and existing hosts (targets/ssh.py).
"""
from __future__ import annotations

import base64
import re
import secrets
import shlex
import socket
import time
from dataclasses import dataclass, field

from harness.core.commands import CommandResult
from harness.core.errors import CommandTimeout, InfrastructureError
from harness.core.wait import WaitTimeout, wait_for
from harness.targets.base import PtySession, TargetBase, TargetSpec


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


SUDO_PROMPT = "[photon-harness sudo password]"   # only for interactive sessions, answered at once


@dataclass(frozen=True)
class Become:
    """How a login that is not root runs root's commands: sudo, without a password (`sudo -n`) or with
    the one given (sent to sudo's standard input, never on a command line, never recorded)."""
    login: str
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"sudo {'-S (password from --sudo-password-file)' if self.password else '-n'} as {self.login}"

    def wrap(self, command: str, prompt: str = "") -> str:
        flags = f"-S -p {shlex.quote(prompt)}" if self.password else "-n"
        return f"sudo {flags} -- /bin/sh -c {shlex.quote(command)}"


def sudo_problem(login: str, host: str, stderr: str, with_password: bool) -> str:
    """What stands in the way of root's commands through sudo, in one line."""
    err = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
    if "command not found" in stderr or "sudo: not found" in stderr or "No such file" in stderr:
        return f"{login}@{host} has no sudo, and root's SSH login is not used: log in as root or install sudo"
    if with_password and ("incorrect password" in stderr or "Sorry, try again" in stderr):
        return f"sudo on {host} refused the password in --sudo-password-file for {login}"
    if "password is required" in stderr:
        return (f"sudo on {host} asks {login} for a password (before it says whether {login} may use sudo at "
                "all): give it with --sudo-password-file FILE (it is sent to sudo only, never recorded)")
    if "not in the sudoers" in stderr or "not allowed" in stderr or "may not run sudo" in stderr:
        return f"{login} may not use sudo on {host} ({err})"
    return f"sudo as {login} on {host} does not run root's commands: {err}"


class SshCommands(TargetBase):
    """run / interactive / files over one paramiko connection (shared by vm and ssh targets).

    `login` is the user the connection is logged in as. A command for another user goes through root
    (`su - USER`); when the login is not root, root's part goes through `become` (sudo), and each result
    says so (`via`). Commands for the login itself run as they are.
    """

    ssh = None
    spec: TargetSpec
    login = "root"
    become: Become | None = None

    def _line(self, command: str, user: str | None, env: dict | None, prompt: str = "") -> tuple[str, str]:
        """The command line for `command` as `user` (None: root), and what carried it ("" for the login)."""
        want = user or "root"
        line = command
        if want != self.login and want != "root":
            line = f"su - {shlex.quote(want)} -c {shlex.quote(line)}"
        if env:
            line = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + line
        if want == self.login or self.login == "root":
            return line, ""
        if self.become is None:
            raise InfrastructureError(f"{self.spec.id}: logged in as {self.login}, with no way to run "
                                      f"{want}'s commands")
        return self.become.wrap(line, prompt), self.become.describe()

    def run(self, command: str, user: str | None = None, timeout: float = 120,
            env: dict | None = None) -> CommandResult:
        line, via = self._line(command, user, env)
        start = time.monotonic()
        wrapped = f"timeout -k 5 {int(timeout)} /bin/sh -c {shlex.quote(line)}"
        stdin, stdout, stderr = self.ssh.exec_command(wrapped, timeout=timeout + 15)
        if via and self.become.password:
            stdin.write(self.become.password + "\n")
            stdin.flush()
        stdin.channel.shutdown_write()   # the command's input ends here (as with a plain `ssh host cmd </dev/null`)
        try:
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
        except socket.timeout:
            raise CommandTimeout(f"{command!r} on {self.spec.id} gave no answer in {timeout + 15:.0f}s") from None
        code = stdout.channel.recv_exit_status()
        duration = time.monotonic() - start
        if code in (124, 137) and duration >= timeout:
            raise CommandTimeout(f"{command!r} on {self.spec.id} ran past its {timeout:.0f}s timeout")
        return CommandResult(command, code, out, err, duration, user or "root", via)

    def interactive(self, command: str, user: str | None = None) -> SshSession:
        line, via = self._line(command, user, None, prompt=SUDO_PROMPT)
        channel = self.ssh.get_transport().open_session()
        channel.get_pty(width=200, height=50)
        channel.exec_command(line)
        session = SshSession(channel, f"{command!r} on {self.spec.id}")
        if via and self.become.password:
            session.expect(re.escape(SUDO_PROMPT), timeout=30)
            session.send(self.become.password + "\r")
        return session

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        if self.login == "root":
            with self.ssh.open_sftp() as sftp:
                with sftp.open(path, "wb") as f:
                    f.write(data)
                sftp.chmod(path, mode)
            return
        # As the login into its own file, then moved into place by root (owned by root, as over root).
        staged = f"/tmp/photon-harness-upload-{secrets.token_hex(6)}"
        with self.ssh.open_sftp() as sftp:
            with sftp.open(staged, "wb") as f:
                f.write(data)
        r = self.run(f"install -m {mode:o} {staged} {shlex.quote(path)}; s=$?; rm -f {staged}; exit $s", timeout=300)
        if not r.ok:
            raise InfrastructureError(f"cannot write {path} on {self.spec.id}: {r.stderr.strip()[-300:]}")

    def get_file(self, path: str) -> bytes:
        if self.login == "root":
            with self.ssh.open_sftp() as sftp:
                try:
                    with sftp.open(path, "rb") as f:
                        return f.read()
                except FileNotFoundError:
                    raise FileNotFoundError(f"{path} on {self.spec.id}") from None
        q = shlex.quote(path)
        r = self.run(f"if [ -e {q} ]; then base64 -w0 {q}; else echo absent >&2; exit 3; fi", timeout=300)
        if r.exit_status == 3 and r.stderr.strip() == "absent":
            raise FileNotFoundError(f"{path} on {self.spec.id}")
        if not r.ok:
            raise InfrastructureError(f"cannot read {path} on {self.spec.id}: {r.stderr.strip()[-300:]}")
        return base64.b64decode(r.stdout)

    def check_become(self, host: str) -> None:
        """A login that is not root must reach root through sudo: raise one line saying why not."""
        if self.login == "root":
            return
        r = self.run("id -u")
        if r.ok and r.stdout.strip() == "0":
            return
        problem = sudo_problem(self.login, host, r.stderr, bool(self.become and self.become.password))
        raise InfrastructureError(problem)

    @property
    def access(self) -> str:
        """How the harness reaches root on this target, for the record."""
        return f"SSH as {self.login}" + (f"; root's commands via {self.become.describe()}"
                                         if self.login != "root" and self.become else "")

    def journal(self, unit: str | None = None, lines: int = 200) -> str:
        unit_arg = f"-u {shlex.quote(unit)} " if unit else ""
        return self.run(f"journalctl --no-pager {unit_arg}-n {lines}", timeout=30).stdout

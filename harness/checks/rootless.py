"""Rootless Docker helpers: subordinate-ID ranges and commands run in a user's SSH login.

- `parse_subid` / `subid_hazards`: read /etc/subuid or /etc/subgid and find what
  makes newuidmap refuse a mapping (overlapping or duplicate ranges, too few IDs).
- `LoginTarget`: wraps a target so commands for a non-root user run through
  `ssh USER@localhost` from root inside the target, i.e. in a real login session
  (pam_systemd: XDG_RUNTIME_DIR, the user's systemd instance), as the docs log in.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from harness.core.commands import CommandResult
from harness.core.errors import CommandTimeout
from harness.core.wait import WaitTimeout, wait_for

DOCUMENTED_COUNT = 65536
KEY_PATH = "/root/.ssh/photon-harness-rootless"


@dataclass(frozen=True)
class SubIdRange:
    owner: str
    start: int
    count: int
    line: int        # 1-based line number in the file
    text: str

    @property
    def end(self) -> int:  # exclusive
        return self.start + self.count

    def overlaps(self, other: "SubIdRange") -> bool:
        return self.start < other.end and other.start < self.end


def parse_subid(text: str) -> tuple[list[SubIdRange], list[str]]:
    """Ranges and the lines that are not `owner:start:count` (reported, not ignored)."""
    ranges, bad = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            bad.append(f"line {n}: {raw!r}")
            continue
        ranges.append(SubIdRange(parts[0], int(parts[1]), int(parts[2]), n, line))
    return ranges, bad


def subid_hazards(text: str, user: str, path: str = "/etc/subuid",
                  aliases: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with `path` for `user` (empty when it is fine).

    `aliases` are other names of the user (its numeric ID): shadow accepts both.
    Any two overlapping ranges are a hazard: newuidmap writes every range of the
    user into one uid_map, and the kernel refuses overlapping extents
    ("write to uid_map failed: Invalid argument"); ranges shared with another
    user give both users the same host IDs.
    """
    ranges, bad = parse_subid(text)
    names = {user, *aliases}
    problems = [f"{path}: malformed {b}" for b in bad]
    mine = [r for r in ranges if r.owner in names]
    total = sum(r.count for r in mine)
    if total < DOCUMENTED_COUNT:
        problems.append(f"{path}: {user} has {total} subordinate IDs, fewer than {DOCUMENTED_COUNT}")
    for i, a in enumerate(ranges):
        for b in ranges[i + 1:]:
            if not a.overlaps(b) or not (a.owner in names or b.owner in names):
                continue
            kind = "duplicate" if (a.start, a.count) == (b.start, b.count) else "overlapping"
            who = "the same user" if (a.owner in names) == (b.owner in names) else f"{a.owner} and {b.owner}"
            problems.append(f"{path}: {kind} ranges for {who}: line {a.line} {a.text!r} and "
                            f"line {b.line} {b.text!r} ({max(a.start, b.start)}-{min(a.end, b.end) - 1} "
                            f"in both); newuidmap refuses such a mapping")
    return problems


_BASH_NOISE = ("bash: cannot set terminal process group", "bash: no job control in this shell")


class LoginTarget:
    """A target whose non-root commands run in an SSH login of that user on localhost.

    The harness generates a key for root inside the target and installs it for the
    user (authorized_keys); sshd in the target does the rest. With `rc=True` the
    command runs in an interactive bash (`bash -ic`), so the user's ~/.bashrc, where
    the docs put PATH and DOCKER_HOST, is read as in a terminal.
    """

    def __init__(self, target, user: str, rc: bool = False, key: str = KEY_PATH):
        self.target, self.user, self.rc, self.key = target, user, rc, key
        self.spec = target.spec
        self.identity = target.identity

    def ssh_argv(self, tty: bool = False) -> str:
        return ("ssh " + ("-t " if tty else "") + f"-i {self.key} -o BatchMode=yes -o ConnectTimeout=10 "
                f"-o StrictHostKeyChecking=accept-new -o LogLevel=ERROR {self.user}@localhost")

    def run(self, command: str, user: str | None = None, timeout: float = 120,
            env: dict | None = None) -> CommandResult:
        if user in (None, "root"):
            return self.target.run(command, timeout=timeout, env=env)
        if user != self.user:
            raise ValueError(f"this login is {self.user!r}, not {user!r}")
        remote = f"bash -ic {shlex.quote(command)}" if self.rc else command
        r = self.target.run(f"{self.ssh_argv()} {shlex.quote(remote)}", timeout=timeout, env=env)
        stderr = "".join(l for l in r.stderr.splitlines(keepends=True) if not l.startswith(_BASH_NOISE))
        return CommandResult(command, r.exit_status, r.stdout, stderr, r.duration,
                             f"{self.user} (ssh login)")

    def with_rc(self) -> "LoginTarget":
        return LoginTarget(self.target, self.user, rc=True, key=self.key)


def authorize_root_key(target, user: str, key: str = KEY_PATH) -> CommandResult:
    """Harness set-up (not a documented step): root's key may log in as `user` over SSH."""
    home = f"$(getent passwd {shlex.quote(user)} | cut -d: -f6)"
    q = shlex.quote(user)
    return target.run(
        f"set -e; mkdir -p -m 700 /root/.ssh; [ -f {key} ] || ssh-keygen -q -t ed25519 -N '' -f {key}; "
        f"h={home}; install -d -m 700 -o {q} -g $(id -g {q}) \"$h/.ssh\"; "
        f"install -m 600 -o {q} -g $(id -g {q}) {key}.pub \"$h/.ssh/authorized_keys\"", timeout=60)


def wait_for_user_daemon(shell: LoginTarget, user: str, timeout: float = 90) -> tuple[bool, str]:
    """Poll `docker info` in the user's shell until the rootless daemon answers, at most `timeout` s.

    On a slow VM one SSH login plus `docker info` can itself take over 30 s: a poll that runs out of
    time counts as "not answering yet", never as the end of the wait.
    """
    deadline = time.monotonic() + timeout

    def server_version() -> CommandResult:
        left = deadline - time.monotonic()
        return shell.run("docker info --format '{{.ServerVersion}}'", user=user, timeout=max(10, min(60, left)))
    try:
        r = wait_for(f"{user}'s rootless daemon to answer `docker info`", server_version,
                     lambda r: r.ok and bool(r.stdout.strip()), timeout=timeout, retry_on=(CommandTimeout,))
        return True, r.stdout.strip()
    except WaitTimeout as e:
        last = e.last
        return False, (last.stdout + last.stderr).strip() if isinstance(last, CommandResult) else str(last)

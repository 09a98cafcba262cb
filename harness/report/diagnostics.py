"""What to attach when a test fails: the target's journal and the Docker daemon's log."""
from __future__ import annotations

import subprocess

from harness.core.paths import DOCKERD_LOG


def target_journal(target, lines: int = 300) -> str:
    try:
        return target.journal(lines=lines)
    except Exception as e:  # a dead or half-booted target must not hide the test's own failure
        return f"(journal of {getattr(target, 'name', target)} unavailable: {e.__class__.__name__}: {e})"


def docker_daemon_log(lines: int = 200) -> str:
    """`journalctl -u docker` where systemd runs dockerd; else the log `doctor --fix` writes."""
    why = ""
    try:
        r = subprocess.run(["journalctl", "-u", "docker", "--no-pager", "-n", str(lines)],
                           capture_output=True, text=True, timeout=20)
        if r.returncode == 0 and "-- No entries --" not in r.stdout and r.stdout.strip():
            return r.stdout
        why = (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "empty"
    except (OSError, subprocess.TimeoutExpired) as e:
        why = str(e)
    if DOCKERD_LOG.exists():
        tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-lines:]
        return f"(journalctl -u docker: {why}; tail of {DOCKERD_LOG})\n" + "\n".join(tail) + "\n"
    return f"(no Docker daemon log found: journalctl -u docker: {why}; {DOCKERD_LOG} absent)\n"

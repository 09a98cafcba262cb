"""Session labels: every container, network, volume, VM and cluster a run creates carries
SESSION_LABEL=<session id>, CREATED_LABEL=<unix time> and OWNER_LABEL=<host pid start> of the
run's controller, so teardown, an interrupted run and a later `photon-harness reap` find them
by label alone, and a bare `reap` can tell a dead run's resources from a live one's.
"""
from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

SESSION_LABEL = "io.photon-harness.session"
CREATED_LABEL = "io.photon-harness.created"
OWNER_LABEL = "io.photon-harness.owner"
# Cached build products (images) carry this instead: they outlive sessions on purpose.
CACHE_LABEL = "io.photon-harness.cache"
# The controller writes its identity here; xdist workers (its children) inherit it.
OWNER_ENV = "PHOTON_HARNESS_OWNER"
# Resources of runs from before owners were recorded: reaped by age alone.
UNOWNED_AGE = 3600


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks after boot), or None if it is gone: with the PID,
    it names one process even after the PID is reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def this_process() -> str:
    return f"{socket.gethostname()} {os.getpid()} {process_start(os.getpid())}"


def claim_ownership() -> str:
    """Called by a run's controller: what it (and its workers) create is owned by this process."""
    os.environ[OWNER_ENV] = this_process()
    return os.environ[OWNER_ENV]


def owner() -> str:
    return os.environ.get(OWNER_ENV) or this_process()


def owner_gone(value: str) -> bool:
    """Whether the process named by an owner label has ended (only decidable on its own host)."""
    try:
        host, pid, start = value.split()
    except ValueError:
        return False
    return host == socket.gethostname() and process_start(int(pid)) != start


def session_labels(session_id: str) -> dict[str, str]:
    return {SESSION_LABEL: session_id, CREATED_LABEL: str(int(time.time())), OWNER_LABEL: owner()}


def selected(labels: dict | None, session_id: str | None = None, older_than: float | None = None) -> bool:
    """Which labelled resources a reap takes: one session's; or every session's older than N seconds;
    or, with neither, those whose owning run has ended (and unowned ones older than an hour)."""
    labels = labels or {}
    if SESSION_LABEL not in labels:
        return False
    if session_id is not None:
        return labels[SESSION_LABEL] == session_id
    age = time.time() - float(labels.get(CREATED_LABEL, "0") or 0)
    if older_than is not None:
        return age >= older_than
    if OWNER_LABEL in labels:
        return owner_gone(labels[OWNER_LABEL])
    return age >= UNOWNED_AGE

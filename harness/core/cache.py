"""Build products cached by their inputs: one hash scheme, one lock per product."""
from __future__ import annotations

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path

from .paths import CACHE_DIR, RECIPES

FORMAT = "1"   # bump to rebuild every cached product


def hash_tree(paths: list[Path], extra: str = "") -> str:
    """A stable hash of files (names, modes, contents) and an extra string."""
    h = hashlib.sha256(f"format={FORMAT}\n{extra}\n".encode())
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            rel = f.relative_to(RECIPES) if f.is_relative_to(RECIPES) else f
            h.update(f"{rel}\0{f.stat().st_mode & 0o777:o}\0".encode())
            h.update(f.read_bytes())
            h.update(b"\0")
    return h.hexdigest()[:16]


@contextmanager
def build_lock(name: str):
    """Serialise builds of one image across processes (xdist workers, parallel runs)."""
    lockdir = CACHE_DIR / "locks"
    lockdir.mkdir(parents=True, exist_ok=True)
    with open(lockdir / (name.replace("/", "_").replace(":", "_") + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

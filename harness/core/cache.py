"""Build products cached by their inputs: one hash scheme, one lock per product, one record each.

Every image, disk and binary the harness builds goes through `cached_build`: the product's name
carries its key (a hash of every input, `key`), a lock serialises builders across processes
(xdist workers, parallel runs), an existing product is reused, and a new one is recorded under
CACHE_DIR/records/ (what it is, when it was built, how long it took).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import InfrastructureError
from .paths import CACHE_DIR, RECIPES

FORMAT = "1"   # bump to rebuild every cached product
RECORDS = CACHE_DIR / "records"


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def tree(paths: list[Path], base: Path = RECIPES) -> list[tuple[str, int, str]]:
    """Every file under `paths`: (name, mode, digest); names relative to `base` when inside it."""
    out = []
    for root in paths:
        for f in (sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]):
            name = f.relative_to(base) if f.is_relative_to(base) else f
            out.append((str(name), f.stat().st_mode & 0o777, file_digest(f)))
    return out


def key(*parts) -> str:
    """The one hash scheme: any JSON-able parts (use `tree` for files), in order."""
    h = hashlib.sha256(f"format={FORMAT}\n".encode())
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def hash_tree(paths: list[Path], extra: str = "") -> str:
    """The key of some recipe files (names, modes, contents) and an extra input."""
    return key(tree(paths), extra)


@contextmanager
def build_lock(name: str):
    """Serialise builds of one product across processes (xdist workers, parallel runs)."""
    RECORDS.parent.joinpath("locks").mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "locks" / (_safe(name) + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def lock_held(name: str) -> bool:
    """Whether some process is building `name` right now (holds its build lock)."""
    path = CACHE_DIR / "locks" / (_safe(name) + ".lock")
    if not path.exists():
        return False
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


@dataclass(frozen=True)
class Built:
    cached: bool
    seconds: float


def cached_build(name: str, exists: Callable[[], bool], build: Callable[[], None]) -> Built:
    """Build `name` unless it exists; `exists` must hold after `build`. The name includes the key."""
    start = time.monotonic()
    with build_lock(name):
        if exists():
            return Built(True, time.monotonic() - start)
        build()
        if not exists():
            raise InfrastructureError(f"building {name} finished but left no product")
        seconds = time.monotonic() - start
        RECORDS.mkdir(parents=True, exist_ok=True)
        (RECORDS / f"{_safe(name)}.json").write_text(json.dumps(
            {"name": name, "built": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(seconds, 1)}) + "\n")
        return Built(False, seconds)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)

"""`photon-harness cache prune`: remove what the current recipes no longer use.

Superseded, not merely old: stand-in VM images of older recipes (2.2 GB each), converted user
disks whose source is gone or changed, VM templates whose disk or kernel is gone (or about to
be), templates a killed build left half-written, and for every photon-harness image repository
all but its newest tag (never an image a container still uses). Builds in progress are left alone.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from harness.artifacts.vm import CONVERTED, converted_source_gone, standin_vm_dir
from harness.core.cache import lock_held
from harness.core.paths import CACHE_DIR
from harness.targets.vm_template import TEMPLATES

PREFIX = "photon-harness/"
SESSION_IMAGES = ("photon-harness/selftest-derived",)   # per session: `reap` removes them


@dataclass
class Removal:
    what: str          # a path, or an image reference
    size: int          # bytes
    why: str
    kind: str          # "path" | "image"


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def stale_files() -> list[Removal]:
    out: list[Removal] = []
    vm_root, current = CACHE_DIR / "vm", standin_vm_dir()
    if vm_root.is_dir():
        for d in sorted(vm_root.iterdir()):
            if d.is_dir() and re.fullmatch(r"[0-9a-f]{16}", d.name) and d != current:
                out.append(Removal(str(d), _size(d), "stand-in VM image of older recipes", "path"))
    for disk in sorted(CONVERTED.glob("*.qcow2")) if CONVERTED.is_dir() else []:
        why = converted_source_gone(disk)
        if why:
            out.append(Removal(str(disk), _size(disk), f"converted user disk: {why}", "path"))
    going = {Path(r.what) for r in out}
    for t in sorted(TEMPLATES.iterdir()) if TEMPLATES.is_dir() else []:
        why = _stale_template(t, going)
        if why:
            out.append(Removal(str(t), _size(t), f"VM template: {why}", "path"))
    return out


def _stale_template(t: Path, going: set[Path]) -> str:
    if t.name.endswith(".partial"):
        return "" if lock_held(f"vm-template-{t.name[:-len('.partial')]}") else "half-written by a build that ended"
    try:
        meta = json.loads((t / "meta.json").read_text())
    except (OSError, ValueError):
        return "incomplete (no meta.json)"
    for name in ("disk", "kernel"):
        used = Path(meta[name]) if meta.get(name) else None
        if used is None:
            continue
        if not used.exists():
            return f"its {name} {used} is gone"
        if any(used == g or g in used.parents for g in going):
            return f"its {name} {used} is being pruned"
        if used.stat().st_mtime > (t / "meta.json").stat().st_mtime:
            return f"its {name} {used} changed after it was made"
    return ""


def stale_images(client) -> list[Removal]:
    if client is None:   # no engine reachable: images are left alone
        return []
    in_use = {c.image.id for c in client.containers.list(all=True) if c.image is not None}
    by_repo: dict[str, list] = {}
    for image in client.images.list():
        for tag in image.tags:
            repo = tag.rsplit(":", 1)[0]
            if repo.startswith(PREFIX) and repo not in SESSION_IMAGES:
                by_repo.setdefault(repo, []).append((image.attrs.get("Created", ""), tag, image))
    out = []
    for repo, tags in sorted(by_repo.items()):
        tags.sort(key=lambda x: x[0], reverse=True)
        for _, tag, image in tags[1:]:
            if image.id in in_use:
                continue
            out.append(Removal(tag, image.attrs.get("Size", 0), f"superseded by the newer {tags[0][1]}", "image"))
    return out


def prune(client, dry_run: bool = False) -> list[Removal]:
    found = stale_files() + stale_images(client)
    if dry_run:
        return found
    for r in found:
        if r.kind == "image":
            try:
                client.images.remove(r.what)
            except docker.errors.APIError as e:   # in use by now, or already gone: leave it
                r.why += f" (not removed: {e.explanation or e})"
        else:
            p = Path(r.what)
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
                p.with_suffix(".source").unlink(missing_ok=True)
    return found

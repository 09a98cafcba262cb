"""Go builds for the offline kind node: commands run with their output kept for errors, `go build`
with progress, the module cache, and build products cached by every input under CACHE_DIR/kind.
No pytest here."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from harness.core.cache import cached_build, key
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.paths import CACHE_DIR

log = logging.getLogger(__name__)
# Compile with every core the machine has.
GO_PARALLEL = str(os.cpu_count() or 1)
KIND_CACHE = CACHE_DIR / "kind"


def nice() -> list[str]:
    return ["nice", "-n", "19"] if shutil.which("nice") else []


def go_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "")
    env["GOFLAGS"] = (env["GOFLAGS"] + " -mod=mod -buildvcs=false").strip()
    env.setdefault("GOTOOLCHAIN", "local")
    env.update(extra)
    return env


def run(argv: list[str], what: str, cwd: Path | None = None, env: dict | None = None,
         timeout: float = 7200, stdin=None) -> str:
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        raise HarnessError(f"{what}: {argv[0]} is not installed")
    try:
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=stdin if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InfrastructureError(f"{what}: timed out after {timeout:.0f}s") from None
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:])
        raise InfrastructureError(f"{what} failed (exit {r.returncode}):\n{tail}")
    return r.stdout


def run_with_progress(argv: list[str], what: str, total: int, cwd: Path, env: dict, timeout: float,
                       every: float = 30) -> None:
    """`go build -v`: a line every `every` s with the packages compiled so far (of at most `total`)."""
    start = time.monotonic()
    lines: list[str] = []
    with subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as p:
        reader = threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True)  # one line per package
        reader.start()
        while p.poll() is None:
            reader.join(timeout=every)
            elapsed = time.monotonic() - start
            if elapsed > timeout:
                p.kill()
                raise InfrastructureError(f"{what}: timed out after {timeout:.0f}s")
            if p.poll() is None:
                log.info(f"[kind] {what}: {len(lines)} of at most {total} packages compiled, {elapsed / 60:.0f} min",
                         extra={"progress": (len(lines), total)})
        reader.join(timeout=10)
    if p.returncode != 0:
        tail = "\n".join(line.rstrip() for line in lines[-15:])
        raise InfrastructureError(f"{what} failed (exit {p.returncode}):\n{tail}")


def go_version() -> str:
    return run(["go", "env", "GOVERSION"], "go env").strip()


def go_modcache() -> Path:
    return Path(run(["go", "env", "GOMODCACHE"], "go env").strip())


def module_dir(path: str, version: str) -> Path:
    """Download a module (if needed) and return its directory in the module cache."""
    out = run(["go", "mod", "download", "-json", f"{path}@{version}"], f"go mod download {path}@{version}",
               env=go_env())
    info = json.loads(out)
    if info.get("Error"):
        raise InfrastructureError(f"go mod download {path}@{version}: {info['Error']}")
    return Path(info["Dir"])


def stamped(out: Path, key: str) -> bool:
    stamp = out / ".inputs"
    return stamp.is_file() and stamp.read_text().strip() == key


def finish(tmp: Path, out: Path, key: str) -> None:
    (tmp / ".inputs").write_text(key + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


class NotCached(HarnessError):
    """A stage would need a cold build and the caller asked for cached products only."""


def go_build(name: str, version: str, packages: list[str], *, requires: dict[str, str] | None = None,
             replaces: dict[str, str] | None = None, src: Path | None = None, ldflags: str = "-s -w",
             cgo: bool = False, cold_ok: bool = True) -> tuple[Path, bool]:
    """Build Go main packages into CACHE/bin/<name>-<version>/; cached by every input.

    Either a generated wrapper module (requires/replaces) in CACHE/src/<name>-<version>/,
    or an existing main module `src` (copied there). Returns (bin dir, cached?).
    """
    gomod = None
    if src is None:
        lines = ["module photon-harness.local/kind/" + name, "", "go 1.24.0", ""]
        lines += [f"require {m} {v}" for m, v in sorted((requires or {}).items())]
        if replaces:
            lines += ["", "replace ("] + [f"\t{m} => {t}" for m, t in sorted(replaces.items())] + [")"]
        gomod = "\n".join(lines) + "\n"
        src_key = gomod
    else:
        src_key = key(*[(str(p.relative_to(src)), p.read_bytes().hex()) for p in sorted(src.rglob("*"))
                         if p.is_file()])
    stamp = key(name, version, packages, src_key, ldflags, cgo, go_version())
    out = KIND_CACHE / "bin" / f"{name}-{version}"

    def build():
        if not cold_ok:
            raise NotCached(f"{name} {version} is not built yet")
        work = KIND_CACHE / "src" / f"{name}-{version}"
        if src is not None:
            if work.exists():
                shutil.rmtree(work)
            shutil.copytree(src, work)
        else:
            work.mkdir(parents=True, exist_ok=True)
            # go.mod.in is what we generate; go.mod/go.sum are what `go build -mod=mod` completed.
            if not (work / "go.mod.in").is_file() or (work / "go.mod.in").read_text() != gomod:
                (work / "go.mod").write_text(gomod)
                (work / "go.sum").unlink(missing_ok=True)
                (work / "go.mod.in").write_text(gomod)
        tmp = out.with_name(out.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        env = go_env(CGO_ENABLED="1" if cgo else "0")
        argv = [*nice(), "go", "build", "-v", "-p", GO_PARALLEL, "-trimpath", "-ldflags", ldflags,
                "-o", str(tmp) + "/", *packages]
        total = len(run(["go", "list", "-deps", *packages], f"go list -deps of {name}", cwd=work, env=env).split())
        run_with_progress(argv, f"go build of {name} {version}", total, cwd=work, env=env, timeout=4 * 3600)
        finish(tmp, out, stamp)
    return out, cached_build(f"kind-go-{name}-{version}", lambda: stamped(out, stamp), build).cached

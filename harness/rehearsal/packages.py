"""What the rehearsal deploys and builds, as data: Photon's volumes and mounts, the synthetic
package graph and its sources (spec files), the build id. Pure: no cluster, no engine."""
from __future__ import annotations

import base64
import io
import json
import tarfile
import time
import uuid

from harness.core.errors import HarnessError
from harness.core.paths import RECIPES

PROGRAMS = RECIPES / "distributed-build"
IMAGE_RECIPE = PROGRAMS / "image"
REHEARSAL_LABEL = "io.photon-harness/rehearsal"

# Photon's eight volumes: the PV's path under the export (nfspod: the export itself), access mode.
VOLUMES = {
    "nfspod": ("", "ReadWriteMany"),
    "photon": ("/photon", "ReadWriteMany"),
    "specs": ("/photon/SPECS", "ReadOnlyMany"),
    "rpms": ("/photon/stage/RPMS", "ReadWriteMany"),
    "publishrpms": ("/photon/stage/PUBLISHRPMS", "ReadWriteMany"),
    "publishxrpms": ("/photon/stage/PUBLISHXRPMS", "ReadWriteMany"),
    "logs": ("/photon/stage/LOGS", "ReadWriteMany"),
    "builder": ("/photon/support/package-builder", "ReadWriteMany"),
}
# A synthetic package graph (package -> build requirements): four independent roots, six levels.
GRAPH: dict[str, list[str]] = {
    "bzip2": [], "ncurses": [], "xz": [], "zlib": [],
    "openssl": ["zlib"], "readline": ["ncurses"], "libxml2": ["xz", "zlib"], "perl": ["bzip2", "zlib"],
    "curl": ["openssl", "zlib"], "python3": ["bzip2", "libxml2", "openssl", "readline"],
    "git": ["curl", "perl", "python3"], "rpm": ["bzip2", "libxml2", "python3", "xz"],
    "tdnf": ["curl", "rpm"], "photon-release": ["git", "tdnf"],
}

IMAGE_PROBLEMS = ("ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName")


def new_build_id() -> str:
    """Four hex digits, as Photon makes them (the second group of a uuid4)."""
    return str(uuid.uuid4()).split("-")[1]


def dependants(graph: dict[str, list[str]], pkg: str) -> set[str]:
    out, todo = set(), [pkg]
    while todo:
        cur = todo.pop()
        for p, reqs in graph.items():
            if cur in reqs and p not in out:
                out.add(p)
                todo.append(p)
    return out


def spec_text(name: str, requires: list[str], seconds: float, outcome: str = "ok") -> str:
    lines = [f"Summary: {name}, a package of the distributed-build rehearsal (nothing is compiled)",
             f"Name: {name}", "Version: 1.0", "Release: 1.ph5"]
    if requires:
        lines.append("BuildRequires: " + " ".join(requires))
    lines += [f"%global rehearsal_seconds {seconds:g}", f"%global rehearsal_outcome {outcome}"]
    return "\n".join(lines) + "\n"


def source_tree(graph: dict[str, list[str]], outcomes: dict[str, str],
                seconds: float | dict[str, float]) -> dict[str, bytes]:
    """What the rehearsal copies onto the export, as Photon copies its source tree: path -> bytes.
    seconds: every build's duration, or package -> duration (2s for the others)."""
    per = seconds if isinstance(seconds, dict) else {}
    unknown = [p for p in [*outcomes, *per] if p not in graph]
    if unknown:
        raise HarnessError(f"no package {', '.join(unknown)} in the rehearsal's graph ({', '.join(sorted(graph))})")
    default = 2.0 if isinstance(seconds, dict) else seconds
    files = {f"SPECS/{p}.spec": spec_text(p, r, per.get(p, default), outcomes.get(p, "ok")).encode()
             for p, r in graph.items()}
    for prog in ("scheduler.py", "worker.py"):
        files[f"support/package-builder/{prog}"] = (PROGRAMS / prog).read_bytes()
    return files


def _targz_b64(files: dict[str, bytes]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755 if name.endswith(".py") else 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


# -- moving files through the nfspod (a shell in it, as Photon copies through its nfspod) --------
def copy_script(files: dict[str, bytes], build_dir: str) -> str:
    """Make the build's directories under the export and unpack the sources there; list what is there."""
    dirs = " ".join(f"{build_dir}{sub[len('/photon'):]}" for base, (sub, _) in VOLUMES.items() if base != "nfspod")
    return (f"set -e; mkdir -p {dirs}; echo '{_targz_b64(files)}' | base64 -d | tar -xzf - -C {build_dir}; "
            f"cd {build_dir} && find . -type f | sort")


def listed_files(find_output: str) -> list[str]:
    """`find . -type f` output -> the paths, without the leading ./"""
    return [line[2:] for line in find_output.split() if line.startswith("./")]


def artefacts_from(rpm_contents: str) -> dict[str, dict]:
    """The artefacts the workers wrote (one JSON object per "rpm"), by package."""
    out = {}
    for line in rpm_contents.splitlines():
        try:
            art = json.loads(line)
        except ValueError:
            continue
        out[art["package"]] = art
    return out

"""`photon-harness docs check` and `docs record`: the procedures held to Photon's documentation.

A checkout of vmware/photon's photon-hugo branch (or a directory with its layout,
content/en/docs-vN/...) is read page by page and compared with what is recorded
(harness/data/documentation.json) and with every procedure step and checked-in-code trace:

- stale:     a step's documented command is no longer on its page, or its page is gone (exit 1)
- uncovered: a command of a page a claim comes from that no step or test reproduces
- changed:   a page whose content hash differs from the recorded one
- gone/new:  a recorded page missing from the checkout, a page of the same area not recorded
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.core.errors import HarnessError
from harness.model import documentation as docs
from harness.model.procedures import ProcedureFile


@dataclass
class Stale:
    procedure: str
    step: int
    where: str
    page: str
    documented: str


@dataclass
class VersionCheck:
    version: str
    pages: int = 0
    stale: list[Stale] = field(default_factory=list)
    uncovered: dict[str, list[tuple[int, str]]] = field(default_factory=dict)   # page -> (line, command)
    changed: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    not_in_version: list[str] = field(default_factory=list)   # procedures whose page this version has not
    uncited: dict[str, int] = field(default_factory=dict)     # pages no claim comes from -> their commands


def content_root(path: Path) -> Path:
    """content/en under a checkout (or PATH itself when it holds docs-vN directories)."""
    path = Path(path)
    if not path.is_dir():
        raise HarnessError(f"--docs {path}: not a directory")
    for root in (path / "content" / "en", path):
        if any(root.glob("docs-v*")):
            return root
    raise HarnessError(f"--docs {path}: no content/en/docs-vN under it (expected a checkout of vmware/photon's "
                       "photon-hugo branch)")


def version_dir(root: Path, version: str) -> Path:
    d = root / f"docs-v{version}"
    if not d.is_dir():
        raise HarnessError(f"--docs: {d} does not exist (versions there: "
                           f"{', '.join(sorted(p.name for p in root.glob('docs-v*')))})")
    return d


def area_pages(vdir: Path, areas: list[str]) -> dict[str, Path]:
    return {str(f.relative_to(vdir)): f for a in areas for f in sorted((vdir / a).rglob("*.md"))}


def check_version(record: docs.Record, procs: ProcedureFile, root: Path, version: str) -> VersionCheck:
    vdir = version_dir(root, version)
    recorded = record.pages(version) if version in record.versions else {}
    present = area_pages(vdir, record.source.get("areas", []))
    out = VersionCheck(version, len(present))
    out.gone = sorted(set(recorded) - set(present))
    out.new = sorted(set(present) - set(recorded))
    raw = {p: f.read_bytes() for p, f in present.items()}   # each page read once: hashed and parsed
    texts = {p: b.decode(errors="replace") for p, b in raw.items()}
    out.changed = sorted(p for p in set(recorded) & set(present) if docs.sha256(raw[p]) != recorded[p]["sha256"])
    reproduced: dict[str, list[str]] = {}
    for proc in procs.procedures.values():
        if not proc.page:
            continue
        if proc.page not in texts and proc.page not in recorded:
            out.not_in_version.append(f"{proc.name} ({proc.page})")   # never documented in this version
            continue
        for i, step in enumerate(proc.steps, 1):
            if step.documented is None:
                continue
            reproduced.setdefault(proc.page, []).append(step.documented)
            if not docs.is_on_page(step.documented, texts.get(proc.page, "")):   # a page gone: stale too
                out.stale.append(Stale(proc.name, i, step.where, proc.page, step.documented))
    for t in procs.traces:
        if t.page in texts or t.page in recorded:
            reproduced.setdefault(t.page, []).append(t.documented)
            if not docs.is_on_page(t.documented, texts.get(t.page, "")):
                out.stale.append(Stale(t.test, 0, t.where, t.page, t.documented))
    cited = {p for pages in record.claims.values() for p in pages}
    for page, text in texts.items():
        commands = docs.page_commands(text)
        if page not in cited:
            if commands:
                out.uncited[page] = len(commands)
            continue
        done = reproduced.get(page, [])
        missing = [(c.line, c.text) for c in commands if not any(c.text == d or c.text in d for d in done)]
        if missing:
            out.uncovered[page] = missing
    return out


def render(record: docs.Record, checks: list[VersionCheck], where: str) -> str:
    lines = [f"documentation check of {where} against the record ({record.commit_label()})"]
    for c in checks:
        lines.append(f"docs-v{c.version}: {c.pages} pages; {len(c.stale)} stale, "
                     f"{sum(len(v) for v in c.uncovered.values())} uncovered, {len(c.changed)} changed, "
                     f"{len(c.gone)} gone, {len(c.new)} new")
        for s in c.stale:
            what = f"procedure {s.procedure} step {s.step}" if s.step else f"test {s.procedure}"
            lines.append(f"  STALE      {what} ({s.where}): {_one_line(s.documented)!r} is no longer on {s.page}"
                         + (" (the page is gone)" if s.page in c.gone else ""))
        lines += [f"  changed    {p} (content hash differs from the record)" for p in c.changed]
        lines += [f"  gone       {p}" for p in c.gone]
        lines += [f"  new        {p} (not recorded)" for p in c.new]
        for page, cmds in sorted(c.uncovered.items()):
            lines.append(f"  uncovered on {page}:")
            lines += [f"    l.{n:<4} {_one_line(t)}" for n, t in cmds]
        if c.not_in_version:
            lines.append(f"  not in docs-v{c.version} (their page is not there): " + ", ".join(c.not_in_version))
        if c.uncited:
            lines.append("  pages no claim comes from (their commands are not listed): "
                         + ", ".join(f"{p} ({n})" for p, n in sorted(c.uncited.items())))
    return "\n".join(lines)


def render_recorded(record: docs.Record, procs: ProcedureFile, versions: list[str]) -> str:
    """Without a checkout: what is recorded, and how to detect changes."""
    lines = ["no --docs given: a checkout of vmware/photon's photon-hugo branch is needed to detect changes "
             "(git clone -b photon-hugo https://github.com/vmware/photon; photon-harness docs check --docs PATH)",
             f"recorded: {record.commit_label()}"]
    for v in versions:
        lines.append(f"docs-v{v} ({record.root(v)}):")
        for page, info in sorted(record.pages(v).items()):
            claims = sorted(c for c, pages in record.claims.items() if page in pages)
            lines.append(f"  {page}  sha256 {info['sha256'][:12]}  {len(info['commands'])} commands"
                         + (f"  claims {', '.join(claims)}" if claims else ""))
    lines.append("steps traced to a documented command:")
    for proc in procs.procedures.values():
        for i, step in enumerate(proc.steps, 1):
            if proc.page and step.documented:
                lines.append(f"  {proc.name} step {i}: {_one_line(step.documented)}  ({proc.page})")
    lines += [f"  {t.test}: {_one_line(t.documented)}  ({t.page})" for t in procs.traces]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return text if "\n" not in text else text.splitlines()[0] + f" ... ({len(text.splitlines())} lines)"


def to_json(record: docs.Record, checks: list[VersionCheck]) -> str:
    return json.dumps({"record": record.source, "versions": [asdict(c) for c in checks]}, indent=1)


# -- recording ------------------------------------------------------------------------------------
def git_commit(path: Path) -> tuple[str, str]:
    """(commit, committer date) of a git checkout, or ("", "") when PATH is not one."""
    try:
        out = subprocess.run(["git", "-C", str(path), "log", "-1", "--format=%H %cI"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "", ""
    parts = out.stdout.split()
    return (parts[0], parts[1]) if out.returncode == 0 and len(parts) == 2 else ("", "")


def record_checkout(path: Path, record: docs.Record, commit: str = "", date: str = "") -> dict:
    """A new record from a checkout: every page of the recorded areas, hashed, and the commands of
    those claims come from. The claims -> pages map is kept (it is curated by hand)."""
    root = content_root(path)
    if not commit:
        commit, date = git_commit(path)
    if not commit:
        raise HarnessError(f"--docs {path} is not a git checkout: give --commit and --date of what it holds")
    versions = {}
    for v in sorted(record.versions):
        vdir = version_dir(root, v)
        pages = {}
        cited = {p for ps in record.claims.values() for p in ps}
        for page, f in area_pages(vdir, record.source["areas"]).items():
            # commands only of the pages claims come from (those a reader checks against the steps)
            commands = docs.page_commands(f.read_text(errors="replace")) if page in cited else []
            pages[page] = {"sha256": docs.sha256(f.read_bytes()), "commands": [c.text for c in commands]}
        versions[v] = {"root": f"content/en/docs-v{v}", "pages": pages}
    source = dict(record.source, commit=commit, date=date)
    return {"source": source, "default_version": record.default_version, "versions": versions,
            "claims": record.claims}

"""Photon's documentation per version, as recorded: which pages each claim comes from, and the
commands those pages give in code.

`harness/data/documentation.json` records the source (vmware/photon, branch photon-hugo, the
commit read), for each docs version (4, 5) the pages with their content hash and the commands
found in their code, and for each claim the pages it comes from (paths relative to the version's
root, `content/en/docs-vN`). A claim is documented in a version when one of its pages exists there:
the rootless page exists only in docs-v5, so R1-R11 are "not documented in v4".

The extraction here is deliberately plain: fenced blocks (indented or not, with or without a
language), top-level indented blocks, and inline code spans. It records commands, never prose.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.core.errors import HarnessError

DATA = Path(__file__).resolve().parents[1] / "data" / "documentation.json"
# File contents shown in a block (a config file to write), not commands to run.
CONTENT_LANGS = {"ini", "json", "yaml", "yml", "toml", "xml"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)```+\s*(?P<lang>[\w+-]*)\s*$")
# A shell prompt before a command: `$ `, `# ` is not one (it starts comments), `user@host [ ~ ]$ `.
PROMPT = re.compile(r"^(?:\S+@\S+(?: \[[^\]]*\])?\s*)?\$ ")
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LOOP_START = re.compile(r"^\s*(for|while|until)\b.*\bdo\s*$")
LOOP_END = re.compile(r"^\s*done\b")


@dataclass(frozen=True)
class Command:
    text: str      # as a shell would read it: lines joined for continuations and loops
    line: int      # 1-based line of the page where it starts


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _columns(prefix: str) -> int:
    return sum(4 if c == "\t" else 1 for c in prefix)


def _dedent(line: str, width: int) -> str:
    """Remove up to `width` columns of leading whitespace (a tab counts four)."""
    i, col = 0, 0
    while i < len(line) and line[i] in " \t" and col < width:
        col += 4 if line[i] == "\t" else 1
        i += 1
    return line[i:]


def code_blocks(markdown: str) -> list[tuple[int, str, list[str]]]:
    """(first body line, language, body lines) of every code block: fenced, or indented at top
    level after a blank line (a tab or four spaces) outside any list."""
    lines = markdown.splitlines()
    out: list[tuple[int, str, list[str]]] = []
    i, in_list = 0, False
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            width, body, start = _columns(m["indent"]), [], i + 2
            i += 1
            while i < len(lines) and not FENCE.match(lines[i]):
                body.append(_dedent(lines[i], width).rstrip())
                i += 1
            out.append((start, m["lang"].lower(), body))
            i += 1
            continue
        line = lines[i]
        if re.match(r"^\s*(?:[-*+]|\d+\.)\s", line):
            in_list = True
        elif line.strip() and not line[0].isspace():
            in_list = False
        indented = line.startswith("\t") or line.startswith("    ")
        if indented and not in_list and line.strip() and (i == 0 or not lines[i - 1].strip()):
            body, start = [], i + 1
            while i < len(lines) and (lines[i].startswith(("\t", "    ")) or not lines[i].strip()):
                body.append(_dedent(lines[i], 4).rstrip())
                i += 1
            while body and not body[-1]:
                body.pop()
            out.append((start, "", body))
            continue
        i += 1
    return out


def _clean(line: str) -> str:
    """A code line as typed: no prompt, no trailing blanks, no backticks the page left inside the
    block (`ssh test_user@localhost` wrapped in them, or one stray at the end)."""
    line = PROMPT.sub("", line.rstrip())
    if len(line) > 1 and line.startswith("`") and line.endswith("`"):
        line = line[1:-1]
    elif line.count("`") == 1:
        line = line.replace("`", "")
    return line.rstrip()


def _logical(lines: list[tuple[int, str]]) -> list[Command]:
    """Join continuation lines (`\\`), loops (`for/while ... do` to `done`) and a quote left open."""
    out: list[Command] = []
    i = 0
    while i < len(lines):
        start, text = lines[i]
        depth = 1 if LOOP_START.match(text) else 0
        while i + 1 < len(lines) and (text.endswith("\\") or depth or text.count('"') % 2):
            i += 1
            nxt = lines[i][1]
            depth += 1 if LOOP_START.match(nxt) else 0
            depth -= 1 if LOOP_END.match(nxt) else 0
            text += "\n" + nxt
        out.append(Command(text, start))
        i += 1
    return out


def page_commands(markdown: str) -> list[Command]:
    """The commands of a page's code blocks, in order. A block that shows a prompt gives only its
    prompted lines (the rest is output); file-content blocks (ini, json, yaml) give none; `#` lines
    are comments. Output shown without a prompt, and captions the page indents, come out as
    commands too: a reader cannot tell them apart, and the check only lists them as uncovered."""
    commands: list[Command] = []
    for start, lang, body in code_blocks(markdown):
        if lang in CONTENT_LANGS:
            continue
        numbered = [(start + k, line) for k, line in enumerate(body)]
        prompted = [(n, line) for n, line in numbered if PROMPT.match(line)]
        keep = prompted or numbered
        kept = [(n, _clean(line)) for n, line in keep]
        kept = [(n, line) for n, line in kept if line.strip() and not line.lstrip().startswith("#")]
        commands += _logical(kept)
    return commands


@lru_cache(maxsize=64)   # the docs check asks once per traced step; a page is parsed once
def code_text(markdown: str) -> str:
    """Everything a page shows as code, cleaned line by line: where a documented command is looked for."""
    parts = ["\n".join(_clean(line) for line in body) for _, lang, body in code_blocks(markdown)]
    parts += [m.group(1).strip() for m in INLINE.finditer(markdown)]
    return "\n".join(parts)


def is_on_page(command: str, markdown: str) -> bool:
    """A documented command (one or more lines) appears verbatim in the page's code, line ends aside."""
    want = "\n".join(line.rstrip() for line in command.strip("\n").splitlines())
    return want in code_text(markdown)


# -- the record ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    source: dict                         # repository, branch, commit, date
    default_version: str                 # for targets whose version has no docs (and the stand-in)
    versions: dict[str, dict]            # "5" -> {"root": ..., "pages": {path: {"sha256", "commands"}}}
    claims: dict[str, list[str]]         # claim -> pages it comes from

    def pages(self, version: str) -> dict[str, dict]:
        return self.versions[version]["pages"]

    def root(self, version: str) -> str:
        return self.versions[version]["root"]

    def claim_pages(self, claim: str, version: str) -> list[str]:
        """The pages of `version` a claim comes from; empty when it is not documented there."""
        return [p for p in self.claims.get(claim, []) if p in self.pages(version)]

    def documented(self, claim: str, version: str) -> bool:
        return bool(self.claim_pages(claim, version))

    def page_url(self, page: str, version: str) -> str:
        """Where a page reads as it was recorded: the repository's file at the recorded commit."""
        s = self.source
        return f"https://github.com/{s['repository']}/blob/{s['commit']}/{self.root(version)}/{page}"

    def commit_label(self) -> str:
        s = self.source
        return f"{s['repository']} {s['branch']} @ {s['commit'][:12]} ({s['date'][:10]})"


def check_version(version: str, record: "Record | None" = None) -> str:
    """`version` if the record has it, else one clear error (for --docs-version)."""
    record = record or recorded()
    if version not in record.versions:
        raise HarnessError(f"--docs-version {version!r}: the recorded documentation has versions "
                           f"{', '.join(sorted(record.versions))}")
    return version


def version_for(base: str, version_id: str, record: "Record | None" = None) -> str:
    """The docs version that judges a target: Photon's major version (os-release VERSION_ID "4.0"
    -> "4") when recorded, else the default (the stand-in and other systems are judged against it)."""
    record = record or recorded()
    major = (version_id or "").split(".", 1)[0]
    if base == "photon" and major in record.versions:
        return major
    return record.default_version


def parse(data: dict) -> Record:
    try:
        return Record(data["source"], str(data["default_version"]), data["versions"], data["claims"])
    except KeyError as e:
        raise HarnessError(f"documentation record: missing {e}") from None


@lru_cache(maxsize=1)
def recorded() -> Record:
    try:
        return parse(json.loads(DATA.read_text()))
    except FileNotFoundError:
        raise HarnessError(f"documentation record {DATA} is missing") from None

"""The claim registry: documented claims by ID, parsed from claims.md.

`harness/data/claims.json` is generated from the project's shared claims.md
(`photon-harness claims --sync PATH`) so the harness works from a bare clone;
a test checks the two agree whenever claims.md is beside the checkout.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.core.errors import HarnessError

DATA = Path(__file__).resolve().parents[1] / "data" / "claims.json"
SHARED_CLAIMS = Path(__file__).resolve().parents[3] / "shared" / "claims.md"
CLAIM_LINE = re.compile(r"^- ([A-Z]\d+)\s+(.*)$")


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    text: str


def parse_claims_md(text: str) -> list[Claim]:
    claims: list[Claim] = []
    section, current = "", None
    for line in text.splitlines():
        if line.startswith("## "):
            section, current = line[3:].strip(), None
            continue
        m = CLAIM_LINE.match(line)
        if m:
            current = Claim(m.group(1), section, m.group(2).strip())
            claims.append(current)
        elif current and line.startswith("      ") and line.strip():
            # a wrapped continuation of the claim text (notes are indented less)
            claims[-1] = current = Claim(current.id, section, current.text + " " + line.strip())
        else:
            current = None
    if not claims:
        raise HarnessError("no claims found: expected lines like '- D1  text'")
    ids = [c.id for c in claims]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise HarnessError(f"duplicate claim IDs: {', '.join(dupes)}")
    return claims


@lru_cache(maxsize=1)
def registry() -> dict[str, Claim]:
    try:
        data = json.loads(DATA.read_text())
    except FileNotFoundError:
        raise HarnessError(f"claim registry {DATA} is missing; run `photon-harness claims --sync`") from None
    return {c["id"]: Claim(**c) for c in data}


def write_registry(claims: list[Claim], path: Path = DATA) -> None:
    path.write_text(json.dumps([c.__dict__ for c in claims], indent=1) + "\n")


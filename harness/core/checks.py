"""One line of `photon-harness doctor`: what was checked, whether it is fine, and the fix."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        tail = f" (fix: {self.fix})" if (self.fix and not self.ok) else ""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}{tail}"

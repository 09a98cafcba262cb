"""What a command run on a target gave back."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CommandResult:
    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration: float
    user: str = "root"

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def transcript(self) -> str:
        return (f"$ {self.command}    (as {self.user}, exit {self.exit_status}, {self.duration:.2f}s)\n"
                f"{self.stdout}" + (f"\n[stderr]\n{self.stderr}" if self.stderr.strip() else ""))

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
    via: str = ""        # what carried it as that user, when not the login itself (e.g. "sudo -n as admin")

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def transcript(self) -> str:
        via = f" via {self.via}" if self.via else ""
        return (f"$ {self.command}    (as {self.user}{via}, exit {self.exit_status}, {self.duration:.2f}s)\n"
                f"{self.stdout}" + (f"\n[stderr]\n{self.stderr}" if self.stderr.strip() else ""))

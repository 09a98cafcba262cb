"""testinfra over Target.run: `target.host.service(...)`, `.package(...)`, `.socket(...)`, `.file(...)`
work on container, VM and SSH targets alike, with the harness's timeouts and transcripts.

Checks about state (a unit enabled, a package owning a file, a port listening) use `target.host`;
where the literal documented command and its output are the claim, suites keep `target.run`.
"""
from __future__ import annotations

from typing import Any

from testinfra.backend.base import BaseBackend, CommandResult
from testinfra.host import Host

COMMAND_TIMEOUT = 120   # seconds, for one testinfra query on a slow target


class TargetBackend(BaseBackend):
    NAME = "photon-harness"

    def __init__(self, target, **kwargs: Any):
        self.target = target
        self.transcripts: list[str] = []   # every query, as the harness's own commands are kept
        super().__init__(target.spec.id, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        cmd = self.get_command(command, *args)
        r = self.target.run(cmd, timeout=COMMAND_TIMEOUT)
        self.transcripts.append(r.transcript())
        return self.result(r.exit_status, self.encode(cmd), r.stdout.encode(), r.stderr.encode())


def host_for(target) -> Host:
    host = Host(TargetBackend(target))
    host.backend.set_host(host)
    return host

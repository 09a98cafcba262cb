"""A minimal QMP client (QEMU's JSON control protocol) over the VM's unix socket."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from harness.core.errors import InfrastructureError
from harness.core.wait import WaitTimeout, wait_for


class Qmp:
    def __init__(self, path: Path, timeout: float = 30):
        self.path = path
        try:
            self.sock = wait_for(f"QMP socket {path}", lambda: self._connect(), lambda s: s is not None,
                                 timeout=timeout, interval=0.2)
        except WaitTimeout:
            raise InfrastructureError(f"QEMU's control socket {path} did not answer in {timeout:.0f}s") from None
        self.sock.settimeout(timeout)
        self.reader = self.sock.makefile("r")
        self._read()                      # the greeting
        self.execute("qmp_capabilities")

    def _connect(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(self.path))
            return s
        except OSError:
            s.close()
            return None

    def _read(self) -> dict:
        try:
            line = self.reader.readline()
        except OSError as e:   # QEMU went away (a restore that failed to load exits)
            raise InfrastructureError(f"QEMU's control socket {self.path}: {e}") from None
        if not line:
            raise InfrastructureError(f"QEMU closed its control socket {self.path}")
        return json.loads(line)

    def _send(self, message: dict) -> None:
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError as e:
            raise InfrastructureError(f"QEMU's control socket {self.path}: {e}") from None

    def execute(self, command: str, **arguments) -> dict:
        """Run one command; its "return" value (asynchronous events in between are skipped)."""
        self._send({"execute": command, **({"arguments": arguments} if arguments else {})})
        while True:
            msg = self._read()
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise InfrastructureError(f"QMP {command}: {msg['error'].get('desc', msg['error'])}")

    def wait_status(self, wanted: tuple[str, ...], timeout: float) -> str:
        """Poll `query-status` until the VM is in one of `wanted` (e.g. paused after an incoming migration)."""
        try:
            return wait_for(f"QEMU status in {wanted}", lambda: self.execute("query-status")["status"],
                            lambda s: s in wanted, timeout=timeout, interval=0.2)
        except WaitTimeout as e:
            raise InfrastructureError(f"QEMU stayed {e.last!r}, not {'/'.join(wanted)}, for {timeout:.0f}s") from None

    def save(self, state: Path, timeout: float = 300) -> float:
        """Stop the VM and write its whole state to `state` (migration to a file); seconds it took."""
        start = time.monotonic()
        self.execute("stop")
        self.execute("migrate", uri=f"exec:cat > {state}")
        try:
            wait_for("the VM's state to be written", lambda: self.execute("query-migrate").get("status"),
                     lambda s: s in ("completed", "failed", "cancelled"), timeout=timeout, interval=0.3)
        except WaitTimeout as e:
            raise InfrastructureError(f"saving the VM's state: migration still {e.last!r} after {timeout:.0f}s") from None
        status = self.execute("query-migrate")
        if status.get("status") != "completed":
            raise InfrastructureError(f"saving the VM's state failed: {status.get('error-desc', status)}")
        return time.monotonic() - start

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass

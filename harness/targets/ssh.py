"""An existing host the user already has (a Photon VM on vSphere, say): nothing booted or destroyed."""
from __future__ import annotations

from harness.core.errors import InfrastructureError
from harness.model.config import parse_host_url
from harness.targets.base import TargetSpec
from harness.targets.testinfra_backend import host_for
from harness.targets.ssh_commands import SshCommands


class SshTarget(SshCommands):
    def __init__(self, spec: TargetSpec, url: str, key_file: str | None = None, timeout: float = 30):
        self.spec = spec
        self.user, self.hostname, self.port = parse_host_url(url)
        self.key_file, self.timeout = key_file, timeout
        self.name = f"{self.user}@{self.hostname}:{self.port}"
        self.ssh = None
        self._host = None
        self.boot_seconds = 0.0

    def boot(self) -> "SshTarget":
        import paramiko
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.WarningPolicy())
        try:
            client.connect(self.hostname, port=self.port, username=self.user, key_filename=self.key_file,
                           timeout=self.timeout, banner_timeout=self.timeout, auth_timeout=self.timeout)
        except (paramiko.SSHException, OSError) as e:
            raise InfrastructureError(f"cannot reach {self.name} over SSH: {e}") from None
        self.ssh = client
        return self

    @property
    def host(self):
        if self._host is None:
            self._host = host_for(self)
        return self._host

    def close(self) -> None:
        # The host is the user's: only our connection goes.
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None

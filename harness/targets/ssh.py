"""An existing host the user already has (a Photon VM on vSphere, say): nothing booted or destroyed."""
from __future__ import annotations

from harness.core.errors import InfrastructureError
from harness.model.config import parse_host_url
from harness.targets.base import TargetSpec
from harness.targets.ssh_commands import Become, SshCommands


class SshTarget(SshCommands):
    """Logged in as the URL's user; root's commands go through sudo when that user is not root
    (Photon's sshd refuses root: PermitRootLogin no, vmware/photon 5.0-GA
    SPECS/openssh/0001-sshd_config-Avoid-duplicate-entry.patch)."""

    def __init__(self, spec: TargetSpec, url: str, key_file: str | None = None, timeout: float = 30,
                 sudo_password: str | None = None):
        self.spec = spec
        self.user, self.hostname, self.port = parse_host_url(url)
        self.login = self.user
        self.become = Become(self.user, sudo_password) if self.user != "root" else None
        self.key_file, self.timeout = key_file, timeout
        self.name = f"{self.user}@{self.hostname}:{self.port}"
        self.ssh = None
        self.boot_seconds = 0.0
        self.boot_kind = "an existing host: nothing booted"

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
        try:
            self.check_become(self.hostname)
        except InfrastructureError:
            self.close()
            raise
        return self

    def close(self) -> None:
        # The host is the user's: only our connection goes.
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None

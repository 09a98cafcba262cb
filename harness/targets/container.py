"""Container targets: a systemd container (PID 1 is systemd) on the host's dockerd."""
from __future__ import annotations

import io
import re
import select
import shlex
import tarfile
import time

import docker
import docker.errors
from docker.utils.socket import consume_socket_output, demux_adaptor, frames_iter

from harness.core.commands import CommandResult
from harness.core.errors import CommandTimeout, InfrastructureError
from harness.core.labels import session_labels
from harness.core.wait import WaitTimeout, wait_for
from harness.targets.base import PtySession, TargetBase, TargetSpec

class ContainerSession(PtySession):
    """An interactive command on a pseudo-terminal inside the container."""

    def __init__(self, api, exec_id: str, sock, describe: str):
        self._api, self._exec_id, self._sock = api, exec_id, sock
        self._raw = sock._sock
        super().__init__(describe)

    def _read(self, timeout: float):
        ready, _, _ = select.select([self._raw], [], [], timeout)
        if not ready:
            return None
        return self._raw.recv(65536)

    def _write(self, data: bytes) -> None:
        self._raw.sendall(data)

    def abort(self) -> None:
        """Hang up: closing the terminal ends the command (EOF on its input)."""
        self._sock.close()
        self.closed = True

    def close(self, timeout: float = 30) -> int:
        """Wait (bounded) for the command to end; return its exit status."""
        def exit_code() -> int | None:
            info = self._api.exec_inspect(self._exec_id)
            if not info["Running"]:
                return info["ExitCode"]
            chunk = self._read(0.5)   # keep reading, so the command never blocks on its output
            if chunk:
                self.buffer.text += chunk.decode(errors="replace")
            return None
        try:
            return wait_for("the interactive command to end", exit_code, lambda c: c is not None,
                            timeout=timeout, interval=0)
        except WaitTimeout:
            raise CommandTimeout(f"interactive session still running after {timeout:.0f}s; "
                                 f"last output: {self.buffer.text[-300:]!r}") from None
        finally:
            self.abort()


# A command of plain words whose first word is a program (not a shell builtin or keyword) runs
# without a shell: one exec fewer per command, so target.run keeps pace with a bare `docker exec`.
PLAIN_WORDS = re.compile(r"[A-Za-z0-9_./:,@%+-]+( [A-Za-z0-9_./:,@%+=-]+)*")
SHELL_WORDS = {"exit", "cd", "export", "set", "unset", "ulimit", "umask", "source", ".", "exec", "eval", "read",
               "wait", "trap", "shift", "return", "alias", "type", "command", "hash", "if", "for", "while",
               "case", "until", "!", "{", "local", "readonly", "times", "getopts", "jobs", "fg", "bg"}


def command_argv(command: str) -> list[str]:
    """What runs `command`: its words when a shell would add nothing, else /bin/sh -c."""
    if PLAIN_WORDS.fullmatch(command) and command.split()[0] not in SHELL_WORDS:
        return command.split()
    return ["/bin/sh", "-c", command]


def as_user(argv: list[str], user: str | None) -> list[str]:
    """`user`'s login shell runs it (`su -`), as on every backend: one meaning of `user`."""
    if not user or user == "root":
        return argv
    return ["su", "-", user, "-c", shlex.join(argv)]


class ContainerTarget(TargetBase):
    """Boots `spec.image` with systemd as PID 1 and runs commands in it."""

    def __init__(self, client: docker.DockerClient, spec: TargetSpec, session_id: str,
                 boot_timeout: float = 120):
        self.client, self.spec, self.session_id = client, spec, session_id
        self.boot_timeout = boot_timeout
        self.name = f"ph-{session_id}-{spec.id}-{int(time.time() * 1000) % 100000}"
        self.container = self.network = self.volume = None

    # -- lifecycle -------------------------------------------------------------
    def boot(self) -> "ContainerTarget":
        labels = session_labels(self.session_id)
        start = time.monotonic()
        try:
            self.network = self.client.networks.create(self.name, driver="bridge", labels=labels)
            # /var/lib/docker on a volume: the inner dockerd gets overlay2, not vfs.
            self.volume = self.client.volumes.create(self.name + "-docker", labels=labels)
            self.container = self.client.containers.run(
                self.spec.image, detach=True, name=self.name, hostname=self.spec.flavor,
                labels=labels, privileged=True, cgroupns="host",
                network=self.network.name,
                tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},
                volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                         self.volume.name: {"bind": "/var/lib/docker", "mode": "rw"}},
                security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            )
        except docker.errors.APIError as e:
            self.close()
            raise InfrastructureError(f"cannot start target {self.spec.id} from {self.spec.image}: "
                                      f"{e.explanation or e}") from None
        try:
            self.wait_until_booted(self.boot_timeout)
        except BaseException:
            self.close()
            raise
        self.boot_seconds = time.monotonic() - start
        return self

    def _check_still_booting(self) -> None:
        self.container.reload()
        if self.container.status != "running":
            raise InfrastructureError(f"target {self.spec.id} exited while booting (status {self.container.status}); "
                                      f"last log lines: {self._log_tail()}")

    def _boot_log(self) -> str:
        return f"last log lines: {self._log_tail()}"

    def _log_tail(self, n: int = 5) -> str:
        try:
            return " | ".join(self.container.logs(tail=n).decode(errors="replace").splitlines())
        except docker.errors.APIError:
            return "(no logs)"

    def close(self) -> None:
        for res, remove in ((self.container, lambda c: c.remove(force=True, v=True)),
                            (self.network, lambda n: n.remove()),
                            (self.volume, lambda v: v.remove(force=True))):
            if res is not None:
                try:
                    remove(res)
                except docker.errors.NotFound:
                    pass
        self.container = self.network = self.volume = None

    # -- commands --------------------------------------------------------------
    def run(self, command: str, user: str | None = None, timeout: float = 120,
            env: dict | None = None) -> CommandResult:
        """Run `command` with /bin/sh; bounded by coreutils timeout inside and a socket timeout here."""
        api = self.client.api
        argv = ["timeout", "-k", "5", str(int(timeout)), *as_user(command_argv(command), user)]
        start = time.monotonic()
        exec_id = api.exec_create(self.container.id, argv, environment=env, stdout=True, stderr=True)["Id"]
        sock = api.exec_start(exec_id, socket=True)
        sock._sock.settimeout(timeout + 15)
        try:
            frames = (demux_adaptor(*f) for f in frames_iter(sock, tty=False))
            out, err = consume_socket_output(frames, demux=True)
        except OSError:  # socket timeout: the in-target timeout did not fire
            raise CommandTimeout(f"{command!r} on {self.spec.id} gave no answer in {timeout + 15:.0f}s") from None
        finally:
            sock.close()
        duration = time.monotonic() - start
        code = api.exec_inspect(exec_id)["ExitCode"]
        if code in (124, 137) and duration >= timeout:
            raise CommandTimeout(f"{command!r} on {self.spec.id} ran past its {timeout:.0f}s timeout")
        return CommandResult(command, code, (out or b"").decode(errors="replace"),
                             (err or b"").decode(errors="replace"), duration, user or "root")

    def interactive(self, command: str, user: str | None = None) -> ContainerSession:
        """Start `command` on a pseudo-terminal, as `docker exec -it` would."""
        api = self.client.api
        argv = as_user(["/bin/sh", "-c", command], user)
        exec_id = api.exec_create(self.container.id, argv, tty=True, stdin=True, stdout=True, stderr=True)["Id"]
        sock = api.exec_start(exec_id, socket=True, tty=True)
        return ContainerSession(api, exec_id, sock, f"{command!r} on {self.spec.id}")

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        # The archive API writes to the container's file system, not into tmpfs mounts (/tmp, /run).
        directory, _, name = path.rpartition("/")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self.container.put_archive(directory or "/", buf.getvalue())

    def get_file(self, path: str) -> bytes:
        try:
            stream, _ = self.container.get_archive(path)
        except docker.errors.NotFound:
            raise FileNotFoundError(f"{path} on {self.spec.id}") from None
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            f = tar.extractfile(member)
            if f is None:
                raise IsADirectoryError(path)
            return f.read()

    access = "docker exec as root"

    def journal(self, unit: str | None = None, lines: int = 200) -> str:
        unit_arg = f"-u {shlex.quote(unit)} " if unit else ""
        return self.run(f"journalctl --no-pager {unit_arg}-n {lines}", timeout=30).stdout

"""What a target's state says, read with commands (or testinfra) on it: systemd units and when
they have settled, the journal's last error, package ownership and versions, a binary's flags,
environment files, processes and listening sockets. No pytest here."""
from __future__ import annotations

import re
from shlex import quote as q
import time
from dataclasses import dataclass

from harness.core.wait import WaitTimeout, wait_for


@dataclass
class UnitState:
    unit: str
    props: dict

    @property
    def active(self) -> str:
        return self.props.get("ActiveState", "")

    @property
    def sub(self) -> str:
        return self.props.get("SubState", "")

    @property
    def main_pid(self) -> int:
        return int(self.props.get("MainPID") or 0)

    @property
    def restarts(self) -> int:
        return int(self.props.get("NRestarts") or 0)

    @property
    def restart(self) -> str:
        return self.props.get("Restart", "")

    def describe(self) -> str:
        keys = ("ActiveState", "SubState", "Result", "MainPID", "NRestarts", "ExecMainCode", "ExecMainStatus")
        return f"{self.unit}: " + " ".join(f"{k}={self.props.get(k, '?')}" for k in keys)


UNIT_PROPS = ("ActiveState", "SubState", "Result", "MainPID", "NRestarts", "Restart", "RestartUSec",
              "UnitFileState", "FragmentPath", "LoadState", "ExecMainCode", "ExecMainStatus", "User",
              "EnvironmentFiles", "Type", "KillMode")


def unit_state(target, unit: str) -> UnitState:
    r = target.run(f"systemctl show {q(unit)} " + " ".join(f"-p {p}" for p in UNIT_PROPS), timeout=30)
    props = {}
    for line in r.stdout.splitlines():
        k, sep, v = line.partition("=")
        if sep and k == "EnvironmentFiles":   # one line per file
            props[k] = (props.get(k, "") + "\n" + v).strip()
        elif sep:
            props[k] = v
    return UnitState(unit, props)


def settle(target, unit: str, stable: float = 8, timeout: float = 90) -> UnitState:
    return settle_all(target, [unit], stable, timeout)[unit]


ERROR_LINE = re.compile(r'^(Error: .*|.*"command failed".*|F\d{4} .*|.*failed to run Kubelet.*|.*error: .*)$', re.M)


def service_error(target, unit: str, lines: int = 400) -> str:
    """The service's own words for why it stopped: its last error line in the journal."""
    r = target.run(f"journalctl -u {q(unit)} -o cat --no-pager -n {lines}", timeout=30)
    found = ERROR_LINE.findall(r.stdout)
    if found:
        return found[-1].strip()[:600]
    tail = [l for l in r.stdout.splitlines() if l.strip()]
    return (tail[-1] if tail else "(no journal lines)")[:600]


def package_manager(target) -> str:
    return "rpm" if target.run("command -v rpm >/dev/null && rpm -q rpm >/dev/null 2>&1").ok else "dpkg"


def owner_of(target, path: str) -> tuple[str | None, str]:
    """(package owning `path` or None, the package manager's answer)."""
    if package_manager(target) == "rpm":
        r = target.run(f"rpm -qf --queryformat '%{{NAME}}\\n' {q(path)}")
        out = (r.stdout + r.stderr).strip()
        return (out.splitlines()[0] if r.ok and out else None), f"$ rpm -qf {path}\n{out}"
    r = target.run(f"dpkg -S {q(path)}")
    out = (r.stdout + r.stderr).strip()
    m = re.match(r"^([^:\s]+)(:\S+)?: ", out) if r.ok else None
    return (m.group(1) if m else None), f"$ dpkg -S {path}\n{out}"


def installed_version(target, package: str) -> tuple[str | None, str]:
    """(version of an installed package or None, what was asked): testinfra's package check (rpm or dpkg)."""
    pkg = target.host.package(package)
    if not pkg.is_installed:
        return None, f"{package}: not installed (testinfra {type(pkg).__name__}: {target.host.backend.transcripts[-1]})"
    return pkg.version, f"{package} {pkg.version} installed (testinfra {type(pkg).__name__})"


def conffiles(target, package: str) -> list[str]:
    """Files the package marks as configuration (rpm -qc / dpkg's Conffiles)."""
    if package_manager(target) == "rpm":
        return target.run(f"rpm -qc {q(package)}").stdout.split()
    out = target.run(f"dpkg-query -W -f='${{Conffiles}}' {q(package)}").stdout
    return [l.split()[0] for l in out.splitlines() if l.strip()]


_help_cache: dict[tuple[str, str], str] = {}


def binary_help(target, binary: str) -> str:
    key = (getattr(target, "name", str(id(target))), binary)
    if key not in _help_cache:
        _help_cache[key] = target.run(f"{q(binary)} --help 2>&1", timeout=60).stdout
    return _help_cache[key]


def flag_known(target, binary: str, flag: str) -> bool:
    """Does `binary` accept `flag`? Kubernetes commands read '_' as '-' in flag names."""
    name = flag.lstrip("-").split("=", 1)[0].replace("_", "-")
    return re.search(rf"^\s+(-\w, )?--{re.escape(name)}[\s=]", binary_help(target, binary), re.M) is not None


def read_env_file(target, path: str) -> dict[str, str]:
    out = {}
    for line in target.run(f"cat {q(path)}").stdout.splitlines():
        m = re.match(r'^\s*([A-Z_][A-Z0-9_]*)="?(.*?)"?\s*$', line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def write_env_vars(target, path: str, values: dict[str, str]) -> None:
    """Set VAR="value" lines in an environment file (replace the assignment, else append)."""
    text = target.run(f"cat {q(path)}").stdout
    lines = text.splitlines()
    for var, value in values.items():
        new = f'{var}="{value}"'
        for i, line in enumerate(lines):
            if re.match(rf"^\s*{var}=", line):
                lines[i] = new
                break
        else:
            lines.append(new)
    target.put_file(path, ("\n".join(lines) + "\n").encode(), mode=0o644)


def process_cmdline(target, pid: int) -> str:
    """The process's command line; a read that comes back empty while it runs is asked again (bounded):
    one empty answer under load once failed K3 with the process listening as configured."""
    if not pid:
        return ""

    def read():
        return target.run(f"tr '\\0' ' ' < /proc/{pid}/cmdline")
    try:
        return wait_for(f"the command line of PID {pid}", read, lambda r: r.stdout.strip(),
                        timeout=10, interval=1).stdout.strip()
    except WaitTimeout as e:
        return f"(empty: exit {e.last.exit_status}, {e.last.stderr.strip()[-200:] or 'no error output'})"


def listening_pids(target, port: int) -> str:
    return target.run(f"ss -Hltnp 'sport = :{port}'").stdout


def settle_all(target, units, stable: float = 8, timeout: float = 90) -> dict[str, UnitState]:
    """Wait until each unit is active with one main PID for `stable` seconds, or has given up
    (failed/inactive); a unit still restarting when time runs out is reported as it is then.
    The units' stability windows overlap."""
    seen: dict[str, tuple[int, float]] = {}    # unit -> (main PID, since when)
    last: dict[str, UnitState] = {}
    settled: dict[str, UnitState] = {}

    def poll() -> int:
        for u in units:
            if u in settled:
                continue
            st = last[u] = unit_state(target, u)
            if st.active in ("failed", "inactive"):
                settled[u] = st
            elif st.active == "active" and st.main_pid:
                pid, since = seen.get(u, (0, 0.0))
                if pid != st.main_pid:
                    seen[u] = (st.main_pid, time.monotonic())
                elif time.monotonic() - since >= stable:
                    settled[u] = st
            else:
                seen.pop(u, None)
        return len(settled)
    try:
        wait_for(f"{', '.join(units)} on {target.spec.id} to settle", poll, lambda n: n == len(units),
                 timeout=timeout)
    except WaitTimeout:
        pass   # reported as they are now: a restart loop is a state, not an error
    return {u: settled.get(u, last[u]) for u in units}

"""An existing host whose sshd refuses root, as Photon's does, reached as a user with sudo (#32).

The host is a stand-in full-flavour container on this machine's dockerd, with sshd as Photon's
openssh package configures it (`PermitRootLogin no`, images/standin/customize.sh), reached from here
over SSH at its address. Three logins: `admin` (sudo without a password), `pwadmin` (sudo asks for a
password) and `nosudo`. The containers suite and the rootless set-up over `admin` must give the same
verdicts as the same image as a container target (root through docker exec).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest

from harness.artifacts.build import flavor_image
from harness.core.labels import new_session_id
from harness.ops.reap import count_labelled
from harness.targets.base import TargetSpec
from harness.targets.container import ContainerTarget

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Ph-sudo-selftest-4q7"   # fixed: it is part of test ids, which every xdist worker must agree on
SUITES = ["suites/containers", "suites/rootless/test_rootless_setup.py"]
# The project's R6 entry (known-differences.yaml) is scoped to container targets: this SSH host is a container
# on the same module-less kernel, so both runs here get the same entry for either backend.
KNOWN = """\
- claim: R6
  observed: "asks for `modprobe ip_tables` because ip_tables is listed in neither /proc/modules"
  target: {base: standin}
  tracker: https://github.com/docker/docker-install/issues/103
  reason: self-test host, a container on this module-less CI kernel (as known-differences.yaml's entry)
  review-by: 2999-12-31
"""

pytestmark = pytest.mark.xdist_group("sudo-host-selftest")


@pytest.fixture(scope="module")
def sudo_host(docker_client, tmp_path_factory):
    """(address, private key file): a Photon-like host whose sshd refuses root, with three logins."""
    work = tmp_path_factory.mktemp("sudo-host")
    key = work / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    session = "selftest-" + new_session_id()
    image = flavor_image(docker_client, "standin", "full").tag
    host = ContainerTarget(docker_client, TargetSpec("standin", "full", "container", image), session).boot()
    try:
        pub = key.with_suffix(".pub").read_text().strip()
        setup = host.run(
            "set -e; for u in admin pwadmin nosudo; do useradd -m -s /bin/bash $u; done; "
            f"echo 'pwadmin:{PASSWORD}' | chpasswd; echo 'nosudo:{PASSWORD}' | chpasswd; "
            "echo 'admin ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-admin; "
            "echo 'pwadmin ALL=(ALL) ALL' > /etc/sudoers.d/90-pwadmin; chmod 440 /etc/sudoers.d/90-*; "
            f"for h in /root /home/admin /home/pwadmin /home/nosudo; do mkdir -p -m 700 $h/.ssh; "
            f"echo '{pub}' > $h/.ssh/authorized_keys; chmod 600 $h/.ssh/authorized_keys; "
            "chown -R --reference=$h $h/.ssh; done; "
            # what udev gives a VM (the harness does the same on container targets): rootless needs them
            "chmod 666 /dev/net/tun /dev/fuse; systemctl start ssh.service", timeout=120)
        assert setup.ok, setup.stderr
        assert host.run("grep -x 'PermitRootLogin no' /etc/ssh/sshd_config").ok, "Photon's sshd setting is missing"
        host.container.reload()
        address = next(iter(host.container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
        yield address, key, session
    finally:
        host.close()
    assert count_labelled(docker_client, session).total() == 0


def pytest_run(*args, session=None, timeout=1200):
    env = dict(os.environ, PHOTON_HARNESS_SESSION=session or "selftest-" + new_session_id())
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:randomly", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=1500):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def verdicts(report: Path) -> dict[str, str]:
    """Test function (without the target parameter) -> outcome."""
    data = json.loads((report / "results.json").read_text())
    return {r["nodeid"].split("[")[0]: r["outcome"] for r in data["results"]}


def test_root_login_is_refused_by_the_hosts_sshd(sudo_host):
    address, key, _ = sudo_host
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    pkey = paramiko.Ed25519Key.from_private_key_file(str(key))
    with pytest.raises(paramiko.AuthenticationException):   # root holds the same key in authorized_keys
        client.connect(address, username="root", pkey=pkey, allow_agent=False, look_for_keys=False, timeout=20)
    client.connect(address, username="admin", pkey=pkey, allow_agent=False, look_for_keys=False, timeout=20)
    client.close()


@pytest.mark.parametrize("login, password, message", [
    pytest.param("pwadmin", None, "sudo on {address} asks pwadmin for a password (before it says whether pwadmin may use sudo "
                      "at all): give it with --sudo-password-file FILE", id="sudo-asks-a-password"),
    pytest.param("pwadmin", "wrong", "sudo on {address} refused the password in --sudo-password-file for pwadmin",
                 id="wrong-password"),
    pytest.param("nosudo", PASSWORD, "nosudo may not use sudo on {address}", id="no-sudo-rights"),
    pytest.param("root", None, "cannot reach root@{address}:22 over SSH", id="root-refused"),
])
def test_a_login_that_cannot_reach_root_stops_the_run_at_start_in_one_line(sudo_host, tmp_path, login, password,
                                                                          message):
    address, key, _ = sudo_host
    extra = []
    if password:
        (tmp_path / "pw").write_text(password + "\n")
        extra = ["--sudo-password-file", str(tmp_path / "pw")]
    code, out = finish(pytest_run("suites/containers", "--backend", "ssh", "--host", f"ssh://{login}@{address}",
                                  "--ssh-key", str(key), "--flavor", "full", *extra), timeout=300)
    errors = [line for line in out.splitlines() if line.startswith("ERROR:")]
    assert code == 4 and len(errors) == 1 and message.format(address=address) in errors[0], out[-2000:]
    assert "Traceback" not in out, out[-2000:]


def test_the_suites_over_a_sudo_login_give_the_verdicts_of_root(sudo_host, tmp_path):
    """Same image, same tests: over SSH as `admin` (root's steps through `sudo -n`) and as a container
    target (root). Documented test_user steps still run in test_user's own SSH login."""
    address, key, session = sudo_host
    known = tmp_path / "known.yaml"
    known.write_text(KNOWN)
    over_ssh = pytest_run(*SUITES, "--backend", "ssh", "--host", f"ssh://admin@{address}", "--ssh-key", str(key),
                          "--flavor", "full", "--base", "standin", "--known-differences", str(known),
                          "--report-dir", str(tmp_path / "ssh"), "--alluredir", str(tmp_path / "allure"))
    as_root = pytest_run(*SUITES, "--backend", "container", "--flavor", "full", "--base", "standin",
                         "--known-differences", str(known), "--report-dir", str(tmp_path / "root"))
    (ssh_code, ssh_out), (root_code, root_out) = finish(over_ssh), finish(as_root)
    assert root_code == 0, root_out[-3000:]
    assert ssh_code == 0, ssh_out[-3000:]
    ssh, root = verdicts(tmp_path / "ssh"), verdicts(tmp_path / "root")
    differ = {t: (ssh.get(t), root.get(t)) for t in ssh.keys() | root.keys() if ssh.get(t) != root.get(t)}
    assert len(ssh) == 15 and not differ, (len(ssh), differ)   # 7 containers tests on full, 8 rootless set-up
    records = json.loads((tmp_path / "ssh" / "results.json").read_text())["results"]
    access = {a for r in records for a in r["evidence"].get("access", [])}
    assert any("SSH as admin; root's commands via sudo -n as admin" in a for a in access), access
    # The documented steps' transcripts (allure attachments): root's carried by sudo, test_user's in its own login.
    text = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "allure").glob("*-attachment*"))
    assert "$ useradd -m test_user    (as root via sudo -n as admin, exit 0" in text
    assert "$ dockerd-rootless-setuptool.sh check    (as test_user, exit" in text   # its own SSH login, no sudo


def test_a_sudo_password_is_used_and_never_recorded(sudo_host, tmp_path):
    address, key, _ = sudo_host
    secret = tmp_path / "sudo-password"
    secret.write_text(PASSWORD + "\n")
    code, out = finish(pytest_run("suites/containers", "--backend", "ssh", "--host", f"ssh://pwadmin@{address}",
                                  "--ssh-key", str(key), "--sudo-password-file", str(secret), "--flavor", "full",
                                  "--base", "standin", "-k", "enabled_by_default or docker_info",
                                  "--report-dir", str(tmp_path / "report"), "--junitxml", str(tmp_path / "j.xml"),
                                  "--alluredir", str(tmp_path / "allure")), timeout=600)
    assert code == 0, out[-3000:]
    assert re.search(r"= 2 passed, 5 deselected", out), out[-1000:]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != secret]
    leaks = [str(p) for p in written if PASSWORD.encode() in p.read_bytes()]
    assert not leaks and PASSWORD not in out, leaks

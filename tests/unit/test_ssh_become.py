"""How an SSH login that is not root runs root's and other users' commands (the boundary, SSH, is not
touched: only the command lines are checked here; tests/integration/test_sudo_host.py runs them)."""
import pytest

from harness.targets.base import TargetSpec
from harness.targets.ssh_commands import Become, SshCommands, sudo_problem


def commands(login: str, password: str | None = None) -> SshCommands:
    c = SshCommands()
    c.spec, c.login = TargetSpec("user", "full", "ssh"), login
    c.become = Become(login, password) if login != "root" else None
    return c


def test_root_login_runs_as_before():
    c = commands("root")
    assert c._line("id -u", None, None) == ("id -u", "")
    assert c._line("id -u", "test_user", None) == ("su - test_user -c 'id -u'", "")


def test_a_sudo_login_carries_roots_commands_and_other_users_through_sudo():
    c = commands("admin")
    assert c._line("tdnf install -y docker", None, None) == (
        "sudo -n -- /bin/sh -c 'tdnf install -y docker'", "sudo -n as admin")
    assert c._line("id -u", "test_user", None) == (
        "sudo -n -- /bin/sh -c 'su - test_user -c '\"'\"'id -u'\"'\"''", "sudo -n as admin")
    assert c._line("id -u", "admin", None) == ("id -u", "")   # the login itself: as it is
    assert c.access == "SSH as admin; root's commands via sudo -n as admin"


def test_a_password_goes_to_sudos_input_never_into_the_command_line():
    c = commands("pwadmin", password="s3cret")
    line, via = c._line("systemctl start docker", None, {"X": "1"})
    assert line == "sudo -S -p '' -- /bin/sh -c 'X=1 systemctl start docker'" and "s3cret" not in line + via
    assert "s3cret" not in repr(c.become)


@pytest.mark.parametrize("stderr, with_password, says", [
    ("sudo: a password is required", False, "asks admin for a password (before it says whether admin may use sudo"),
    ("admin is not in the sudoers file.  This incident will be reported.", False, "admin may not use sudo"),
    ("/bin/sh: 1: sudo: not found", False, "admin@h has no sudo"),
    ("Sorry, try again.\nsudo: 1 incorrect password attempt", True, "refused the password in --sudo-password-file"),
])
def test_what_stands_in_the_way_is_one_line(stderr, with_password, says):
    line = sudo_problem("admin", "h", stderr, with_password)
    assert says in line and "\n" not in line

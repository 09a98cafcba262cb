"""target.run skips the shell only where a shell would add nothing."""
import pytest

from harness.targets.container import command_argv


@pytest.mark.parametrize("command, argv", [
    ("true", ["true"]),
    ("systemctl is-enabled docker.service", ["systemctl", "is-enabled", "docker.service"]),
    ("sysctl -w net.ipv4.ip_unprivileged_port_start=1024", ["sysctl", "-w", "net.ipv4.ip_unprivileged_port_start=1024"]),
])
def test_plain_program_words_run_without_a_shell(command, argv):
    assert command_argv(command) == argv


@pytest.mark.parametrize("command", [
    "exit 3", "cd /tmp", "export A=1", "A=1 env", "echo $HOME", "ls *", "a && b", "echo 'x y'", "cat f | wc -l",
    "echo out; echo err >&2", "test -e /x || echo no", "  true", "true ", "printf '%s\\n' x",
])
def test_anything_a_shell_would_interpret_keeps_the_shell(command):
    assert command_argv(command) == ["/bin/sh", "-c", command]

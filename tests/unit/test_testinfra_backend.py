"""testinfra's modules run through Target.run (the boundary faked: a target that answers commands)."""
from harness.core.commands import CommandResult
from harness.targets.base import TargetSpec
from harness.targets.testinfra_backend import host_for


class AnsweringTarget:
    spec = TargetSpec("standin", "full", "container")

    def __init__(self, answers):
        self.answers, self.ran = answers, []

    def run(self, command, timeout=120):
        self.ran.append((command, timeout))
        for needle, (status, out) in self.answers.items():
            if needle in command:
                return CommandResult(command, status, out, "", 0.01)
        return CommandResult(command, 1, "", "not found", 0.01)


def test_service_and_file_checks_go_through_target_run_with_a_timeout():
    t = AnsweringTarget({"uname -s": (0, "Linux\n"), "uname -m": (0, "x86_64\n"), "os-release": (0, 'ID=debian\nVERSION_ID="12"\n'),
                         "command -v systemctl": (0, "/usr/bin/systemctl\n"), "/run/systemd/system": (0, ""),
                         "systemctl is-enabled docker": (0, "enabled\n"),
                         "stat -Lc %a /etc/subuid": (0, "644\n"), "test -e /etc/subuid": (0, "")})
    host = host_for(t)
    assert host.service("docker").is_enabled
    assert host.file("/etc/subuid").mode == 0o644
    assert all(timeout == 120 for _, timeout in t.ran)
    assert any("systemctl is-enabled docker" in line for line in host.backend.transcripts)

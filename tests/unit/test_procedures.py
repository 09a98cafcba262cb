import textwrap

import pytest

from harness.core.commands import CommandResult
from harness.model import procedures as proc

GOOD = """\
procedures:
  start:
    source: docs
    steps:
      - run: systemctl start docker
        claims: [D3]
      - run: systemctl is-active docker
        user: test_user
        timeout: 5
        claims: [D3, D2]
        expect: {exit: [0, 3], stdout: {regex: "^active$"}, stderr: {literal: ""}}
"""


def write(tmp_path, text):
    p = tmp_path / "procedures.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_loads_steps_with_defaults(tmp_path):
    p = proc.load_file(write(tmp_path, GOOD))["start"]
    a, b = p.steps
    assert (a.run, a.user, a.timeout, a.exit, a.claims) == ("systemctl start docker", "root", 60, (0,), ("D3",))
    assert (b.user, b.timeout, b.exit, b.stdout.kind) == ("test_user", 5.0, (0, 3), "regex")
    assert p.claims == ("D3", "D2") and a.where == "procedures.yaml:5"


@pytest.mark.parametrize("text, line, message", [
    ("procedures:\n  p:\n    steps:\n      - run: x\n", 4, "'claims'"),
    ("procedures:\n  p:\n    steps:\n      - run: x\n        claims: [Z9]\n", 5, "unknown claim ID 'Z9'"),
    ("procedures:\n  p:\n    steps:\n      - run: x\n        claims: [D1]\n        tmeout: 3\n", 6, "unknown key 'tmeout'"),
    ("procedures:\n  p:\n    steps:\n      - run: x\n        claims: [D1]\n        timeout: -1\n", 6, "positive"),
    ("procedures:\n  p:\n    steps:\n      - run: x\n        claims: [D1]\n        expect: {stdout: {regex: '('}}\n", 6, "does not compile"),
    ("procedures:\n  p:\n    steps:\n      - claims: [D1]\n", 4, "'run'"),
    ("procedures:\n  p:\n    steps: []\n", 3, "non-empty"),
    ("procedures:\n  p: [\n", 3, "not valid YAML"),
    ("other: 1\n", 1, "must have the key 'procedures'"),
    ("procedures:\n  p:\n    steps:\n      - run: 5\n        claims: [D1]\n", 4, "run must be str"),
    ("procedures:\n  p:\n    steps:\n      - run: x\n        claims: [D1]\n        documented: 5\n", 6,
     "documented must be the documented command"),
    ("procedures:\n  p:\n    steps:\n      - run: x\n        claims: [D1]\n        documented: heredoc\n", 6,
     "needs a run that writes a file"),
    ("procedures:\n  p:\n    page: /etc/passwd\n    steps:\n      - run: x\n        claims: [D1]\n", 3,
     "page must be a .md path"),
    ("procedures:\n  p:\n    steps:\n      - run: x\n        claims: [D1]\nchecked-in-code:\n  - page: a.md\n"
     "    documented: x\n", 7, "needs exactly claims, documented, page, test"),
])
def test_malformed_files_name_file_line_and_problem(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(proc.ProcedureFileError) as e:
        proc.load_file(path)
    assert str(e.value).startswith(f"{path}:{line}: ")
    assert message in str(e.value)


class ScriptedTarget:
    """Boundary fake for the logic around a target: returns scripted results."""
    class spec:
        id = "fake"

    def __init__(self, results):
        self.results, self.calls = list(results), []

    def run(self, command, user=None, timeout=60):
        self.calls.append((command, user, timeout))
        code, out = self.results.pop(0)
        return CommandResult(command, code, out, "", 0.01)


def test_apply_keeps_a_transcript_and_names_claims_on_deviation(tmp_path):
    p = proc.load_file(write(tmp_path, GOOD))["start"]
    t = proc.apply(p, ScriptedTarget([(0, ""), (0, "active\n")]))
    assert t.ok and len(t.outcomes) == 2 and "systemctl is-active docker" in t.text()
    with pytest.raises(proc.StepFailed) as e:
        proc.apply(p, ScriptedTarget([(0, ""), (3, "inactive\n")]))
    assert str(e.value).startswith("[D3, D2] documented step `systemctl is-active docker`")
    assert "expected stdout to contain regex '^active$'" in str(e.value)


def test_steps_run_as_their_user_with_their_timeout(tmp_path):
    p = proc.load_file(write(tmp_path, GOOD))["start"]
    target = ScriptedTarget([(0, ""), (0, "active")])
    proc.apply(p, target)
    assert target.calls == [("systemctl start docker", None, 60), ("systemctl is-active docker", "test_user", 5.0)]


def test_shipped_procedure_files_are_valid():
    files = sorted(proc.SUITES.glob("*/procedures.yaml"))
    assert files
    for f in files:
        assert proc.load_file(f)


def test_photon_only_steps_are_not_applied_on_other_systems(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("procedures:\n  p:\n    steps:\n"
                 "      - run: tdnf install -y x\n        photon-only: true\n        claims: [R3]\n"
                 "      - run: useradd -m u\n        claims: [R4]\n")
    p = proc.load_file(f)["p"]
    assert p.steps[0].photon_only and not p.steps[1].photon_only
    ran = []

    class Target:
        spec = None

        def run(self, command, user=None, timeout=60):
            ran.append(command)
            return CommandResult(command, 0, "", "", 0.0)

    t = proc.apply(p, Target(), photon_tooling=False)
    assert ran == ["useradd -m u"] and [s.run for s in t.not_applied] == ["tdnf install -y x"] and t.ok
    assert "not applied: `tdnf install -y x`" in t.text()
    ran.clear()
    assert proc.apply(p, Target()).ok and ran == ["tdnf install -y x", "useradd -m u"]
    f.write_text(f.read_text().replace("photon-only: true", "photon-only: maybe"))
    with pytest.raises(proc.ProcedureFileError, match=r"p.yaml:5: photon-only must be true or false"):
        proc.load_file(f)


def test_a_failed_step_names_its_page_and_the_command_it_reproduces(tmp_path):
    text = ("procedures:\n  p:\n    page: administration-guide/containers/docker-containers.md\n    steps:\n"
            "      - run: docker info --format x\n        documented: docker info\n        claims: [D4]\n"
            "      - run: systemctl start docker\n        claims: [D3]\n")
    p = proc.load_file(write(tmp_path, text))["p"]
    page = "administration-guide/containers/docker-containers.md"
    with pytest.raises(proc.StepFailed) as e:
        proc.apply(p, ScriptedTarget([(1, "")]))
    assert str(e.value).splitlines()[0].endswith(f"got 1 [docs: {page}, which documents `docker info`]")
    with pytest.raises(proc.StepFailed) as e:
        proc.apply(p, ScriptedTarget([(0, ""), (1, "")]))
    assert str(e.value).splitlines()[0].endswith(f"got 1 [docs: {page}]")

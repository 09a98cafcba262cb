"""Documented procedures as data: load, validate, apply on a target, keep a transcript.

A procedure file is YAML:

    procedures:
      start-docker:
        source: "Containers, 1 - Docker Containers"
        page: administration-guide/containers/docker-containers.md   # under content/en/docs-vN
        steps:
          - run: systemctl start docker     # the command as the docs write it
            user: root                      # default root
            timeout: 60                     # seconds, default 60
            claims: [D3]                    # at least one known claim ID
            photon-only: true               # Photon's own tooling (tdnf): not applied on other systems
            documented: false               # a check of the harness's own, no documented command; or the
                                            # documented command this step adapts (default: `run` itself);
                                            # heredoc: the file content run writes with <<'EOF' ... EOF
            expect:
              exit: 0                       # an int or a list of ints, default 0
              stdout: {regex: "..."}        # or {literal: "..."}; stderr likewise

    checked-in-code:                        # documented commands a Python test reproduces
      - page: administration-guide/containers/docker-containers.md
        documented: docker info
        test: test_docker_containers.py::test_docker_info_as_root
        claims: [D4]

`page` and `documented` trace each step to the command it reproduces; `photon-harness docs check`
holds them to a checkout of the documentation. Malformed files fail with the file, the line and what is wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.core.commands import CommandResult
from harness.core.errors import HarnessError
from harness.model.claims import registry
from harness.model.verdicts import ClaimFailure

# The suites' procedure files, beside the harness in a checkout (the package is installed editable).
SUITES = Path(__file__).resolve().parents[2] / "suites"
STEP_KEYS = {"name", "run", "user", "timeout", "claims", "expect", "photon-only", "documented"}
TRACE_KEYS = {"page", "documented", "test", "claims"}
EXPECT_KEYS = {"exit", "stdout", "stderr"}


class ProcedureFileError(HarnessError):
    pass


@dataclass(frozen=True)
class OutputExpectation:
    kind: str    # literal | regex
    value: str

    def matches(self, text: str) -> bool:
        if self.kind == "literal":
            return self.value in text
        return re.search(self.value, text, re.M) is not None

    def describe(self) -> str:
        return f"{self.kind} {self.value!r}"


@dataclass(frozen=True)
class Step:
    run: str
    claims: tuple[str, ...]
    user: str = "root"
    timeout: float = 60
    exit: tuple[int, ...] = (0,)
    stdout: OutputExpectation | None = None
    stderr: OutputExpectation | None = None
    name: str = ""
    where: str = ""          # file:line, for messages
    photon_only: bool = False  # Photon's own tooling: applies to Photon targets (and the stand-in's adapters)
    documented: str | None = None   # the documented command it reproduces; None: a check of the harness's own


@dataclass(frozen=True)
class Procedure:
    name: str
    source: str
    steps: tuple[Step, ...]
    where: str = ""
    page: str = ""     # the documentation page it follows, relative to content/en/docs-vN; "" = none

    @property
    def claims(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for s in self.steps:
            seen.update(dict.fromkeys(s.claims))
        return tuple(seen)


@dataclass(frozen=True)
class CodeTrace:
    """A documented command reproduced by a Python test rather than a procedure step."""
    page: str
    documented: str
    test: str
    claims: tuple[str, ...]
    where: str = ""


@dataclass(frozen=True)
class ProcedureFile:
    procedures: dict[str, Procedure]
    traces: tuple[CodeTrace, ...] = ()


@dataclass
class StepOutcome:
    step: Step
    result: CommandResult
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Transcript:
    procedure: Procedure
    target: str
    outcomes: list[StepOutcome] = field(default_factory=list)
    not_applied: list[Step] = field(default_factory=list)   # Photon-only steps on a target that is not Photon

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and \
            len(self.outcomes) + len(self.not_applied) == len(self.procedure.steps)

    def text(self) -> str:
        parts = [f"procedure {self.procedure.name} on {self.target}"]
        parts += [f"(not applied: `{s.run}` is Photon-only and this target is not Photon)" for s in self.not_applied]
        for o in self.outcomes:
            parts.append(o.result.transcript())
            parts += [f"  !! {p}" for p in o.problems]
        return "\n".join(parts)


class StepFailed(ClaimFailure):
    """A documented step did not behave as documented: a failure of the claims the step serves."""

    def __init__(self, outcome: StepOutcome, transcript: Transcript):
        self.outcome, self.transcript = outcome, transcript
        s = outcome.step
        observed = f"--- output ---\n{outcome.result.stdout[-1500:]}" + (
            f"\n--- stderr ---\n{outcome.result.stderr[-800:]}" if outcome.result.stderr.strip() else "")
        page = transcript.procedure.page
        trace = "" if not (page and s.documented) else f" [docs: {page}]" if s.documented == s.run else \
            f" [docs: {page}, which documents `{s.documented.splitlines()[0]}`]"
        super().__init__(s.claims, f"documented step `{s.run}` ({s.where}) on {transcript.target}: "
                         + "; ".join(outcome.problems) + trace, observed)


# -- loading -------------------------------------------------------------------
def _err(path: Path, node, msg: str) -> ProcedureFileError:
    line = node.start_mark.line + 1 if node is not None else 1
    return ProcedureFileError(f"{path}:{line}: {msg}")


def _mapping(path, node, what) -> dict:
    if not isinstance(node, yaml.MappingNode):
        raise _err(path, node, f"{what} must be a mapping")
    out = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise _err(path, k, f"{what} keys must be plain names")
        if k.value in out:
            raise _err(path, k, f"{what} has {k.value!r} twice")
        out[k.value] = (k, v)
    return out


def _scalar(path, node, what, types):
    value = yaml.safe_load(yaml.serialize(node)) if node is not None else None
    if not isinstance(value, types) or isinstance(value, bool):
        want = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise _err(path, node, f"{what} must be {want}, got {value!r}")
    return value


def _expectation(path, node, what) -> OutputExpectation:
    fields = _mapping(path, node, what)
    if len(fields) != 1 or next(iter(fields)) not in ("literal", "regex"):
        raise _err(path, node, f"{what} must be {{literal: TEXT}} or {{regex: PATTERN}}")
    kind, (_, v) = next(iter(fields.items()))
    value = _scalar(path, v, f"{what}.{kind}", str)
    if kind == "regex":
        try:
            re.compile(value)
        except re.error as e:
            raise _err(path, v, f"{what}.regex does not compile: {e}") from None
    return OutputExpectation(kind, value)


def _claims(path, cnode) -> tuple[str, ...]:
    if not isinstance(cnode, yaml.SequenceNode) or not cnode.value:
        raise _err(path, cnode, "claims must be a non-empty list of claim IDs")
    claims = tuple(_scalar(path, c, "claim ID", str) for c in cnode.value)
    known = registry()
    for c, cn in zip(claims, cnode.value):
        if c not in known:
            raise _err(path, cn, f"unknown claim ID {c!r}")
    return claims


def _page(path, node) -> str:
    page = _scalar(path, node, "page", str)
    if page.startswith("/") or not page.endswith(".md") or ".." in page.split("/"):
        raise _err(path, node, f"page must be a .md path under content/en/docs-vN, got {page!r}")
    return page


def _heredoc_body(path, node, run: str) -> str:
    """`documented: heredoc`: the page shows a file's content and the step writes it with a heredoc."""
    m = re.search(r"<<-?'?(\w+)'?\n(.*?)\n\1$", run, re.S | re.M)
    if not m:
        raise _err(path, node, "documented: heredoc needs a run that writes a file with <<'EOF' ... EOF")
    return m.group(2)


def _trace(path, node, index) -> CodeTrace:
    fields = _mapping(path, node, f"checked-in-code entry {index}")
    if set(fields) != TRACE_KEYS:
        raise _err(path, node, f"checked-in-code entry {index} needs exactly {', '.join(sorted(TRACE_KEYS))}")
    return CodeTrace(_page(path, fields["page"][1]), _scalar(path, fields["documented"][1], "documented", str),
                     _scalar(path, fields["test"][1], "test", str), _claims(path, fields["claims"][1]),
                     f"{path.name}:{node.start_mark.line + 1}")


def _step(path, node, index) -> Step:
    fields = _mapping(path, node, f"step {index}")
    unknown = set(fields) - STEP_KEYS
    if unknown:
        raise _err(path, fields[sorted(unknown)[0]][0],
                   f"step {index}: unknown key {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(STEP_KEYS))})")
    if "run" not in fields:
        raise _err(path, node, f"step {index}: 'run' (the documented command) is required")
    if "claims" not in fields:
        raise _err(path, node, f"step {index}: 'claims' (the claim IDs it serves) is required")
    run = _scalar(path, fields["run"][1], "run", str)
    claims = _claims(path, fields["claims"][1])
    kw = {}
    if "user" in fields:
        kw["user"] = _scalar(path, fields["user"][1], "user", str)
    if "photon-only" in fields:
        value = yaml.safe_load(yaml.serialize(fields["photon-only"][1]))
        if not isinstance(value, bool):
            raise _err(path, fields["photon-only"][1], f"photon-only must be true or false, got {value!r}")
        kw["photon_only"] = value
    if "name" in fields:
        kw["name"] = _scalar(path, fields["name"][1], "name", str)
    kw["documented"] = run
    if "documented" in fields:
        value = yaml.safe_load(yaml.serialize(fields["documented"][1]))
        if value is not False and not (isinstance(value, str) and value.strip()):
            raise _err(path, fields["documented"][1], "documented must be the documented command this step "
                                                      f"reproduces, or false for a check of the harness's own; got {value!r}")
        kw["documented"] = value or None
        if value == "heredoc":
            kw["documented"] = _heredoc_body(path, fields["documented"][1], run)
    if "timeout" in fields:
        t = _scalar(path, fields["timeout"][1], "timeout", (int, float))
        if t <= 0:
            raise _err(path, fields["timeout"][1], "timeout must be positive")
        kw["timeout"] = float(t)
    if "expect" in fields:
        exp = _mapping(path, fields["expect"][1], "expect")
        bad = set(exp) - EXPECT_KEYS
        if bad:
            raise _err(path, exp[sorted(bad)[0]][0], f"expect: unknown key {sorted(bad)[0]!r}")
        if "exit" in exp:
            en = exp["exit"][1]
            if isinstance(en, yaml.SequenceNode):
                kw["exit"] = tuple(_scalar(path, x, "exit", int) for x in en.value)
            else:
                kw["exit"] = (_scalar(path, en, "exit", int),)
        for stream in ("stdout", "stderr"):
            if stream in exp:
                kw[stream] = _expectation(path, exp[stream][1], f"expect.{stream}")
    return Step(run=run, claims=claims, where=f"{path.name}:{node.start_mark.line + 1}", **kw)


def load_file(path: Path) -> dict[str, Procedure]:
    return load(path).procedures


def load(path: Path) -> ProcedureFile:
    path = Path(path)
    try:
        root = yaml.compose(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ProcedureFileError(f"{path}:{line}: not valid YAML: {getattr(e, 'problem', e)}") from None
    except OSError as e:
        raise ProcedureFileError(f"{path}: cannot read: {e.strerror}") from None
    if root is None:
        raise ProcedureFileError(f"{path}:1: empty file")
    top = _mapping(path, root, "the file")
    if "procedures" not in top or set(top) - {"procedures", "checked-in-code"}:
        raise _err(path, root, "the file must have the key 'procedures' (and may have 'checked-in-code'), nothing else")
    out = {}
    for name, (knode, pnode) in _mapping(path, top["procedures"][1], "procedures").items():
        fields = _mapping(path, pnode, f"procedure {name!r}")
        bad = set(fields) - {"source", "page", "steps"}
        if bad:
            raise _err(path, fields[sorted(bad)[0]][0], f"procedure {name!r}: unknown key {sorted(bad)[0]!r}")
        if "steps" not in fields:
            raise _err(path, pnode, f"procedure {name!r} has no steps")
        snode = fields["steps"][1]
        if not isinstance(snode, yaml.SequenceNode) or not snode.value:
            raise _err(path, snode, f"procedure {name!r}: steps must be a non-empty list")
        source = _scalar(path, fields["source"][1], "source", str) if "source" in fields else ""
        page = _page(path, fields["page"][1]) if "page" in fields else ""
        steps = tuple(_step(path, s, i + 1) for i, s in enumerate(snode.value))
        out[name] = Procedure(name, source, steps, f"{path.name}:{knode.start_mark.line + 1}", page)
    traces: tuple[CodeTrace, ...] = ()
    if "checked-in-code" in top:
        tnode = top["checked-in-code"][1]
        if not isinstance(tnode, yaml.SequenceNode):
            raise _err(path, tnode, "checked-in-code must be a list")
        traces = tuple(_trace(path, t, i + 1) for i, t in enumerate(tnode.value))
    return ProcedureFile(out, traces)


def load_suites(suites: Path = SUITES) -> ProcedureFile:
    """Every suite's procedures.yaml; a mistake is one HarnessError naming file and line."""
    found: dict[str, Procedure] = {}
    traces: list[CodeTrace] = []
    for f in sorted(Path(suites).glob("*/procedures.yaml")):
        loaded = load(f)
        clash = set(found) & set(loaded.procedures)
        if clash:
            raise HarnessError(f"{f}: procedure {sorted(clash)[0]!r} is defined twice")
        found.update(loaded.procedures)
        traces += loaded.traces
    return ProcedureFile(found, tuple(traces))


# -- applying --------------------------------------------------------------------
def check_step(step: Step, result: CommandResult) -> list[str]:
    problems = []
    if result.exit_status not in step.exit:
        want = step.exit[0] if len(step.exit) == 1 else list(step.exit)
        problems.append(f"expected exit {want}, got {result.exit_status}")
    for stream in ("stdout", "stderr"):
        exp = getattr(step, stream)
        if exp and not exp.matches(getattr(result, stream)):
            problems.append(f"expected {stream} to contain {exp.describe()}")
    return problems


def apply(procedure: Procedure, target, on_step=None, stop_on_failure: bool = True,
          photon_tooling: bool = True) -> Transcript:
    """Run every step on `target`; raise StepFailed at the first step that deviates.

    photon_tooling=False (a target that is neither Photon nor the stand-in with its adapters):
    Photon-only steps are not run, and the transcript lists them as not applied.
    """
    transcript = Transcript(procedure, getattr(target.spec, "id", str(target)))
    for step in procedure.steps:
        if step.photon_only and not photon_tooling:
            transcript.not_applied.append(step)
            continue
        user = None if step.user == "root" else step.user
        result = target.run(step.run, user=user, timeout=step.timeout)
        result.user = step.user
        outcome = StepOutcome(step, result, check_step(step, result))
        transcript.outcomes.append(outcome)
        if on_step:
            on_step(outcome)
        if not outcome.ok and stop_on_failure:
            raise StepFailed(outcome, transcript)
    return transcript

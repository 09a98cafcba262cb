"""results.json: a run's machine-readable result, versioned, with its JSON Schema in harness/data.

The file holds the run, its targets, one TestRecord per test and the claims x targets matrix.
Readers (compare, --baseline, history) accept only the schema version they were written for:
another version is refused with one line naming both.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from harness.core.errors import HarnessError
from harness.model.verdicts import TestRecord
from harness.report.claim_summary import summarize
from harness.report.matrix import Matrix, RunInfo, TargetInfo, identity_banner

FORMAT = "photon-harness-results"
SCHEMA_VERSION = 1
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "results.schema.json"
FILE = "results.json"


@dataclass
class Results:
    path: Path
    run: dict
    targets: list[TargetInfo]
    records: list[TestRecord]
    matrix: dict[str, dict[str, str]]   # claim -> target id -> state

    def target(self, target_id: str) -> TargetInfo:
        return next((t for t in self.targets if t.id == target_id), TargetInfo(target_id))


def document(m: Matrix, run: RunInfo) -> dict:
    summary = summarize(m)
    return {"format": FORMAT, "schema_version": SCHEMA_VERSION,
            "run": dict(asdict(run), banner=identity_banner(m.targets)[0]),
            "targets": [asdict(t) for t in m.targets],
            "results": [r.to_dict() for r in m.results],
            "matrix": {c.id: {t.id: cell.state for t, cell in zip(m.targets, cells)} for c, cells in m.rows()},
            "claims": {c: dict({"overall": state}, **({"not_judged": summary.why_not[c]} if c in summary.why_not
                                                      else {})) for c, state in summary.overall.items()},
            "headline": summary.lines()}


def schema() -> dict:
    return json.loads(SCHEMA.read_text())


def validate(data: dict, where: str) -> None:
    """One HarnessError line if `data` is not results of this schema version."""
    import jsonschema
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise HarnessError(f"{where}: not a photon-harness results file (no \"format\": \"{FORMAT}\")")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise HarnessError(f"{where}: results schema version {version}; this harness reads version {SCHEMA_VERSION}")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(data))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise HarnessError(f"{where}: does not match {SCHEMA.name} at {at}: {error.message[:300]}")


def results_path(path: str | Path) -> Path:
    """A results.json, or a report directory holding one."""
    p = Path(path)
    return p / FILE if p.is_dir() else p


def load(path: str | Path) -> Results:
    p = results_path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise HarnessError(f"{p}: no such file (give a results.json or a report directory)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{p}: cannot read: {e}") from None
    except json.JSONDecodeError as e:
        raise HarnessError(f"{p}:{e.lineno}: not JSON: {e.msg}") from None
    return parse(data, str(p), p)


def parse(data: dict, where: str, path: Path | None = None) -> Results:
    validate(data, where)
    known = {f.name for f in fields(TargetInfo)}
    targets = [TargetInfo(**{k: v for k, v in t.items() if k in known}) for t in data["targets"]]
    return Results(path or Path(where), data["run"], targets, [TestRecord.from_dict(r) for r in data["results"]],
                   data["matrix"])

"""One report from the shards of a matrix run (`photon-harness matrix run`).

Each shard leaves, in its own directory: plan.json (its tests, their targets and claims), a record
per finished test (report/records/), and, if it ran to its end, its report, JUnit and allure
results. Merging reads the records, never a shard's rendered report, so a shard whose pod died
mid-run still counts what it finished; each test of its plan without a record becomes an error
record naming the pod and its reason (OOMKilled, Evicted, ErrImagePull, ...): never passed, never
missing. The merged report is written by the same code as a local run's.
"""
from __future__ import annotations

import json
import shutil
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.model.verdicts import NO_TARGET, TestRecord
from harness.report.matrix import TargetInfo

PLAN_FILE, RECORDS_DIR, REPORT_DIR = "plan.json", "records", "report"
JUNIT_FILE, ALLURE_DIR, EXIT_FILE, TIMINGS_FILE = "junit.xml", "allure", "exit", "timings.json"
IDENTITY_FIELDS = ("base", "flavor", "backend", "image", "source", "os", "version", "digest", "docs_version")


@dataclass
class ShardEnd:
    """How a shard's pod ended, as the controller saw it."""
    index: int
    pod: str = ""       # "" when no pod was ever created for it
    reason: str = ""    # why it did not run to its end, in the cluster's words; "" when it did


def observed_targets(records: list[TestRecord]) -> list[TargetInfo]:
    """The targets the records saw, as read from them after boot (a record without an identity, such as
    a test that never ran, does not hide what another test on the same target read)."""
    seen = {r.target: TargetInfo(r.target, **{k: r.identity.get(k, "") for k in IDENTITY_FIELDS})
            for r in sorted(records, key=lambda r: bool(r.identity)) if r.target != NO_TARGET}
    return list(seen.values())


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def shard_records(where: Path, end: ShardEnd, plan_tests: list[dict]) -> tuple[list[TestRecord], list[TestRecord]]:
    """What shard `end.index` finished, and an error record for each test of its plan it did not
    (also returned apart: they have no JUnit case or allure result of their own)."""
    records = {}
    for f in sorted((where / REPORT_DIR / RECORDS_DIR).glob("*.json")):
        data = read_json(f)
        if data is not None:
            r = TestRecord.from_dict(data)
            records[r.nodeid] = r
    own_plan = read_json(where / REPORT_DIR / PLAN_FILE)
    tests = own_plan["tests"] if own_plan else plan_tests
    why = (f"shard {end.index}'s pod {end.pod or '(none)'} ended: {end.reason}" if end.reason
           else f"shard {end.index} ended without a record of this test")
    made_up = [TestRecord(nodeid=t["nodeid"], claims={c: "error" for c in t["claims"]}, outcome="error",
                          target=t["target"], message=f"not run to its end: {why}; no verdict on its claims")
               for t in tests if t["nodeid"] not in records]
    return list(records.values()) + made_up, made_up


def junit_cases(path: Path) -> list[ET.Element]:
    try:
        return list(ET.parse(path).getroot().iter("testcase"))
    except (OSError, ET.ParseError):
        return []


def merge_junit(shard_dirs: list[Path], made_up: list[TestRecord], out: Path) -> None:
    """One JUnit file: every shard's test cases, and an <error> case per made-up error record."""
    suite = ET.Element("testsuite", name="photon-harness matrix")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for d in shard_dirs:
        for case in junit_cases(d / JUNIT_FILE):
            suite.append(case)
            seconds += float(case.get("time") or 0)
    for r in made_up:
        path, _, name = r.nodeid.rpartition("::")
        case = ET.SubElement(suite, "testcase", classname=path.replace("/", ".").removesuffix(".py"), name=name,
                             time="0")
        ET.SubElement(case, "error", message=r.message[:500]).text = r.message
    for case in suite.iter("testcase"):
        total["tests"] += 1
        for tag, counter in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if case.find(tag) is not None:
                total[counter] += 1
    suite.attrib.update({k: str(v) for k, v in total.items()}, time=f"{seconds:.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)


def merge_allure(shard_dirs: list[Path], made_up: list[TestRecord], out: Path) -> None:
    """One allure results directory: every shard's files (uuid-named) and a broken result per made-up record."""
    out.mkdir(parents=True, exist_ok=True)
    for d in shard_dirs:
        for f in sorted((d / ALLURE_DIR).glob("*")) if (d / ALLURE_DIR).is_dir() else []:
            shutil.copy2(f, out / f.name)
    for r in made_up:
        u = str(uuid.uuid4())
        (out / f"{u}-result.json").write_text(json.dumps({
            "uuid": u, "historyId": r.nodeid, "fullName": r.nodeid, "name": r.nodeid.split("::")[-1],
            "status": "broken", "stage": "finished", "statusDetails": {"message": r.message},
            "labels": [{"name": "verdict", "value": "error"}] + [{"name": "tag", "value": c} for c in r.claims]}))

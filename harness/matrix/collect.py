"""A matrix run's results, home: fetched through the collector pod, merged into one report.

The shards' whole results tree is kept beside the merged report (shards/shard-K/: each shard's
own report, JUnit, allure results, attachments), and the records' attachment paths point there.
"""
from __future__ import annotations

import base64
import io
import shutil
import sys
import tarfile
import time
from pathlib import Path

from harness.artifacts.matrix_runner import SOURCE_DIR
from harness.core.errors import InfrastructureError
from harness.core.paths import REPO_ROOT
from harness.infra.kube import Kube
from harness.matrix import job
from harness.model import documentation
from harness.model.claims import registry
from harness.model.verdicts import OUTCOMES
from harness.report import matrix as rpt
from harness.report import publish
from harness.report.merge import REPORT_DIR, TIMINGS_FILE, ShardEnd, merge_allure, merge_junit, observed_targets, \
    read_json, shard_records
from harness.report.results import FILE as RESULTS_FILE


def fetch(kube: Kube, run: str, collector: str, timeout: float = 600) -> bytes:
    """The run's results tree as a gzipped tar (base64 over the exec stream: it carries text)."""
    code, text = kube.exec(run, collector, ["sh", "-c", f"tar -C {job.RESULTS}/{run} -czf - . 2>/dev/null | base64 -w0"],
                           timeout=timeout)
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise InfrastructureError(f"reading the results from pod {collector} failed (exit {code}): {text[-300:]}") from None


def local_path(in_runner: str) -> str:
    """A file of the runner's tree, named as the caller's copy of it (the image holds the caller's tree)."""
    return str(REPO_ROOT / in_runner[len(SOURCE_DIR) + 1:]) if in_runner.startswith(SOURCE_DIR + "/") else in_runner


def unpack(data: bytes, where: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(where, filter="data")


def write_report(data: bytes, run: str, ends: list[ShardEnd], work, plan: dict, out, session: str,
                 started: str) -> tuple[str, bool]:
    """Merge and write the report, JUnit and allure results; (a summary line, whether anything failed)."""
    shards_dir = out.report_dir / "shards"
    if shards_dir.exists():
        shutil.rmtree(shards_dir)
    shards_dir.mkdir(parents=True)
    unpack(data, shards_dir)
    records, made_up = [], []
    for end, shard in zip(ends, work):
        got, made = shard_records(shards_dir / f"shard-{shard.index}", end, shard.tests)
        records += got
        made_up += made
    pod_prefix = f"{job.RESULTS}/{run}/"
    for r in records:   # attachments were written in the pod: point at the copies here
        r.attachments = [str(shards_dir / a[len(pod_prefix):]) if a.startswith(pod_prefix) else a
                         for a in r.attachments]
    shard_dirs = [shards_dir / f"shard-{s.index}" for s in work]
    runs = [r["run"] for r in (read_json(d / REPORT_DIR / RESULTS_FILE) for d in shard_dirs) if r]
    first = runs[0] if runs else {}
    planned = [rpt.TargetInfo(t["id"], "", t["flavor"], t["backend"], source=t["source"],
                              docs_version=plan["docs_version"]) for t in plan["targets"]]
    judged = [r for r in records if r.claims]
    m = rpt.build(list(registry().values()), planned, judged, observed_targets(judged))
    dead = [e for e in ends if e.reason]
    outcome = (f"{len(ends)} shard(s), all ran to their end" if not dead else
               f"{len(ends)} shard(s); " + "; ".join(f"shard {e.index} did not end normally: {e.reason}" for e in dead))
    info = rpt.RunInfo(session, plan["banner"], started,
                       time.strftime("%Y-%m-%d %H:%M:%S"), "photon-harness " + " ".join(sys.argv[1:]),
                       local_path(first.get("known_differences_file", "")), outcome,
                       harness_version=first.get("harness_version") or publish.harness_version(),
                       docs_version=plan["docs_version"], docs_source=documentation.recorded().commit_label())
    page, _ = publish.write_report(out.report_dir, m, info)
    merge_junit(shard_dirs, made_up, out.junitxml)
    merge_allure(shard_dirs, made_up, out.alluredir)
    counts = {o: sum(r.outcome == o for r in records) for o in OUTCOMES}
    for d in shard_dirs:   # where each shard's time went, in its pod
        spent = read_json(d / TIMINGS_FILE)
        if spent:
            print(f"[matrix] {d.name} in its pod: " + ", ".join(f"{k} {v:.0f} s" for k, v in spent.items()), flush=True)
    summary = (f"{len(records)} tests: " + ", ".join(f"{n} {o}" for o, n in counts.items() if n)
               + f"; report {page}, JUnit {out.junitxml}, allure results {out.alluredir}")
    return summary, bool(counts["failed"] or counts["error"])

"""A rehearsal's outcome and the verdict on it: what the scheduler's end-of-build summary, the
artefacts read back and the cluster's objects say about B1, B4, B5 and B6. Pure: tested on
recorded summaries, with no cluster (tests/unit/test_rehearsal_verdict.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.rehearsal.packages import dependants


class RehearsalFailed(Exception):
    """Ends a rehearsal early: `cause` is a short category, the message says what and where."""

    def __init__(self, cause: str, message: str):
        super().__init__(message)
        self.cause = cause


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class RehearsalResult:
    build_id: str
    namespace: str
    pods: int
    nfs: str
    expected_failures: list[str] = field(default_factory=list)
    cause: str = ""                   # "" when the rehearsal ran to its end; else the failure's category
    failure: str = ""                 # one paragraph naming the cause
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)      # "Kind/name" in creation order
    deleted: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)    # what still existed after the cleanup wait
    summary: dict | None = None        # the scheduler's end-of-build summary
    rest: list[Check] = field(default_factory=list)       # the endpoints, called through the API server
    master_pods: set[str] = field(default_factory=set)
    worker_pods: dict[str, str] = field(default_factory=dict)   # pod -> node
    max_workers_running: int = 0
    max_masters_running: int = 0
    artefacts: dict[str, dict] = field(default_factory=dict)    # RPM file name -> its JSON, read via nfspod
    listing: list[str] = field(default_factory=list)            # files under build-<id>/photon/stage
    checks: list[Check] = field(default_factory=list)
    worker_logs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.cause and all(c.passed for c in self.checks)

    def report(self) -> str:
        return "\n".join(self.lines)


def judge(r: RehearsalResult, graph: dict[str, list[str]], pods: int) -> list[Check]:
    """The checks a finished (or ended) rehearsal passes or fails, from what it recorded."""
    checks: list[Check] = []
    s = r.summary
    failing = set(r.expected_failures)
    blocked = set().union(*(dependants(graph, p) for p in failing)) if failing else set()
    to_build = set(graph) - failing - blocked
    if s is not None:
        pk = s["packages"]
        twice = {p: v["handed_out"] for p, v in pk.items() if v["handed_out"] > 1}
        unbuilt = sorted(p for p in to_build if pk[p]["state"] != "built")
        checks.append(Check("every package built exactly once",
                            not twice and not unbuilt and not s.get("anomalies"),
                            f"{len(to_build) - len(unbuilt)}/{len(to_build)} built"
                            + (f"; handed out more than once: {twice}" if twice else "")
                            + (f"; not built: {', '.join(unbuilt)}" if unbuilt else "")
                            + (f"; anomalies: {s['anomalies']}" if s.get("anomalies") else "")))
        wrong = []
        for p, v in pk.items():
            if v["scheduled"] is None:
                continue
            for req in v["requires"]:
                done = pk[req]["finished"]
                if pk[req]["state"] != "built" or done is None or done > v["scheduled"]:
                    wrong.append(f"{p} started before {req} was built")
        checks.append(Check("in dependency order", not wrong,
                            "every package was handed out after all its build requirements were built"
                            if not wrong else "; ".join(wrong)))
        if failing:
            bad = [p for p in failing if pk[p]["state"] != "failed"]
            built_dependants = sorted(p for p in blocked if pk[p]["state"] != "blocked" or p in r.artefacts)
            checks.append(Check("a failed package is reported and its dependants are not built",
                                not bad and not built_dependants,
                                f"failed: {', '.join(sorted(failing))}; not built (blocked): "
                                f"{', '.join(sorted(blocked)) or 'none'}"
                                + (f"; NOT reported as failed: {bad}" if bad else "")
                                + (f"; built anyway: {built_dependants}" if built_dependants else "")))
        by_worker: dict[str, list[str]] = {}
        for p, v in pk.items():
            if v["worker"]:
                by_worker.setdefault(v["worker"], []).append(p)
        idle = sorted(set(r.worker_pods) - set(by_worker))
        if pods > 1:
            checks.append(Check("every worker got work", not idle and len(by_worker) >= pods,
                                ", ".join(f"{w} ({r.worker_pods.get(w, '?')}): {len(ps)}"
                                          for w, ps in sorted(by_worker.items()))
                                + (f"; got nothing: {', '.join(idle)}" if idle else "")))
        built = sorted(p for p, v in pk.items() if v["state"] == "built")
        missing = [p for p in built if p not in r.artefacts]
        mismatch = [p for p in built if p in r.artefacts and r.artefacts[p]["built_by"] != pk[p]["worker"]]
        checks.append(Check("artefacts visible through the nfspod", not missing and not mismatch,
                            f"{len(built) - len(missing)}/{len(built)} RPMs under stage/RPMS, each naming the "
                            f"worker the scheduler handed it to"
                            + (f"; missing: {missing}" if missing else "")
                            + (f"; built by another worker: {mismatch}" if mismatch else "")))
        reqs = s.get("requests", {})
        counts = {k: v for k, v in reqs.items() if k.startswith(("GET /package/", "POST /notifybuild/"))}
        rest_ok = (reqs.get("GET /package/ 200", 0) == sum(v["handed_out"] for v in pk.values())
                   and reqs.get("GET /package/ 204", 0) > 0
                   and reqs.get("POST /notifybuild/ 200", 0) >= len([v for v in pk.values() if v["finished"]]))
        checks.append(Check("workers made the REST calls", rest_ok,
                            ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))))
    if r.rest:
        checks.append(Check("endpoints answer as documented", all(c.passed for c in r.rest),
                            "; ".join(f"{c.name} -> {c.detail}" for c in r.rest if not c.passed) or
                            "; ".join(f"{c.name} -> {c.detail.split()[0]}" for c in r.rest)))
    if r.worker_pods:
        checks.append(Check("one master pod and `pods` worker pods",
                            len(r.master_pods) == 1 and r.max_workers_running == pods,
                            f"master pods: {len(r.master_pods)}; worker pods running at once: "
                            f"{r.max_workers_running} of {pods}"))
    checks.append(Check("everything deleted afterwards", not r.leftovers,
                        f"{len(r.deleted)} objects deleted" if not r.leftovers else "left: " + ", ".join(r.leftovers)))
    return checks

"""The rehearsal's verdict, judged without a cluster: summaries in the scheduler's own format
(images/distributed-build/scheduler.py `snapshot()`), the artefacts read back, the objects left."""
import copy

from harness.rehearsal.verdict import RehearsalResult, judge

GRAPH = {"glibc": [], "openssl": ["glibc"], "curl": ["openssl"], "zlib": ["glibc"]}


def package(state, worker, requires, scheduled, finished, handed_out=1):
    return {"state": state, "worker": worker, "requires": requires, "scheduled": scheduled, "finished": finished,
            "handed_out": handed_out, "outcome_asked": "ok"}


def good_run(**changes) -> RehearsalResult:
    pk = {"glibc": package("built", "w-1", [], 10.0, 12.0),
          "openssl": package("built", "w-2", ["glibc"], 12.5, 14.0),
          "zlib": package("built", "w-1", ["glibc"], 12.6, 13.5),
          "curl": package("built", "w-2", ["openssl"], 14.2, 16.0)}
    r = RehearsalResult("ab12", "ph-build", 2, "10.0.0.2:/export")
    r.summary = {"packages": pk, "anomalies": [], "result": "built",
                 "requests": {"GET /package/ 200": 4, "GET /package/ 204": 6, "POST /notifybuild/ 200": 4}}
    r.worker_pods = {"w-1": "node-a", "w-2": "node-b"}
    r.master_pods, r.max_workers_running = {"master-ab12"}, 2
    r.artefacts = {p: {"built_by": v["worker"]} for p, v in pk.items()}
    r.deleted = ["Job/master-ab12"]
    for k, v in changes.items():
        setattr(r, k, v)
    return r


def failed(checks):
    return {c.name for c in checks if not c.passed}


def test_a_clean_build_passes_every_check():
    checks = judge(good_run(), GRAPH, pods=2)
    assert failed(checks) == set() and len(checks) == 7


def test_a_package_started_before_its_requirement_was_built_is_out_of_order():
    r = good_run()
    r.summary["packages"]["curl"]["scheduled"] = 13.0   # openssl finished at 14.0
    assert failed(judge(r, GRAPH, pods=2)) == {"in dependency order"}


def test_a_package_handed_out_twice_and_an_idle_worker_fail_their_checks():
    r = good_run()
    r.summary["packages"]["zlib"]["handed_out"] = 2
    r.summary["requests"]["GET /package/ 200"] = 5
    assert failed(judge(r, GRAPH, pods=2)) == {"every package built exactly once"}
    r = good_run(worker_pods={"w-1": "node-a", "w-2": "node-b", "w-3": "node-a"}, max_workers_running=3)
    assert failed(judge(r, GRAPH, pods=3)) == {"every worker got work"}


def test_an_expected_failure_blocks_its_dependants_and_nothing_else():
    r = good_run(expected_failures=["openssl"])
    pk = r.summary["packages"]
    pk["openssl"].update(state="failed")
    pk["curl"].update(state="blocked", worker=None, scheduled=None, finished=None, handed_out=0)
    r.summary["requests"]["GET /package/ 200"] = 3
    r.artefacts.pop("openssl"), r.artefacts.pop("curl")
    assert failed(judge(r, GRAPH, pods=2)) == set()
    built_anyway = copy.deepcopy(r)
    built_anyway.artefacts["curl"] = {"built_by": "w-2"}
    assert failed(judge(built_anyway, GRAPH, pods=2)) == {"a failed package is reported and its dependants are not built"}


def test_missing_artefacts_and_leftovers_fail_b5_and_b6():
    r = good_run(leftovers=["PersistentVolume/rpms-ab12"])
    r.artefacts.pop("zlib")
    assert failed(judge(r, GRAPH, pods=2)) == {"artefacts visible through the nfspod", "everything deleted afterwards"}


def test_without_a_summary_only_the_objects_are_judged():
    checks = judge(good_run(summary=None, worker_pods={}), GRAPH, pods=2)
    assert [c.name for c in checks] == ["everything deleted afterwards"]

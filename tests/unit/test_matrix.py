"""The logic of `photon-harness matrix run` around its boundaries: the split by target, the
controller's share of the pytest options, merging shard results (a dead shard's unfinished tests
become errors with its reason), and a pod's end in the cluster's words. The real thing runs in
tests/integration/test_matrix.py."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from harness.core.errors import HarnessError
from harness.matrix.controller import pod_end
from harness.matrix.outputs import split
from harness.model import shards
from harness.model.verdicts import NO_TARGET, TestRecord
from harness.report.merge import ShardEnd, merge_junit, shard_records


def test_shards_are_dealt_by_target_and_agree_however_the_ids_come():
    ids = ["c", "a", "b", NO_TARGET, "a"]
    assert shards.assign(ids, 2) == [["a", "c"], ["b"]]
    assert shards.assign(reversed(ids), 2) == shards.assign(ids, 2)
    assert shards.assign(["a"], 3) == [["a"], [], []]
    assert shards.shard_of("b", [["a", "c"], ["b"]]) == 1
    assert shards.shard_of(NO_TARGET, [["a", "c"], ["b"]]) == 0


@pytest.mark.parametrize("text", ["2/2", "1", "-1/2", "a/b", "0/0", ""])
def test_a_bad_shard_is_one_line(text):
    with pytest.raises(HarnessError, match="is not K/N"):
        shards.parse(text)


def test_the_controller_keeps_the_output_options_and_the_shards_get_the_rest():
    o = split(["suites/containers", "--junitxml=j.xml", "--alluredir", "al", "-k", "info", "--report-dir", "r",
               "--shard", "0/2"], "S")
    assert o.shard_args == ["suites/containers", "-k", "info"]
    assert (o.junitxml, o.alluredir, o.report_dir) == (Path("j.xml"), Path("al"), Path("r"))
    d = split(["suites"], "S")
    assert d.report_dir.parts[-2:] == ("report", "S") and d.junitxml == d.report_dir / "junit.xml"


def _shard(tmp_path, finished: list[str], planned: list[str]) -> Path:
    where = tmp_path / "shard-1"
    (where / "report" / "records").mkdir(parents=True)
    for i, nodeid in enumerate(finished):
        rec = TestRecord(nodeid, {"D1": "passed"}, "passed", target="t")
        (where / "report" / "records" / f"{i}.json").write_text(json.dumps(rec.to_dict()))
    (where / "report" / "plan.json").write_text(json.dumps(
        {"tests": [{"nodeid": n, "target": "t", "claims": ["D1", "D2"]} for n in planned]}))
    return where


def test_a_dead_shards_unfinished_tests_are_errors_naming_the_pod_and_its_reason(tmp_path):
    where = _shard(tmp_path, ["a::t1"], ["a::t1", "a::t2"])
    records, made_up = shard_records(where, ShardEnd(1, "pod-1", "OOMKilled (exit code 137)"), [])
    assert {r.nodeid: r.outcome for r in records} == {"a::t1": "passed", "a::t2": "error"}
    assert [r.nodeid for r in made_up] == ["a::t2"]
    assert made_up[0].claims == {"D1": "error", "D2": "error"}
    assert "shard 1's pod pod-1 ended: OOMKilled (exit code 137)" in made_up[0].message


def test_without_its_own_plan_a_shard_is_held_to_the_controllers(tmp_path):
    where = _shard(tmp_path, [], [])
    (where / "report" / "plan.json").unlink()
    records, made_up = shard_records(where, ShardEnd(1, "", "ErrImagePull: not found"),
                                     [{"nodeid": "a::t9", "target": "t", "claims": ["I1"]}])
    assert [r.nodeid for r in made_up] == ["a::t9"] and "ErrImagePull" in made_up[0].message


def test_merged_junit_counts_every_shards_cases_and_the_made_up_errors(tmp_path):
    for k, kind in ((0, "failure"), (1, None)):
        d = tmp_path / f"shard-{k}"
        d.mkdir()
        case = f'<testcase classname="a" name="t{k}" time="1.5">' + (f'<{kind} message="x"/>' if kind else "") + "</testcase>"
        (d / "junit.xml").write_text(f'<testsuites><testsuite name="pytest">{case}</testsuite></testsuites>')
    gone = TestRecord("suites/x/test_y.py::t2[p]", {"D1": "error"}, "error", message="not run to its end: ...")
    merge_junit([tmp_path / "shard-0", tmp_path / "shard-1"], [gone], tmp_path / "out.xml")
    suite = ET.parse(tmp_path / "out.xml").getroot().find("testsuite")
    assert [suite.get(k) for k in ("tests", "failures", "errors", "time")] == ["3", "1", "1", "3.000"]
    assert suite.findall("testcase")[-1].get("classname") == "suites.x.test_y"


def _pod(phase, reason=None, terminated=None, waiting=None):
    state = NS(terminated=terminated, waiting=waiting)
    return NS(status=NS(phase=phase, reason=reason, message="", container_statuses=[NS(state=state)]))


def test_a_pods_end_in_the_clusters_words():
    assert pod_end(_pod("Succeeded")) == ("finished", "")
    assert pod_end(_pod("Running")) == ("running", None)
    assert pod_end(_pod("Pending", waiting=NS(reason="ContainerCreating", message=""))) == ("waiting: ContainerCreating", None)
    state, why = pod_end(_pod("Failed", terminated=NS(reason="OOMKilled", exit_code=137)))
    assert why == "OOMKilled (exit code 137, killed by SIGKILL)"
    assert pod_end(_pod("Failed", reason="Evicted"))[1].startswith("Evicted")


def test_a_target_keeps_what_its_tests_read_when_another_test_never_ran():
    from harness.report.merge import observed_targets
    ran = TestRecord("a::t1[m]", {"D1": "passed"}, "passed", target="m", identity={"base": "standin", "flavor": "minimal"})
    never = TestRecord("a::t2[m]", {"D3": "error"}, "error", target="m")
    for records in ([ran, never], [never, ran]):
        assert [(t.id, t.base, t.flavor) for t in observed_targets(records)] == [("m", "standin", "minimal")]

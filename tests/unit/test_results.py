"""results.json: written to its JSON Schema, read back, other versions refused; the baseline diff."""
import json

import jsonschema
import pytest

from harness.core.errors import HarnessError
from harness.report import compare as cmp
from harness.report import publish, results

from .test_report import RUN, matrix


def test_the_schema_is_valid_and_a_written_report_matches_it(tmp_path):
    jsonschema.Draft202012Validator.check_schema(results.schema())
    publish.write_report(tmp_path, matrix(), RUN)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["format"] == "photon-harness-results" and data["schema_version"] == results.SCHEMA_VERSION
    results.validate(data, "written")
    back = results.load(tmp_path)   # a report directory works as well as the file
    assert [r.nodeid for r in back.records] == [r.nodeid for r in matrix().results]
    assert back.matrix["D2"]["photon-minimal-container"] == "skipped"


def test_another_version_or_a_broken_file_is_one_line(tmp_path):
    publish.write_report(tmp_path, matrix(), RUN)
    data = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "v2.json").write_text(json.dumps(dict(data, schema_version=2)))
    with pytest.raises(HarnessError, match=r"v2.json: results schema version 2; this harness reads version 1$"):
        results.load(tmp_path / "v2.json")
    data["results"][0]["outcome"] = "sort of"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(HarnessError, match=r"bad.json: does not match results.schema.json at results/0/outcome"):
        results.load(tmp_path / "bad.json")
    (tmp_path / "torn.json").write_text("{\"format\": ")
    with pytest.raises(HarnessError, match=r"torn.json:1: not JSON"):
        results.load(tmp_path / "torn.json")


@pytest.mark.parametrize("old, new, kind", [
    ("passed", "failed", "regression"), ("failed", "passed", "fixed"), ("failed", "failed", "still failing"),
    ("passed", "passed", None), ("passed", "blocked", "newly blocked"), ("failed", "blocked", "newly blocked"),
    ("failed", "known difference", "known difference added"), ("known difference", "failed", "known difference gone"),
    ("not covered", "passed", "newly covered"), ("not covered", "failed", "newly covered"),
    ("passed", "not covered", "no longer covered"), ("passed", "error", "other change"),
    ("skipped", "skipped", None),
])
def test_each_change_has_one_name(old, new, kind):
    assert cmp.kind_of(old, new) == kind


def test_targets_match_by_who_they_are_not_by_id_or_digest(tmp_path):
    publish.write_report(tmp_path / "a", matrix(), RUN)
    data = json.loads((tmp_path / "a" / "results.json").read_text())
    full = next(t for t in data["targets"] if t["id"] == "photon-full-container")
    full.update(id="user-full-container", digest="sha256:new", image="img:2")   # tonight's image
    for r in data["results"]:
        r["target"] = "user-full-container" if r["target"] == "photon-full-container" else r["target"]
    data["matrix"] = {c: {("user-full-container" if t == "photon-full-container" else t): s for t, s in cells.items()}
                      for c, cells in data["matrix"].items()}
    data["matrix"]["D1"]["user-full-container"] = "passed"
    (tmp_path / "b.json").write_text(json.dumps(data))
    c = cmp.compare(results.load(tmp_path / "a"), results.load(tmp_path / "b.json"))
    assert not c.targets_added and not c.targets_removed
    [fixed] = c.of("fixed")
    assert (fixed.claim, fixed.old_image, fixed.new_image, fixed.new_digest) == ("D1", "img:1", "img:2", "sha256:new")

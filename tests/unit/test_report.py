import json
import re
from html.parser import HTMLParser

from harness import report as rpt
from harness.claims import Claim

CLAIMS = [Claim("D1", "1 Docker", "enabled by default"), Claim("D2", "1 Docker", "running <by> default"),
          Claim("R1", "2 Rootless", "newuidmap present")]
FULL = rpt.TargetInfo("photon-full-container", "photon", "full", "container")
MINI = rpt.TargetInfo("photon-minimal-container", "photon", "minimal", "container")
RUN = rpt.RunInfo("s1", "STAND-IN RUN: not Photon evidence", True, "t0", "t1", "pytest suites")


def result(nodeid, claims, target, outcome, message="", **kw):
    return rpt.TestResult(nodeid, claims, target.id if hasattr(target, "id") else target, outcome, message, **kw)


def matrix():
    results = [
        result("t::a[full]", ["D1"], FULL, "passed"),
        result("t::b[full]", ["D1", "D2"], FULL, "failed", "[D2] Active: inactive (dead)"),
        result("t::a[minimal]", ["D1"], MINI, "known difference", "known difference: tracker"),
        result("t::b[minimal]", ["D1", "D2"], MINI, "skipped", "needs a VM"),
        result("t::host", ["R1"], rpt.NO_TARGET, "passed", inner_images=["photon <- x (substitute)"]),
    ]
    observed = [rpt.TargetInfo(FULL.id, "photon", "full", "container", "img:1")]
    return rpt.build(CLAIMS, [FULL, MINI], results, observed)


def test_cells_take_the_worst_state_and_uncovered_cells_say_so():
    m = matrix()
    states = {(c.id, t.id): cell.state for c, cells in m.rows() for t, cell in zip(m.targets, cells)}
    assert states[("D1", FULL.id)] == "failed"
    assert states[("D2", FULL.id)] == "failed"
    assert states[("D1", MINI.id)] == "known difference"
    assert states[("D2", MINI.id)] == "skipped"
    assert states[("R1", FULL.id)] == "not covered"
    assert states[("R1", rpt.NO_TARGET)] == "passed"
    assert states[("D1", rpt.NO_TARGET)] == "not covered"


def test_observed_target_details_replace_the_planned_ones_in_order():
    m = matrix()
    assert [t.id for t in m.targets] == [FULL.id, MINI.id, rpt.NO_TARGET]
    assert m.targets[0].image == "img:1"


def test_worst_orders_states():
    assert rpt.worst(["passed", "skipped"]) == "passed"
    assert rpt.worst(["passed", "known difference"]) == "known difference"
    assert rpt.worst(["known difference", "error"]) == "error"
    assert rpt.worst([]) == "not covered"


class Texts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.external = [], []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "src" or (k == "href" and re.match(r"(https?:)?//", v or "")):
                self.external.append(v)
            if tag == "link":
                self.external.append(str(attrs))

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_shows_every_claim_banner_and_failure(tmp_path):
    page = rpt.write(tmp_path, matrix(), RUN)
    html = page.read_text()
    p = Texts()
    p.feed(html)
    text = " ".join(p.text)
    assert p.external == [], "the page must not load anything"
    assert "STAND-IN RUN: not Photon evidence" in text
    for c in CLAIMS:
        assert c.id in text
    assert "running <by> default" in text and "<by>" not in re.sub(r"<style>.*</style>", "", html, flags=re.S)
    assert "[D2] Active: inactive (dead)" in text  # observed beside the documented text
    assert "needs a VM" in text and "photon <- x (substitute)" in text
    md = (tmp_path / "report.md").read_text()
    assert "| D1 | enabled by default | failed | known difference | not covered |" in md
    assert "| R1 | newuidmap present | not covered | not covered | passed |" in md
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["matrix"]["D2"][MINI.id] == "skipped"


def test_a_failure_tagged_with_one_claim_is_no_verdict_on_the_others(tmp_path):
    results = [result("t::a", ["D1"], FULL, "known difference", "known: [D1] x", failing=["D1"]),
               result("t::b", ["D1", "D2"], FULL, "failed", "[D2] inactive", failing=["D2"],
                      attachments=[str(tmp_path / "attachments" / "journal.txt")])]
    m = rpt.build(CLAIMS, [FULL], results)
    assert m.cell("D1", FULL.id).state == "known difference"
    assert m.cell("D2", FULL.id).state == "failed"
    assert len(m.cell("D1", FULL.id).results) == 2  # still listed under D1
    md = rpt.render_markdown(m, RUN)
    assert "failed on D2 (no verdict on D1)" in md
    rpt.write(tmp_path, m, RUN)
    assert "href='attachments/journal.txt'" in (tmp_path / "report.html").read_text()

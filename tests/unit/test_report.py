import json
import re
from html.parser import HTMLParser

from harness.model.claims import Claim
from harness.model.verdicts import TestRecord, claim_verdicts
from harness.report import matrix as rpt
from harness.report import publish

CLAIMS = [Claim("D1", "1 Docker", "enabled by default"), Claim("D2", "1 Docker", "running <by> default"),
          Claim("R1", "2 Rootless", "newuidmap present")]
FULL = rpt.TargetInfo("photon-full-container", "", "full", "container", source="photon")
MINI = rpt.TargetInfo("photon-minimal-container", "", "minimal", "container", source="photon")
RUN = rpt.RunInfo("s1", "photon-harness: recipes=photon", "t0", "t1", "pytest suites")


def result(nodeid, claims, target, outcome, message="", failing=(), **kw):
    return TestRecord(nodeid, claim_verdicts(claims, outcome, tuple(failing)), outcome,
                      target.id if hasattr(target, "id") else target, message=message, **kw)


def matrix():
    results = [
        result("t::a[full]", ["D1"], FULL, "passed"),
        result("t::b[full]", ["D1", "D2"], FULL, "failed", "[D2] Active: inactive (dead)"),
        result("t::a[minimal]", ["D1"], MINI, "known difference", "known difference: tracker"),
        result("t::b[minimal]", ["D1", "D2"], MINI, "skipped", "needs a VM"),
        result("t::host", ["R1"], rpt.NO_TARGET, "passed", substitutions=["photon <- x (substitute)"]),
    ]
    observed = [rpt.TargetInfo(FULL.id, "photon", "full", "container", "img:1", "photon", "Photon OS 5.0")]
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
    page, _ = publish.write_report(tmp_path, matrix(), RUN)
    html = page.read_text()
    p = Texts()
    p.feed(html)
    text = " ".join(p.text)
    assert p.external == [], "the page must not load anything"
    assert "Photon OS targets: photon-full-container" in text   # the only target read is Photon
    for c in CLAIMS:
        assert c.id in text
    assert "running <by> default" in text and "<by>" not in re.sub(r"<style>.*</style>", "", html, flags=re.S)
    assert "[D2] Active: inactive (dead)" in text  # observed beside the documented text
    assert "needs a VM" in text and "photon <- x (substitute)" in text
    md = (tmp_path / "report.md").read_text()
    # The Overall column: each claim's worst cell across its targets.
    assert "| D1 | enabled by default | failed | failed | known difference | not covered |" in md
    assert "| R1 | newuidmap present | passed | not covered | not covered | passed |" in md
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["matrix"]["D2"][MINI.id] == "skipped"
    assert data["claims"]["D1"] == {"overall": "failed"} and data["claims"]["R1"] == {"overall": "passed"}
    assert "Claims: 3 of 3 judged (1 passed on every target that judged them, 2 failed somewhere (D1, D2)" in text


def test_a_failure_tagged_with_one_claim_is_no_verdict_on_the_others(tmp_path):
    results = [result("t::a", ["D1"], FULL, "known difference", "known: [D1] x", failing=["D1"]),
               result("t::b", ["D1", "D2"], FULL, "failed", "[D2] inactive", failing=["D2"],
                      attachments=[str(tmp_path / "attachments" / "journal.txt")])]
    m = rpt.build(CLAIMS, [FULL], results)
    assert m.cell("D1", FULL).state == "known difference"
    assert m.cell("D2", FULL).state == "failed"
    assert len(m.cell("D1", FULL).results) == 2  # still listed under D1
    md = rpt.render_markdown(m, RUN)
    assert "failed on D2 (no verdict on D1)" in md
    publish.write_report(tmp_path, m, RUN)
    assert "href='attachments/journal.txt'" in (tmp_path / "report.html").read_text()


def _read(id_, base, os_):
    return rpt.TargetInfo(id_, base, "full", "vm", "disk", "user", os_)


def test_banner_comes_from_what_the_targets_are():
    standin = _read("user-full-vm", "standin", "the photon-harness stand-in (Debian GNU/Linux 12), not Photon OS")
    photon = _read("photon-full-container", "photon", "Photon OS 5.0 build abc")
    other = _read("user-full-ssh", "other", "not Photon OS: Ubuntu 24.04 LTS")
    text, kind = rpt.identity_banner([standin])
    assert kind == "standin" and "STAND-IN RUN" in text and "NOT evidence about Photon" in text
    text, kind = rpt.identity_banner([photon])
    assert kind == "photon" and "STAND-IN" not in text and "Photon OS 5.0 build abc" in text
    text, kind = rpt.identity_banner([photon, standin, other])
    assert kind == "standin" and text.startswith("MIXED RUN")
    assert "user-full-vm" in text and "Ubuntu 24.04" in text and "photon-full-container (Photon OS 5.0" in text
    # Not booted: not identified, never counted as Photon.
    text, kind = rpt.identity_banner([rpt.TargetInfo("photon-full-container", "", "full", "container")])
    assert kind == "standin" and "not evidence" in text


def test_non_photon_columns_are_marked(tmp_path):
    standin = _read("user-full-vm", "standin", "the photon-harness stand-in (Debian), not Photon OS")
    photon = rpt.TargetInfo("photon-full-container", "photon", "full", "container", "img", "photon", "Photon OS 5.0")
    m = rpt.build(CLAIMS, [standin, photon], [result("t::a", ["D1"], standin, "passed"),
                                              result("t::b", ["D1"], photon, "passed")])
    md = rpt.render_markdown(m, RUN)
    assert "full / standin / vm (NOT Photon)" in md and "full / photon / container |" in md
    assert "| user-full-vm | the photon-harness stand-in (Debian), not Photon OS | full | vm | as given by the user |" in md
    publish.write_report(tmp_path, m, RUN)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["run"]["banner"].startswith("MIXED RUN")
    assert {t["id"]: t["base"] for t in data["targets"]} == {"user-full-vm": "standin", "photon-full-container": "photon"}


def test_blocked_is_its_own_state_between_error_and_known_difference(tmp_path):
    results = [result("t::a", ["R2"], FULL, "blocked",
                      "[R2] blocked: not reached, because the documented step in 'rootless-help' (claim R5) failed"),
               result("t::b", ["R1"], FULL, "passed")]
    m = rpt.build([Claim("R1", "2", "a"), Claim("R2", "2", "b")], [FULL], results)
    assert m.cell("R2", FULL).state == "blocked" and m.counts()["blocked"] == 1
    assert rpt.worst(["blocked", "passed"]) == "blocked" and rpt.worst(["blocked", "error"]) == "error"
    assert rpt.worst(["blocked", "known difference"]) == "blocked"
    publish.write_report(tmp_path, m, RUN)
    assert "(claim R5)" in (tmp_path / "report.html").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["matrix"]["R2"][FULL.id] == "blocked"


def test_the_rehearsal_columns_are_not_targets_of_the_banner():
    standin = _read("standin-full-container", "standin", "the photon-harness stand-in (Debian), not Photon OS")
    photon_build = rpt.TargetInfo("photon make distributed-build", "photon", "verified on Photon", "kind",
                                  os="Photon's own make distributed-build (--photon-src)")
    rehearsal = rpt.TargetInfo("distributed-build rehearsal", "synthetic packages", "rehearsed", "kind")
    text, kind = rpt.identity_banner([standin, photon_build, rehearsal])
    assert text.startswith("STAND-IN RUN") and kind == "standin", text
    assert rpt._target_label(photon_build) == "verified on Photon / photon / kind"
    assert rpt._target_label(rehearsal) == "rehearsed / synthetic packages / kind"


def test_the_headline_counts_claims_by_what_happened_and_groups_why_not_judged():
    from harness.report.claim_summary import summarize
    claims = CLAIMS + [Claim("B2", "4 Builds", "make distributed-build"), Claim("B3", "4 Builds", "options"),
                       Claim("K1", "3 Kubernetes", "services"), Claim("R2", "2 Rootless", "subuid")]
    results = [
        result("t::a[full]", ["D1"], FULL, "passed"),
        result("t::a[minimal]", ["D1"], MINI, "skipped", "minimal only", skip_kind="flavour"),
        result("t::b[full]", ["D2"], FULL, "known difference", "known difference: x"),
        result("t::c[full]", ["R1"], FULL, "error", "not judged: no image"),
        result("t::p2", ["B2"], FULL, "skipped", "needs --photon-src PATH", skip_kind="photon-src"),
        result("t::p3", ["B3"], FULL, "skipped", "needs --photon-src PATH (other words)", skip_kind="photon-src"),
        result("t::k[full]", ["K1"], FULL, "skipped", "a plain skip: no kind"),
    ]
    s = summarize(rpt.build(claims, [FULL, MINI], results))
    assert s.overall == {"D1": "passed", "D2": "known difference", "R1": "error", "B2": "skipped",
                         "B3": "skipped", "K1": "skipped", "R2": "not covered"}
    lines = s.lines()
    # A claim whose every test was skipped is not judged, and never counted as checked.
    assert lines[0] == ("Claims: 2 of 7 judged (1 passed on every target that judged them, 0 failed somewhere, "
                        "1 known difference (D2)); 0 blocked; 1 error (R1); 4 not judged")
    assert lines[1] == "  not judged: 2 need --photon-src (a vmware/photon checkout) (B2, B3)"
    assert "  not judged: 1 were skipped: a plain skip: no kind (K1)" in lines
    assert "  not judged: 1 have no test in this run (R2)" in lines

import datetime as dt

import pytest

from harness.core.errors import HarnessError
from harness.model import known_differences as kd

TODAY = dt.date(2026, 6, 1)
PHOTON_FULL = {"base": "photon", "version": "5.0", "flavor": "full", "backend": "container"}


def entry(claim="D1", review="2026-12-31", observed=".", **target):
    return kd.KnownDifference(claim, "https://tracker/1", "preset disables docker",
                              dt.date.fromisoformat(review), target, observed=observed)


def test_selector_fields_are_fnmatch_patterns_and_absent_means_any():
    e = entry(version="5.*", flavor="full")
    assert e.matches("D1", PHOTON_FULL)
    assert not e.matches("D2", PHOTON_FULL)
    assert not e.matches("D1", dict(PHOTON_FULL, flavor="minimal"))
    assert not e.matches("D1", dict(PHOTON_FULL, version="4.0"))
    assert entry().matches("D1", {"base": "standin", "flavor": "minimal"})


def test_a_matching_failure_is_known():
    v = kd.judge([entry(flavor="full")], ["D1"], PHOTON_FULL, passed=False, failure="[D1] x", today=TODAY)
    assert v.is_known and not v.expired and not v.fixed


def test_an_entry_past_its_review_date_fails_again():
    e = entry(review="2026-05-31")
    v = kd.judge([e], ["D1"], PHOTON_FULL, passed=False, failure="[D1] x", today=TODAY)
    assert not v.is_known and v.expired == [e]
    # the review-by day itself still counts
    assert kd.judge([entry(review="2026-06-01")], ["D1"], PHOTON_FULL, False, "[D1] x", TODAY).is_known


def test_a_passing_test_reports_its_entries_fixed():
    e = entry()
    v = kd.judge([e], ["D1", "D2"], PHOTON_FULL, passed=True, today=TODAY)
    assert v.fixed == [e] and not v.is_known


def test_every_failing_claim_must_be_excused():
    # The failure names D2 (a ClaimFailure for D2); only D1 is listed -> a real failure.
    v = kd.judge([entry("D1")], ["D2"], PHOTON_FULL, passed=False, failure="documented ...", today=TODAY)
    assert not v.is_known
    # A failure that names no claim is about every claim the test cites: each must be excused.
    assert not kd.judge([entry("D1")], ["D1", "D2"], PHOTON_FULL, False, "boom", TODAY).is_known
    both = [entry("D1"), entry("D2")]
    assert kd.judge(both, ["D1", "D2"], PHOTON_FULL, False, "boom", TODAY).is_known


def test_load_reads_and_validates(tmp_path):
    f = tmp_path / "kd.yaml"
    f.write_text("- claim: D1\n  target: {base: photon, version: '5.0'}\n  tracker: https://t/1\n"
                 "  reason: r\n  review-by: 2027-01-31\n  observed: disabled\n")
    [e] = kd.load(f, known_claims={"D1"})
    assert (e.claim, e.review_by, e.target) == ("D1", dt.date(2027, 1, 31), {"base": "photon", "version": "5.0"})
    f.write_text("# nothing listed\n")
    assert kd.load(f) == []


@pytest.mark.parametrize("text, message", [
    ("- claim: D1\n  observed: x\n  reason: r\n  review-by: 2027-01-31\n", "entry 1: missing tracker"),
    ("- {claim: D1, observed: x, tracker: t, reason: r, review-by: soon}\n", "review-by 'soon' is not a date"),
    ("- {claim: Z9, observed: x, tracker: t, reason: r, review-by: 2027-01-01}\n", "unknown claim ID 'Z9'"),
    ("- {claim: D1, observed: x, tracker: t, reason: r, review-by: 2027-01-01, target: {os: x}}\n", "target must be"),
    ("- {claim: D1, observed: x, tracker: t, reason: r, review-by: 2027-01-01, why: x}\n", "unknown key(s) why"),
    ("claim: D1\n", "expected a list"),
])
def test_load_rejects_mistakes_in_one_line(tmp_path, text, message):
    f = tmp_path / "kd.yaml"
    f.write_text(text)
    with pytest.raises(HarnessError) as e:
        kd.load(f, known_claims={"D1"})
    assert message in str(e.value)


def test_an_entry_with_a_test_pattern_excuses_only_those_tests(tmp_path):
    e = kd.KnownDifference("K4", "https://tracker/2", "guide outdated", dt.date(2026, 12, 31), {},
                           "test_documented_*")
    assert kd.judge([e], ["K4"], PHOTON_FULL, False, "[K4] x", TODAY, test="test_documented_guide").is_known
    assert not kd.judge([e], ["K4"], PHOTON_FULL, False, "[K4] x", TODAY, test="test_node_ready").is_known
    assert kd.judge([e], ["K4"], PHOTON_FULL, True, "", TODAY, test="test_documented_guide").fixed == [e]
    assert not kd.judge([e], ["K4"], PHOTON_FULL, True, "", TODAY, test="test_node_ready").fixed
    f = tmp_path / "kd.yaml"
    f.write_text("- claim: K4\n  tracker: t\n  reason: r\n  review-by: 2026-12-31\n  test: test_documented_*\n"
                 "  observed: unknown flag\n")
    assert kd.load(f)[0].test == "test_documented_*"
    assert "test test_documented_*" in kd.load(f)[0].describe()


def test_an_entry_excuses_only_its_own_symptom():
    e = entry(observed=r"is-enabled docker.service` says 'disabled'")
    own = "[D1] documented: enabled at boot; `systemctl is-enabled docker.service` says 'disabled'"
    other = "[D1] documented: enabled at boot; `systemctl is-enabled docker.service` says 'masked'"
    v = kd.judge([e], ["D1"], PHOTON_FULL, passed=False, failure=own, today=TODAY)
    assert v.is_known and not v.unmatched
    v = kd.judge([e], ["D1"], PHOTON_FULL, passed=False, failure=other, today=TODAY)
    assert not v.is_known and v.unmatched == [e]


def test_observed_is_required_and_must_compile(tmp_path):
    f = tmp_path / "kd.yaml"
    f.write_text("- claim: D1\n  tracker: https://t/1\n  reason: r\n  review-by: 2027-01-31\n")
    with pytest.raises(HarnessError, match="entry 1: missing observed"):
        kd.load(f)
    f.write_text("- claim: D1\n  tracker: https://t/1\n  reason: r\n  review-by: 2027-01-31\n  observed: '(x'\n")
    with pytest.raises(HarnessError, match="observed '\\(x' is not a regular expression"):
        kd.load(f)

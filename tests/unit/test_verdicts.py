"""The verdict model: which claims a failure is about, and the one record a test leaves."""
import json

import pytest

from harness.model import procedures as proc
from harness.model.verdicts import (NO_VERDICT, ClaimBlocked, ClaimFailure, TestRecord, claim_verdicts,
                                    expect)


def test_a_failure_counts_against_the_claims_it_names_only():
    assert claim_verdicts(["D1", "D2"], "failed", ("D2",)) == {"D1": NO_VERDICT, "D2": "failed"}
    assert claim_verdicts(["D1", "D2"], "known difference", ("D1", "D2")) == {"D1": "known difference",
                                                                             "D2": "known difference"}
    # A failure naming no claim, or only claims the test does not cite, is about every cited claim.
    assert claim_verdicts(["D1", "D2"], "failed") == {"D1": "failed", "D2": "failed"}
    assert claim_verdicts(["D1"], "failed", ("R9",)) == {"D1": "failed"}
    # Any other outcome is the same for every cited claim.
    assert claim_verdicts(["B4", "B5"], "blocked", ("B5",)) == {"B4": "blocked", "B5": "blocked"}


def test_expect_raises_a_claim_carrying_failure():
    expect(True, "D1", "never raised")
    with pytest.raises(ClaimFailure) as e:
        expect(False, ("D1", "D2"), "docker is not loaded", "Loaded: not-found")
    assert e.value.claims == ("D1", "D2") and e.value.observed == "Loaded: not-found"
    assert str(e.value) == "[D1, D2] docker is not loaded\nLoaded: not-found"
    assert isinstance(e.value, AssertionError)   # pytest reports it as a failure


def test_a_failed_documented_step_is_a_failure_of_its_claims():
    step = proc.Step(run="systemctl start docker", claims=("D3",), where="procedures.yaml:3")
    outcome = proc.StepOutcome(step, proc.CommandResult("systemctl start docker", 1, "", "masked", 0.1),
                               ["exit 1, documented 0"])
    e = proc.StepFailed(outcome, proc.Transcript(proc.Procedure("start-docker", "t", (step,)), "t1", [outcome]))
    assert isinstance(e, ClaimFailure) and e.claims == ("D3",) and "masked" in e.observed


def test_blocked_names_the_step_and_its_claim():
    e = ClaimBlocked("R7", "in 'rootless-check'", ["R5"], "modprobe ip_tables")
    assert str(e).startswith("[R7] blocked: not reached, because the documented step in 'rootless-check' "
                             "(claim R5) failed: modprobe")


def test_a_record_survives_json_and_another_version_is_refused():
    rec = TestRecord("s::t[x]", {"D1": "failed", "D2": NO_VERDICT}, "failed", "x",
                     identity={"base": "standin"}, message="m", observed="o", evidence={"boot": ["2 s"]})
    back = TestRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert back == rec and back.failing() == ["D1"] and not back.judges("D2") and back.judges("D1")
    with pytest.raises(ValueError, match="version 99"):
        TestRecord.from_dict(dict(rec.to_dict(), version=99))

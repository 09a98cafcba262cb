import pytest

from harness.model import claims


def test_registry_matches_the_shared_claims_file():
    if not claims.SHARED_CLAIMS.exists():
        pytest.skip(f"{claims.SHARED_CLAIMS} is not beside this checkout; cannot compare")
    parsed = claims.parse_claims_md(claims.SHARED_CLAIMS.read_text())
    assert {c.id: c for c in parsed} == claims.registry(), \
        "harness/data/claims.json is stale: run `photon-harness claims --sync`"


def test_parser_reads_ids_sections_and_wrapped_text():
    text = ("## 1 Docker\n- D1  The daemon is\n      enabled.\n  Source note: ignored\n"
            "## 2 Rootless\n- R10 Limits work.\n")
    parsed = claims.parse_claims_md(text)
    assert [(c.id, c.section, c.text) for c in parsed] == [
        ("D1", "1 Docker", "The daemon is enabled."), ("R10", "2 Rootless", "Limits work.")]


def test_duplicate_ids_are_rejected():
    with pytest.raises(claims.HarnessError, match="duplicate claim IDs: D1"):
        claims.parse_claims_md("- D1 a\n- D1 b\n")

"""The suites can fail: a broken target makes the right claims fail, by name; bad input is one line."""
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.core.labels import new_session_id
from harness.ops.reap import count_labelled

REPO = Path(__file__).resolve().parents[2]


def run_pytest(*args, session=None, timeout=900):
    env = dict(os.environ)
    if session:
        env["PHOTON_HARNESS_SESSION"] = session
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-rs", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_disabled_docker_unit_fails_d1_and_d2_naming_the_claims(docker_disabled_full_image, docker_client):
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/containers", "--base", "standin", "--flavor", "full",
                   "--target-image", f"full={docker_disabled_full_image}",
                   "-k", "enabled_by_default or status_docker_at_boot", session=session)
    assert r.returncode == 1, r.stdout[-3000:]
    assert "2 failed" in r.stdout, r.stdout[-3000:]
    assert "[D1] documented" in r.stdout and "[D2] documented" in r.stdout, r.stdout[-3000:]
    assert count_labelled(docker_client, session).total() == 0


def test_suite_run_leaves_nothing_labelled(docker_client, tmp_path):
    session = "selftest-" + new_session_id()
    junit = tmp_path / "junit.xml"
    r = run_pytest("suites/containers", "--base", "standin", "-k", "engine_is_included", f"--junitxml={junit}",
                   session=session)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "2 passed" in r.stdout
    # each test says how long its target took to boot
    records = [json.loads(p.get("value")) for p in ET.parse(junit).getroot().iter("property")
               if p.get("name") == "verdict"]
    boots = [b for rec in records for b in rec["evidence"].get("boot", [])
             if re.fullmatch(r"target standin-(?:full|minimal)-container: booted in \d+ s", b)]
    assert len(boots) == 2, records
    assert count_labelled(docker_client, session).total() == 0
    # the default report directory, printed at the end of the run
    page = REPO / "out" / "report" / session / "report.html"
    assert f"conformance matrix: {page}" in r.stdout and page.exists(), r.stdout[-2000:]
    shutil.rmtree(page.parent)


@pytest.mark.parametrize("args, message", [
    (["--flavor", "full,tiny"], "unknown --flavor 'tiny'; choose from full, minimal"),
    (["--backend", "kvm"], "unknown --backend 'kvm'"),
    (["--base", "standin", "--image", "photon:0.0-absent"], "image 'photon:0.0-absent' not present locally"),
    (["--inner-image", "photon"], "must look like NAME=REF"),
])
def test_bad_options_fail_at_start_with_one_line(args, message):
    r = run_pytest("suites/containers", *args, timeout=120)
    assert r.returncode == 4
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1 and message in errors[0], r.stderr


@pytest.mark.parametrize("content, message", [
    (b"not a tar at all\n" * 64, "not a readable OVA (a tar archive)"),
    (None, "no OVF descriptor (*.ovf) inside the OVA"),
])
def test_a_corrupt_ova_stops_the_run_before_anything_boots_in_one_line(tmp_path, content, message):
    ova = tmp_path / "photon-hw15-5.0-dde71ec57.x86_64.ova"
    if content is None:   # a tar holding only a disk
        import tarfile
        (tmp_path / "disk.vmdk").write_bytes(b"\0" * 4096)
        with tarfile.open(ova, "w") as tar:
            tar.add(tmp_path / "disk.vmdk", arcname="disk.vmdk")
    else:
        ova.write_bytes(content)
    r = run_pytest("suites/containers", "--backend", "vm", "--vm-image", f"full={ova}", "--flavor", "full",
                   "-n", "2", timeout=120)
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert r.returncode == 4 and len(errors) == 1 and str(ova) in errors[0] and message in errors[0], r.stderr
    assert "Traceback" not in r.stdout + r.stderr


KNOWN_DIFFERENCES = """\
- claim: D1
  observed: "says 'disabled'"
  target: {base: standin, flavor: full}
  tracker: https://example.invalid/tracker/1
  reason: self-test, docker.service disabled on purpose
  review-by: 2999-12-31
- claim: D2
  observed: 'inactive \\(dead\\)'
  target: {base: standin, flavor: full}
  tracker: https://example.invalid/tracker/2
  reason: self-test entry past its review date
  review-by: %(d2_review)s
- claim: I1
  observed: "."
  target: {flavor: "f*"}
  tracker: https://example.invalid/tracker/3
  reason: self-test entry for a claim that holds
  review-by: 2999-12-31
"""


@pytest.mark.parametrize("d2_review, expect_exit", [("2999-12-31", 0), ("2000-01-01", 1)],
                         ids=["all-current", "one-expired"])
def test_known_differences_are_reported_not_hidden(docker_disabled_full_image, docker_client, tmp_path,
                                                   d2_review, expect_exit):
    """D1/D2 fail on the disabled image: listed -> known difference (exit 0); past review -> fails;
    I1 passes while listed -> reported fixed. Run with -n 2, JUnit and allure on."""
    session = "selftest-" + new_session_id()
    kd_file = tmp_path / "known.yaml"
    kd_file.write_text(KNOWN_DIFFERENCES % {"d2_review": d2_review})
    r = run_pytest("suites/containers", "--base", "standin", "--flavor", "full", "-n", "2",
                   "--target-image", f"full={docker_disabled_full_image}",
                   "--known-differences", str(kd_file), "--report-dir", str(tmp_path / "report"),
                   "--junitxml", str(tmp_path / "junit.xml"), "--alluredir", str(tmp_path / "allure"),
                   "-k", "enabled_by_default or status_docker_at_boot or engine_is_included", session=session)
    out = r.stdout + r.stderr
    assert r.returncode == expect_exit, out[-3000:]
    assert "FIXED known difference" in out and "tracker/3" in out, out[-3000:]
    assert f"conformance matrix: {tmp_path / 'report' / 'report.html'}" in out
    outcomes = {x["nodeid"].split("::")[1].split("[")[0]: x
                for x in json.loads((tmp_path / "report" / "results.json").read_text())["results"]}
    assert outcomes["test_docker_daemon_enabled_by_default"]["outcome"] == "known difference"
    assert "[D1] documented" in outcomes["test_docker_daemon_enabled_by_default"]["message"]
    status = outcomes["test_systemctl_status_docker_at_boot"]
    assert outcomes["test_docker_engine_is_included"]["outcome"] == "passed"
    assert any("fixed" in n for n in outcomes["test_docker_engine_is_included"]["notes"])
    if expect_exit == 0:
        assert "2 xfailed" in r.stdout and status["outcome"] == "known difference", out[-3000:]
    else:
        assert "1 failed" in r.stdout and status["outcome"] == "failed", out[-3000:]
        assert "EXPIRED known difference" in out and any("review date" in n for n in status["notes"])
        # the failure carries its diagnostics: the target's journal and the daemon log
        attached = status["attachments"]
        assert any("journal-user-full-container" in a for a in attached), status
        assert any("docker-daemon-log" in a for a in attached), status
        journal = next(a for a in attached if "journal-" in a)
        assert "systemd" in Path(journal).read_text()
        allure_names = {a["name"] for f in (tmp_path / "allure").glob("*-result.json")
                        for a in json.loads(f.read_text()).get("attachments", [])}
        assert {"journal-user-full-container", "docker-daemon-log"} <= allure_names, allure_names
    # JUnit from the xdist controller: each test's one record, the same object as in results.json
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    assert len(props) == 3
    for name, p in props.items():
        assert list(p) == ["verdict"], (name, p)
        rec = json.loads(p["verdict"])
        assert rec["identity"]["base"] == "standin" and rec["identity"]["flavor"] == "full", (name, rec)
        assert rec["identity"]["image"] == docker_disabled_full_image, (name, rec)
        assert rec == outcomes[name.split("[")[0]], name
    [d1] = [json.loads(p["verdict"]) for n, p in props.items() if n.startswith("test_docker_daemon_enabled_by_")]
    assert d1["claims"] == {"D1": "known difference"} and "tracker/1" in d1["known_differences"][0], d1
    assert count_labelled(docker_client, session).total() == 0


def test_a_known_difference_does_not_excuse_another_symptom(docker_disabled_full_image, docker_client, tmp_path):
    """D1 fails with 'disabled'; the only D1 entry excuses 'masked': the failure stands, and the
    report says the entry did not match, with what it expects and what was seen."""
    session = "selftest-" + new_session_id()
    kd_file = tmp_path / "known.yaml"
    kd_file.write_text("- claim: D1\n  observed: \"says 'masked'\"\n  target: {base: standin}\n"
                       "  tracker: https://example.invalid/tracker/4\n  reason: self-test, another symptom\n"
                       "  review-by: 2999-12-31\n")
    r = run_pytest("suites/containers", "--base", "standin", "--flavor", "full",
                   "--target-image", f"full={docker_disabled_full_image}", "--known-differences", str(kd_file),
                   "--report-dir", str(tmp_path / "report"), "-k", "enabled_by_default", session=session)
    assert r.returncode == 1 and "1 failed" in r.stdout, r.stdout[-3000:]
    assert "UNMATCHED known difference" in r.stdout, r.stdout[-3000:]
    [result] = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert result["outcome"] == "failed"
    [note] = result["notes"]
    assert "known difference D1 did not match: it excuses /says 'masked'/" in note and "says 'disabled'" in note
    assert count_labelled(docker_client, session).total() == 0


def test_a_malformed_procedures_file_stops_the_run_before_any_test(tmp_path):
    # A copy of the suites and the plugin with one broken step: nothing may run, nothing is booted.
    for d in ("harness", "fixtures", "suites"):
        shutil.copytree(REPO / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("conftest.py", "pytest.ini", "known-differences.yaml"):
        shutil.copy(REPO / f, tmp_path / f)
    broken = tmp_path / "suites" / "rootless" / "procedures.yaml"
    broken.write_text(broken.read_text().replace("      - run: useradd -m test_user\n",
                                                 "      - run: useradd -m test_user\n        timeout: soon\n", 1))
    r = subprocess.run([sys.executable, "-m", "pytest", "suites/containers", "--base", "standin", "-p", "no:randomly"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert r.returncode == 4 and len(errors) == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert re.search(r"procedures\.yaml:\d+: timeout must be int or float, got 'soon'", errors[0]), errors
    assert "passed" not in r.stdout and "booted" not in r.stdout


def test_a_masked_docker_fails_d1_to_d3_and_blocks_d4_to_d6(derived_full_image, docker_client, tmp_path):
    """A drifted target: docker.service masked. D1-D3 fail, each by name; D4-D6 are blocked by D3's
    step, not failures of their own; I1 (the engine is included) still passes."""
    image = derived_full_image("systemctl mask docker.service docker.socket")
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/containers", "--base", "standin", "--flavor", "full", "--target-image", f"full={image}",
                   "--report-dir", str(tmp_path / "report"), session=session)
    assert r.returncode == 1, r.stdout[-3000:]
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    by_state: dict[str, set] = {}
    for claim, cells in data["matrix"].items():
        by_state.setdefault(cells["user-full-container"], set()).add(claim)
    assert by_state.get("failed") == {"D1", "D2", "D3"}, by_state
    assert by_state.get("blocked") == {"D4", "D5", "D6"}, by_state
    assert by_state.get("passed") == {"I1"}, by_state
    assert count_labelled(docker_client, session).total() == 0


def test_docs_version_4_judges_by_the_v4_pages(docker_client, tmp_path):
    """--docs-version 4 on the stand-in: the rootless claims (a page only docs-v5 has) are "not
    documented in v4", their tests are not run and nothing is booted for them; I1 is still judged."""
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/rootless", "suites/containers/test_docker_containers.py::test_docker_engine_is_included",
                   "--base", "standin", "--flavor", "full", "--docs-version", "4",
                   "--report-dir", str(tmp_path / "report"), session=session)
    assert r.returncode == 0, r.stdout[-3000:]
    assert re.search(r"1 passed, \d+ skipped", r.stdout) and "not documented in v4: no page of Photon docs v4" in r.stdout
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    assert data["run"]["docs_version"] == "4" and "photon-hugo @ " in data["run"]["docs_source"]
    [target] = data["targets"]
    assert target["docs_version"] == "4"
    cells = {claim: states[target["id"]] for claim, states in data["matrix"].items()}
    assert {cells[f"R{i}"] for i in range(1, 12)} == {"not documented"}
    assert cells["I1"] == "passed" and cells["D1"] == "not covered"
    page = (tmp_path / "report" / "report.md").read_text()
    assert "Photon docs v4 (--docs-version)" in page and "| not documented in v4 |" in page
    # I1 judged; the rootless claims were not, and the headline says why, as it does at the run's end
    assert "- Claims: 1 of 29 judged (1 passed on every target that judged them," in page
    assert "- not judged: 11 are not documented in the target's docs version (R1, R2, R3" in page
    assert "not judged: 11 are not documented in the target's docs version" in r.stdout
    assert data["claims"]["R1"] == {"overall": "not documented",
                                    "not_judged": "are not documented in the target's docs version"}
    assert count_labelled(docker_client, session).total() == 0


def test_an_unknown_docs_version_is_refused_before_anything_runs():
    r = run_pytest("suites/containers", "--base", "standin", "--docs-version", "3", timeout=120)
    assert r.returncode == 4 and "--docs-version '3': the recorded documentation has versions 4, 5" in r.stderr, (
        r.stdout[-1000:] + r.stderr[-1000:])


def as_photon(version: str) -> str:
    """A RUN line that disguises the stand-in as Photon `version`: its marker removed, Photon's
    os-release and photon-release written (the tests that use it say so)."""
    return (f"rm /etc/photon-harness/standin && rm -f /etc/os-release && printf '%s\\n' 'NAME=\"VMware Photon OS\"' "
            f"'VERSION=\"{version}\"' 'ID=photon' 'VERSION_ID={version}' 'PRETTY_NAME=\"VMware Photon OS/Linux\"' "
            f"> /etc/os-release && echo 'VMware Photon OS {version}' > /etc/photon-release "
            "&& echo 'PHOTON_BUILD_NUMBER=selftest' >> /etc/photon-release")


def test_a_photon_4_target_is_judged_by_the_v4_pages(derived_full_image, docker_client, tmp_path):
    """Without --docs-version the target's own version chooses: the stand-in disguised as Photon 4.0 (its
    marker removed, Photon's os-release and photon-release written) is judged by docs-v4, so the rootless
    test is skipped as not documented once the target is read, and I1 is still judged."""
    image = derived_full_image(as_photon("4.0"))
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/rootless/test_rootless_setup.py", "suites/containers/test_docker_containers.py",
                   "-k", "newuidmap or engine_is_included",
                   "--flavor", "full", "--target-image", f"full={image}", "--report-dir", str(tmp_path / "report"),
                   session=session)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "not documented in v4: no page of Photon docs v4 states R1" in r.stdout, r.stdout[-3000:]
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    [target] = data["targets"]
    assert (target["base"], target["version"], target["docs_version"]) == ("photon", "4.0", "4")
    assert data["run"]["docs_version"] == ""   # chosen by the target, not forced
    cells = {claim: states[target["id"]] for claim, states in data["matrix"].items()}
    assert cells["R1"] == "not documented" and cells["I1"] == "passed"
    assert "Photon docs v4 (from each target's version)" in (tmp_path / "report" / "report.md").read_text()
    assert count_labelled(docker_client, session).total() == 0


def test_an_inner_image_the_harness_cannot_find_is_an_error_not_a_failure(derived_full_image, docker_client, tmp_path):
    """A Photon target (the stand-in disguised as Photon 5.0) on a host without the `photon` image, the
    way an offline release engineer may run it: D6 cannot be judged, so its test is an error with the
    harness's one line, and D6 is "error", never "failed"."""
    if any(docker_client.images.list(name="photon")):
        pytest.skip("this host has a `photon` image: the harness would find it")
    image = derived_full_image(as_photon("5.0"))
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/containers/test_docker_containers.py::test_docker_run_interactive_photon",
                   "--base", "photon", "--flavor", "full", "--target-image", f"full={image}", "--report-dir", str(tmp_path / "report"),
                   session=session)
    assert r.returncode == 1, r.stdout[-3000:]
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    [record] = data["results"]
    assert record["outcome"] == "error" and record["claims"] == {"D6": "error"}, record
    assert record["message"].startswith("not judged: inner image 'photon' is not on this host"), record["message"]
    [target] = data["targets"]
    assert target["base"] == "photon" and data["matrix"]["D6"][target["id"]] == "error"
    assert "not judged: inner image 'photon' is not on this host" in r.stdout, r.stdout[-3000:]
    assert count_labelled(docker_client, session).total() == 0

"""Section 1 of the Photon OS Containers page: Docker containers (claims I1, D1-D6).

Flavour-specific claims: D1 and D2 describe the full flavour ("loaded and
running by default"); on the minimal flavour the same tests run and assert
what the page documents for minimal ("loaded but not running by default").
The expectation per flavour is the table below, quoted from the page.
"""
from __future__ import annotations

import re

import pytest

from harness.checks.shell import shell_exchange
from harness.core.errors import CommandTimeout
from harness.model.verdicts import ClaimBlocked, expect
from harness.targets.identity import parse_os_release

DOCUMENTED_AT_BOOT = {
    # flavour: (is-enabled, Active: line, quote)
    "full": ("enabled", "active (running)", "Docker is loaded and running by default on the full version"),
    "minimal": ("disabled", "inactive (dead)", "On the minimal version, it is loaded but not running by default"),
}


@pytest.mark.claim("I1")
def test_docker_engine_is_included(target):
    r = target.run("command -v docker dockerd && docker --version && dockerd --version")
    assert r.ok, f"[I1] Photon OS includes the Docker engine, but on {target.spec.id}: {r.stdout}{r.stderr}"
    assert re.search(r"Docker version \d+\.\d+", r.stdout), f"[I1] unexpected version output: {r.stdout}"


@pytest.mark.claim("D1")
def test_docker_daemon_enabled_by_default(target):
    enabled, _, quote = DOCUMENTED_AT_BOOT[target.spec.flavor]
    r = target.run("systemctl is-enabled docker.service")
    assert r.stdout.strip() == enabled, (
        f"[D1] documented ({quote!r}): docker.service {enabled} at boot on {target.spec.flavor}; "
        f"`systemctl is-enabled docker.service` says {r.stdout.strip() or r.stderr.strip()!r}")


@pytest.mark.claim("D1", "D2")
def test_systemctl_status_docker_at_boot(target):
    _, active, quote = DOCUMENTED_AT_BOOT[target.spec.flavor]
    r = target.run("systemctl status docker --no-pager")
    expect(re.search(r"Loaded: loaded \(", r.stdout), ("D1", "D2"),
           "documented: docker is loaded; `systemctl status docker` says:", r.stdout + r.stderr)
    expect(re.search(rf"Active: {re.escape(active)}", r.stdout), "D2",
           f"documented ({quote!r}): 'Active: {active}' on {target.spec.flavor}; `systemctl status docker` says:",
           r.stdout)


@pytest.mark.claim("D3")
def test_systemctl_start_docker_starts_it(docker_target):
    transcript = docker_target.procedures["start-docker"]
    before = transcript.outcomes[0].result.stdout.strip()
    expected_before = "active" if docker_target.spec.flavor == "full" else "inactive"
    assert before == expected_before, (
        f"[D3] before `systemctl start docker` the daemon should be {expected_before!r} on "
        f"{docker_target.spec.flavor}; it was {before!r}\n{transcript.text()}")
    bad = [o for o in transcript.outcomes if not o.ok]
    assert not bad, f"[D3] `systemctl start docker` did not behave as documented:\n{transcript.text()}"


def require_running_daemon(docker_target, claim: str) -> None:
    """D4-D6 need the daemon `systemctl start docker` (D3) started; without it they are blocked, not failed."""
    transcript = docker_target.procedures["start-docker"]
    after = transcript.outcomes[-1] if len(transcript.outcomes) == len(transcript.procedure.steps) else None
    if after is None or not after.ok:
        raise ClaimBlocked(claim, "`systemctl start docker`", ("D3",),
                           f"the daemon is not running afterwards:\n{transcript.text()[-800:]}")


@pytest.mark.claim("D4")
def test_docker_info_as_root(docker_target, apply_procedure):
    require_running_daemon(docker_target, "D4")
    transcript = apply_procedure(docker_target, "docker-info")
    assert transcript.ok


@pytest.mark.claim("D5")
def test_docker_run_interactive_ubuntu(docker_target, load_inner_image):
    require_running_daemon(docker_target, "D5")
    image = load_inner_image(docker_target, "ubuntu:14.04")
    check_interactive_shell(docker_target, image, "D5")
    if not image.substitute:
        fields = parse_os_release(image.os_release)
        assert (fields.get("ID"), fields.get("VERSION_ID")) == ("ubuntu", "14.04"), \
            f"[D5] the image loaded as ubuntu:14.04 is not Ubuntu 14.04: {fields}"


@pytest.mark.claim("D6")
def test_docker_run_interactive_photon(docker_target, load_inner_image):
    require_running_daemon(docker_target, "D6")
    image = load_inner_image(docker_target, "photon")
    check_interactive_shell(docker_target, image, "D6")
    if not image.substitute:
        assert parse_os_release(image.os_release).get("ID") == "photon", \
            f"[D6] the image loaded as photon does not run Photon OS:\n{image.os_release}"


def check_interactive_shell(target, image, claim: str) -> None:
    """`docker run -i -t NAME /bin/bash` as documented: type into the shell, read its answers, exit."""
    command = f"docker run -i -t {image.name} /bin/bash"
    session = target.interactive(command)
    try:
        check_shell_answers(target, image, claim, command, session)
    except CommandTimeout as e:  # the shell never answered: the documented command failed
        pytest.fail(f"[{claim}] `{command}` gave no working shell: {e}", pytrace=False)
    finally:
        if not session.closed:
            session.abort()


def check_shell_answers(target, image, claim: str, command: str, session) -> None:
    """Type into the shell, compare its answers with the image, exit; assertions name the claim."""
    # Type only once the shell prompts: on a slow VM, keys typed while `docker run` is still
    # creating the container can be lost.
    session.expect(r"[#$] ?$", timeout=180)
    tty = shell_exchange(session, "[ -t 0 ] && echo TTY=yes")
    assert "TTY=yes" in tty, f"[{claim}] `{command}`: the shell has no terminal:\n{tty}"
    answer = shell_exchange(session, "cat /etc/os-release")
    assert parse_os_release(answer) == parse_os_release(image.os_release), (
        f"[{claim}] `{command}`: the shell does not run {image.describe()}; it printed:\n{answer}")
    ps = target.run("docker ps --no-trunc --format '{{.Image}} {{.Command}}'")
    assert f'{image.name} "/bin/bash"' in ps.stdout, (
        f"[{claim}] no running container of image {image.name!r} with /bin/bash: {ps.stdout!r}")
    session.send("exit 0\r")
    status = session.close(timeout=30)
    assert status == 0, f"[{claim}] `{command}` ended with exit {status}:\n{session.output[-500:]}"

"""A node from Photon's kubernetes package with the minimum working configuration (K4), and
systemd managing its services (K2) that read their configuration from /etc/kubernetes (K3).

The module's `k8s_node` fixture edits the package's /etc/kubernetes files as little as current
Kubernetes needs (each edit is a JUnit property with its reason; container-only adaptations are
listed apart), starts etcd and the five services with systemctl and waits for the node.
The tests run in file order and each leaves every service running.
"""
from __future__ import annotations

import re
import time

import allure
import pytest

from harness.checks import kubernetes_services as ks
from harness.checks import target_state as ts
from harness.core.wait import WaitTimeout, wait_for


def systemctl(t, args: str, timeout: float = 150):
    return t.run(f"systemctl {args}", timeout=timeout)


def pid_alive(t, pid: int) -> bool:
    return pid > 0 and t.run(f"test -d /proc/{pid}").ok


def exe_of(t, pid: int) -> str:
    return t.run(f"readlink /proc/{pid}/exe").stdout.strip()


SERVICES = ks.SERVICES


@pytest.mark.claim("K4")
def test_node_registers_ready_and_runs_a_pod(k8s_node, inner_image_source, docker_client, record_property):
    node, t = k8s_node, k8s_node.target
    for k, v in node.properties().items():
        record_property(k, v)
    allure.attach("\n".join(f"{k}: {v}" for k, v in node.properties().items()), name="kubernetes node set-up",
                  attachment_type=allure.attachment_type.TEXT)
    not_running = {u: st for u, st in node.states.items() if st.active != "active"}
    assert not not_running, ("[K4] with the minimum working configuration, these services did not stay up:\n"
                             + "\n".join(f"{st.describe()}\n    its own message: {node.errors.get(u, '')}"
                                         for u, st in not_running.items())
                             + "\nedits made:\n" + "\n".join(e.describe() for e in node.edits))
    assert node.ready, (f"[K4] node {ks.NODE_NAME} did not become Ready within 240s of the services starting: "
                        f"{node.ready_detail}\n" + ks.kubectl(t, "get nodes -o wide").stdout)
    record_property("k8s-boot-to-ready-seconds", f"{node.timings['boot to Ready']:.1f}")
    # A pod on the node: the photon inner image (no registry: loaded into containerd's k8s.io namespace).
    image = inner_image_source("photon")
    archive = b"".join(docker_client.images.get(image.source).save(named=True))
    ks.load_image(t, archive, image.source, ks.containerd_name(image.source))
    record_property("inner-image", image.describe())
    pod = ks.run_pod(t, ks.containerd_name(image.source))
    record_property("k8s-pod-seconds", f"{pod.seconds:.1f}")
    assert pod.running, f"[K4] a pod did not run on the Ready node:\n{pod.detail}"
    assert pod.ip and pod.ip.startswith("10.88."), f"[K4] the pod has no address from the node's network: {pod.ip!r}"
    # The services stayed up meanwhile (systemd restarts a crashing one, which can look "active").
    final = ts.settle_all(t, ["etcd", *SERVICES], stable=3)
    unsteady = [s.describe() for s in final.values() if s.active != "active" or s.restarts]
    assert not unsteady, "[K4] services failed or were restarted while the node was in use:\n" + "\n".join(unsteady)


@pytest.mark.claim("K2")
def test_enable_and_disable_reflect_the_unit_links(changes_target, k8s_node):
    t = k8s_node.target
    problems = []
    for svc in SERVICES:
        before = systemctl(t, f"is-enabled {svc}").stdout.strip()
        link = f"/etc/systemd/system/multi-user.target.wants/{svc}.service"
        try:
            r = systemctl(t, f"enable {svc}")
            state = systemctl(t, f"is-enabled {svc}").stdout.strip()
            if not r.ok or state != "enabled" or not t.run(f"test -L {link}").ok:
                problems.append(f"`systemctl enable {svc}`: exit {r.exit_status}, is-enabled {state!r}, "
                                f"link {link} {'present' if t.run(f'test -L {link}').ok else 'missing'}")
            r = systemctl(t, f"disable {svc}")
            state = systemctl(t, f"is-enabled {svc}").stdout.strip()
            if not r.ok or state != "disabled" or t.run(f"test -e {link}").ok:
                problems.append(f"`systemctl disable {svc}`: exit {r.exit_status}, is-enabled {state!r}")
        finally:
            systemctl(t, f"{'enable' if before == 'enabled' else 'disable'} {svc}")
        if systemctl(t, f"is-active {svc}").stdout.strip() != "active":
            problems.append(f"{svc} stopped running while being enabled/disabled")
    assert not problems, "[K2] enable/disable do not behave as systemd units should:\n" + "\n".join(problems)


@pytest.mark.claim("K2")
def test_stop_start_restart_and_status_reflect_the_process(changes_target, k8s_node):
    t = k8s_node.target
    problems = []
    for svc in SERVICES:
        old = ts.unit_state(t, svc).main_pid
        r = systemctl(t, f"stop {svc}")
        st = ts.unit_state(t, svc)
        status = systemctl(t, f"status {svc} --no-pager").stdout
        if not r.ok or st.active != "inactive" or pid_alive(t, old) or "Active: inactive (dead)" not in status:
            problems.append(f"`systemctl stop {svc}`: exit {r.exit_status}, {st.describe()}, old PID {old} "
                            f"{'still running' if pid_alive(t, old) else 'gone'}; status says "
                            f"{re.search(r'Active: .*', status).group(0) if 'Active:' in status else status!r}")
        r = systemctl(t, f"start {svc}")
        st = ts.settle(t, svc, stable=3)
        status = systemctl(t, f"status {svc} --no-pager").stdout
        pid = st.main_pid
        if (not r.ok or st.active != "active" or not pid_alive(t, pid) or exe_of(t, pid) != f"/usr/bin/{svc}"
                or "Active: active (running)" not in status or f"Main PID: {pid} " not in status):
            problems.append(f"`systemctl start {svc}`: exit {r.exit_status}, {st.describe()}, exe "
                            f"{exe_of(t, pid)!r}; status:\n{status[:600]}\n    own message: {ts.service_error(t, svc)}")
            continue
        r = systemctl(t, f"restart {svc}")
        st = ts.settle(t, svc, stable=3)
        if not r.ok or st.active != "active" or st.main_pid == pid or pid_alive(t, pid):
            problems.append(f"`systemctl restart {svc}`: exit {r.exit_status}, {st.describe()}, PID before {pid}")
    ready = ks.wait_ready(t, ks.Node(), timeout=180)
    assert not problems, "[K2] systemd's view does not match the processes:\n" + "\n".join(problems)
    assert ready, "[K2] after stop/start/restart of every service the node did not come back Ready"


@pytest.mark.claim("K2")
def test_killed_service_is_restarted_as_its_unit_says(changes_target, k8s_node, record_property):
    t = k8s_node.target
    problems, seen = [], []
    for svc in SERVICES:
        st = ts.settle(t, svc, stable=3)
        restart = st.restart
        declared = t.run(f"systemctl cat {svc} | grep -E '^\\s*Restart(Sec)?='").stdout.strip() or "(no Restart= line)"
        pid, count = st.main_pid, st.restarts
        t.run(f"kill -9 {pid}")
        if restart in ks.RESTARTS_ON_SIGKILL:
            try:
                wait_for(f"{svc} restarted after kill -9", lambda: ts.unit_state(t, svc),
                         lambda s: s.active == "active" and s.main_pid not in (0, pid) and s.restarts > count,
                         timeout=90, interval=0.5)
            except WaitTimeout:
                pass   # judged below from its settled state
            after = ts.settle(t, svc, stable=3)
            seen.append(f"{svc}: {declared.replace(chr(10), ' ')}; kill -9 {pid} -> restarted as PID {after.main_pid} "
                        f"(NRestarts {count} -> {after.restarts})")
            if after.active != "active" or after.main_pid in (0, pid) or after.restarts <= count:
                problems.append(f"{svc} has Restart={restart} but after kill -9 {pid}: {after.describe()}; "
                                f"own message: {ts.service_error(t, svc)}")
        else:
            time.sleep(5)
            after = ts.unit_state(t, svc)
            seen.append(f"{svc}: {declared}; Restart={restart or 'no'}: kill -9 {pid} -> {after.active}/{after.sub} "
                        "(the unit does not ask systemd to restart it)")
            if after.active == "active" and after.main_pid != pid:
                problems.append(f"{svc} has Restart={restart or 'no'} yet was restarted: {after.describe()}")
            systemctl(t, f"reset-failed {svc}; systemctl start {svc}")
    record_property("k8s-kill-restart", " | ".join(seen))
    ready = ks.wait_ready(t, ks.Node(), timeout=180)
    assert not problems, "[K2] after kill -9 of a service's main process, systemd did not act as the unit says:\n" + \
        "\n".join(problems)
    assert ready, "[K2] after the kill -9 round the node did not come back Ready"


def restart_all(t, services) -> dict[str, ts.UnitState]:
    """Restart `services` (the API server first) and wait until each runs one process steadily."""
    for svc in services:
        systemctl(t, f"restart {svc}")
    return ts.settle_all(t, list(services), stable=5)


@pytest.mark.claim("K3")
def test_log_level_in_etc_kubernetes_config_reaches_every_service(changes_target, k8s_node):
    t = k8s_node.target
    path = f"{ks.CONF_DIR}/config"
    original = t.run(f"cat {path}").stdout
    try:
        ts.write_env_vars(t, path, {"KUBE_LOG_LEVEL": "--v=3"})
        changed = {svc: (st, ts.process_cmdline(t, st.main_pid)) for svc, st in restart_all(t, SERVICES).items()}
    finally:
        t.put_file(path, original.encode(), mode=0o644)
        back = {svc: ts.process_cmdline(t, st.main_pid) for svc, st in restart_all(t, SERVICES).items()}
    problems = [f"{svc}: {st.describe()}; command line: {cmd!r}" for svc, (st, cmd) in changed.items()
                if st.active != "active" or "--v=3" not in cmd.split()]
    assert not problems, (f"[K3] KUBE_LOG_LEVEL=\"--v=3\" in {path} did not reach the services after a restart:\n"
                          + "\n".join(problems))
    stale = [s for s, c in back.items() if "--v=3" in c.split()]
    assert not stale, f"[K3] the services kept --v=3 after {path} was restored: {stale}"


# A changed port in each service's own file, observed as what the process then listens on.
PORTS = {
    "kube-apiserver": ("--secure-port=6444", 6444),
    "kube-controller-manager": ("--secure-port=10267", 10267),
    "kube-scheduler": ("--secure-port=10269", 10269),
    "kubelet": ("--healthz-port=10268", 10268),
    "kube-proxy": ("--healthz-bind-address=0.0.0.0:10266", 10266),
}


@pytest.mark.claim("K3")
def test_each_service_reads_its_own_file_in_etc_kubernetes(changes_target, k8s_node, record_property):
    t = k8s_node.target
    problems, seen = [], []
    # The API server moves alone: the others reach it on 6443 and would lose it meanwhile.
    for batch in (("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"), ("kube-apiserver",)):
        originals = {}
        try:
            for svc in batch:
                path, var = f"{ks.CONF_DIR}/{ks.ENV_FILE[svc]}", ks.ARGS_VAR[svc]
                originals[path] = t.run(f"cat {path}").stdout
                value = ts.read_env_file(t, path).get(var, "")
                ts.write_env_vars(t, path, {var: f"{value} {PORTS[svc][0]}".strip()})
            states = restart_all(t, batch)
            for svc in batch:
                flag, port = PORTS[svc]
                st = states[svc]
                try:
                    listening = wait_for(f"{svc} (PID {st.main_pid}) listening on {port}",
                                         lambda: ts.listening_pids(t, port), lambda out: f"pid={st.main_pid}," in out,
                                         timeout=30)
                except WaitTimeout as e:
                    listening = e.last
                cmdline = ts.process_cmdline(t, st.main_pid)
                ok = flag in cmdline.split() and f"pid={st.main_pid}," in listening
                seen.append(f"{svc}: {ks.ARGS_VAR[svc]} += {flag} in {ks.CONF_DIR}/{ks.ENV_FILE[svc]} -> PID "
                            f"{st.main_pid} listens on {port}: {'yes' if ok else 'no'}")
                if not ok:
                    problems.append(f"{svc}: after adding {flag} to {ks.ARGS_VAR[svc]} and a restart: command "
                                    f"line {cmdline!r}; listening on {port}: {listening.strip() or 'nothing'}; "
                                    f"{st.describe()}")
        finally:
            for path, text in originals.items():
                t.put_file(path, text.encode(), mode=0o644)
            back = restart_all(t, batch)
        for svc, st in back.items():
            cmdline = ts.process_cmdline(t, st.main_pid)
            if PORTS[svc][0] in cmdline.split() or st.active != "active":
                problems.append(f"{svc}: not back to its file as shipped after restoring it: {st.describe()} {cmdline!r}")
    record_property("k8s-config-observed", " | ".join(seen))
    ready = ks.wait_ready(t, ks.Node(), timeout=180)
    assert not problems, "[K3] a service did not take its setting from its file in /etc/kubernetes:\n" + \
        "\n".join(problems)
    assert ready, "[K3] after the configuration round the node did not come back Ready"

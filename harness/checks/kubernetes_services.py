"""Photon's Kubernetes services on a target: the kubernetes package's systemd units and
/etc/kubernetes files (Containers page, claims K1-K3) and a node brought up from them (K4).

What Photon's package ships (vmware/photon branch 5.0, SPECS/kubernetes/kubernetes.spec,
kubernetes 1.27.16): the units and environment files of kubernetes/contrib 0.7.0
init/systemd, with etcd's :4001 rewritten to :2379, `$KUBE_ALLOW_PRIV` removed from
kubelet.service and KUBELET_API_SERVER pointed at /etc/kubernetes/kubeconfig, whose
only content is a cluster at http://127.0.0.1:8080. Every unit reads
`EnvironmentFile=-/etc/kubernetes/config` then its own file and has `Restart=on-failure`.

`bring_up_node` starts etcd and the five services with the *minimum working
configuration*: the package's files with the fewest edits current Kubernetes needs,
each edit listed with its reason, plus the adaptations a container target needs
(listed apart, never mixed with configuration). No pytest here.
"""
from __future__ import annotations

import logging
import re
import secrets
from shlex import quote as q
import time
from dataclasses import dataclass, field

from harness.checks import target_state as ts
from harness.core.errors import CommandTimeout, InfrastructureError
from harness.core.wait import WaitTimeout, wait_for

log = logging.getLogger(__name__)

SERVICES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
UNIT_DIR = "/usr/lib/systemd/system"
CONF_DIR = "/etc/kubernetes"
CONF_FILES = ("config", "apiserver", "controller-manager", "proxy", "kubelet", "kubeconfig", "scheduler")
# The environment file each unit reads after /etc/kubernetes/config, and its free-form variable.
ENV_FILE = {"kube-apiserver": "apiserver", "kube-controller-manager": "controller-manager",
            "kube-scheduler": "scheduler", "kubelet": "kubelet", "kube-proxy": "proxy"}
ARGS_VAR = {"kube-apiserver": "KUBE_API_ARGS", "kube-controller-manager": "KUBE_CONTROLLER_MANAGER_ARGS",
            "kube-scheduler": "KUBE_SCHEDULER_ARGS", "kubelet": "KUBELET_ARGS", "kube-proxy": "KUBE_PROXY_ARGS"}
# Restart= values under which systemd restarts a service its main process died of SIGKILL.
RESTARTS_ON_SIGKILL = ("always", "on-failure", "on-abnormal", "on-abort")
KUBECONFIG = f"{CONF_DIR}/kubeconfig"
API = "https://127.0.0.1:6443"
NODE_NAME = "127.0.0.1"   # the package's KUBELET_HOSTNAME (--hostname-override=127.0.0.1)
CNI_CONF = "/etc/cni/net.d/10-photon-harness-bridge.conflist"
POD_SUBNET = "10.88.0.0/16"


# ------------------------------------------------------------------ bringing a node up

@dataclass
class Edit:
    file: str
    var: str
    old: str | None
    new: str
    why: str

    def describe(self) -> str:
        return f"{self.file} {self.var}: {self.old!r} -> {self.new!r} ({self.why})"


@dataclass
class Node:
    """What bring_up_node did and saw; the tests read it."""
    edits: list[Edit] = field(default_factory=list)
    new_files: list[str] = field(default_factory=list)
    adaptations: list[str] = field(default_factory=list)   # container-vs-VM, not configuration
    timings: dict[str, float] = field(default_factory=dict)
    states: dict[str, ts.UnitState] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ready: bool = False
    ready_detail: str = ""
    token: str = ""
    cgroup_root: str = ""
    boot_seconds: float | None = None

    def properties(self) -> dict[str, str]:
        """What the harness changed and how long it took, for the report."""
        times = ({"target boot": self.boot_seconds} if self.boot_seconds is not None else {}) | self.timings
        return {"k8s-config-edits": " | ".join(e.describe() for e in self.edits),
                "k8s-new-files": " | ".join(self.new_files),
                "k8s-harness-adaptations": " | ".join(self.adaptations),
                "k8s-timings": ", ".join(f"{k} {v:.1f}s" for k, v in times.items())}


def kubectl(target, args: str, timeout: float = 60):
    return target.run(f"kubectl --kubeconfig {KUBECONFIG} {args}", timeout=timeout)


def _must(target, command: str, what: str, timeout: float = 120):
    r = target.run(command, timeout=timeout)
    if not r.ok:
        raise InfrastructureError(f"{what} failed on {target.spec.id} (exit {r.exit_status}): "
                                  f"{(r.stdout + r.stderr).strip()[-800:]}")
    return r


def adapt_container(target, node: Node) -> None:
    """What a container target needs that a VM does not (each step recorded)."""
    # containerd's snapshots cannot be overlayfs on the target's overlayfs root: keep them on
    # the /var/lib/docker volume the container target already has, as a VM keeps them on disk.
    fs = target.run("stat -f -c %T /var/lib/containerd 2>/dev/null || echo missing").stdout.strip()
    if fs == "overlayfs":
        _must(target, "systemctl stop docker.socket docker.service containerd.service && "
                      "mkdir -p /var/lib/containerd /var/lib/docker/.photon-harness-containerd && "
                      "mount --bind /var/lib/docker/.photon-harness-containerd /var/lib/containerd && "
                      "systemctl start containerd.service", "moving containerd's store off overlayfs")
        node.adaptations.append("/var/lib/containerd bind-mounted from the /var/lib/docker volume "
                                "(overlayfs snapshots cannot live on the container's overlayfs root)")
    # Without CAP_SYS_RESOURCE (this sandbox's bounding set lacks it) runc cannot lower a pod's
    # oom_score_adj below its own; containerd's CRI then has to restrict it (kind does the same).
    capbnd = int(target.run("awk '/^CapBnd/ {print $2}' /proc/self/status").stdout.strip() or "0", 16)
    if not capbnd & (1 << 24):
        cfg = "/etc/containerd/config.toml"
        has = target.run(f"grep -q '^\\s*\\[plugins\\.\"io\\.containerd\\.grpc\\.v1\\.cri\"\\]\\s*$' {cfg}").ok
        edit = (f"sed -i '/^\\s*\\[plugins\\.\"io\\.containerd\\.grpc\\.v1\\.cri\"\\]\\s*$/a\\    "
                f"restrict_oom_score_adj = true' {cfg}" if has else
                f"printf '\\n[plugins.\"io.containerd.grpc.v1.cri\"]\\n  restrict_oom_score_adj = true\\n' >> {cfg}")
        _must(target, f"{edit} && systemctl restart containerd.service", "restricting oom_score_adj in containerd")
        node.adaptations.append("containerd CRI restrict_oom_score_adj = true (no CAP_SYS_RESOURCE in this "
                                "sandbox, so pods cannot get a lower oom_score_adj than containerd)")
    # cgroup v1 without a cgroup namespace: hierarchies the container was not placed in are
    # the host's root; a kubelet would create cgroups there that outlive the target (kind's
    # entrypoint unmounts them for the same reason). Then give the kubelet a cgroup root
    # inside the target's own cgroup, created in every hierarchy it checks.
    if target.run("test -f /sys/fs/cgroup/cgroup.controllers").ok:
        return
    unscoped = target.run("awk -F: '$3 == \"/\" && $2 != \"\" {print $2}' /proc/1/cgroup").stdout.split()
    for ctl in unscoped:
        mnt = f"/sys/fs/cgroup/{ctl.replace('name=', '')}"
        if target.run(f"mountpoint -q {q(mnt)}").ok:
            _must(target, f"umount {q(mnt)}", f"unmounting the unscoped cgroup hierarchy {mnt}")
            node.adaptations.append(f"unmounted cgroup v1 hierarchy {mnt} (not scoped to the target: "
                                    "cgroups made there would outlive it)")
    own = target.run("awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3; exit}' /proc/1/cgroup").stdout.strip()
    own = re.sub(r"/init\.scope$", "", own)
    if own in ("", "/"):
        return
    root = f"{own}/kubelet"
    script = f"""set -e
for h in /sys/fs/cgroup/*; do
  [ -L "$h" ] && continue; mountpoint -q "$h" || continue
  [ "$(stat -f -c %T "$h")" = cgroup2fs ] && continue
  mkdir -p "$h{root}"
done
d=/sys/fs/cgroup/cpuset
for part in $(echo {q(root)} | tr / ' '); do
  parent=$d; d=$d/$part
  [ -n "$(cat $d/cpuset.cpus)" ] || cat $parent/cpuset.cpus > $d/cpuset.cpus
  [ -n "$(cat $d/cpuset.mems)" ] || cat $parent/cpuset.mems > $d/cpuset.mems
done"""
    _must(target, script, "creating the kubelet's cgroup root")
    node.cgroup_root = root
    node.adaptations.append(f"kubelet cgroup root {root} (inside the target's own cgroup, created in each "
                            "cgroup v1 hierarchy; the default / would be the host's root)")


def minimum_configuration(target, node: Node, container: bool) -> dict[str, dict[str, str]]:
    """file -> {VAR: value}: the package's files with the fewest edits Kubernetes >= 1.24 needs."""
    kubelet_args, why_kubelet = [], []
    help_text = ts.binary_help(target, "/usr/bin/kubelet")
    m = re.search(r"--container-runtime-endpoint .*?\(default \"([^\"]*)\"", help_text)
    if not (m and "containerd.sock" in m.group(1)):
        kubelet_args.append("--container-runtime-endpoint=unix:///run/containerd/containerd.sock")
        why_kubelet.append("dockershim was removed in 1.24 and this kubelet has no containerd default: "
                           "the kubelet talks CRI to containerd (kubelet.service still Requires=docker.service)")
    if container and node.cgroup_root:
        kubelet_args.append(f"--cgroup-root={node.cgroup_root}")
        why_kubelet.append("--cgroup-root: container target only (see adaptations)")
    proxy_args = [f"--kubeconfig={KUBECONFIG}", f"--hostname-override={NODE_NAME}"]
    why_proxy = ("credentials for the secure API port; the node name the package's kubelet registers "
                 f"(KUBELET_HOSTNAME --hostname-override={NODE_NAME}), else kube-proxy waits for a node named "
                 "after the host")
    if container:
        proxy_args.append("--conntrack-max-per-core=0")
        why_proxy += ("; --conntrack-max-per-core=0: container target only (nf_conntrack_max is not writable "
                      "outside the host's network namespace: 'open /proc/sys/net/netfilter/nf_conntrack_max: "
                      "permission denied')")
    plan = {
        "config": {
            "KUBE_LOGTOSTDERR": ("", "--logtostderr was removed in 1.26 (every service: 'unknown flag: --logtostderr')"),
            "KUBE_MASTER": (f"--master={API}", "the insecure port 8080 was removed in 1.24; the API is HTTPS on 6443"),
        },
        "apiserver": {
            "KUBE_API_ADDRESS": ("--bind-address=0.0.0.0", "--insecure-bind-address was removed in 1.24"),
            "KUBE_ADMISSION_CONTROL": ("--admission-control=NamespaceLifecycle,NamespaceExists,LimitRanger,"
                                       "ServiceAccount,ResourceQuota",
                                       "admission plugin SecurityContextDeny was removed in 1.30 "
                                       "(deprecated in 1.27)"),
            "KUBE_API_ARGS": (f"--service-account-issuer=https://kubernetes.default.svc "
                              f"--service-account-key-file={CONF_DIR}/serviceaccount.key "
                              f"--service-account-signing-key-file={CONF_DIR}/serviceaccount.key "
                              f"--token-auth-file={CONF_DIR}/tokens.csv",
                              "service account issuer and keys are required since 1.20; a token file "
                              "authenticates the other services, which no longer have an insecure port"),
        },
        "controller-manager": {"KUBE_CONTROLLER_MANAGER_ARGS": (f"--kubeconfig={KUBECONFIG}",
                                                                "credentials for the secure API port")},
        "scheduler": {"KUBE_SCHEDULER_ARGS": (f"--kubeconfig={KUBECONFIG}", "credentials for the secure API port")},
        "proxy": {"KUBE_PROXY_ARGS": (" ".join(proxy_args), why_proxy)},
        "kubelet": {"KUBELET_ARGS": (" ".join(kubelet_args), "; ".join(why_kubelet))},
    }
    out = {}
    for f, values in plan.items():
        old = ts.read_env_file(target, f"{CONF_DIR}/{f}")
        out[f] = {}
        for var, (value, why) in values.items():
            if old.get(var) != value:
                node.edits.append(Edit(f"{CONF_DIR}/{f}", var, old.get(var), value, why))
            out[f][var] = value
    return out


def write_credentials(target, node: Node) -> None:
    node.token = secrets.token_hex(16)
    kubeconfig = f"""apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {API}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: {node.token}
contexts:
- name: local
  context:
    cluster: local
    user: admin
current-context: local
"""
    old = target.run(f"cat {KUBECONFIG}").stdout
    node.edits.append(Edit(KUBECONFIG, "(whole file)", old.strip().replace("\n", " | "),
                           f"cluster {API} (TLS not verified), user admin with a token",
                           "the package's file names only http://127.0.0.1:8080 and no user; no insecure port since 1.24"))
    target.put_file(KUBECONFIG, kubeconfig.encode(), mode=0o640)
    target.put_file(f"{CONF_DIR}/tokens.csv", f"{node.token},admin,admin,system:masters\n".encode(), mode=0o640)
    _must(target, f"openssl genrsa -out {CONF_DIR}/serviceaccount.key 2048 2>/dev/null && "
                  f"chown root:kube {KUBECONFIG} {CONF_DIR}/tokens.csv {CONF_DIR}/serviceaccount.key && "
                  f"chmod 0640 {CONF_DIR}/serviceaccount.key", "writing the service account key")
    node.new_files += [f"{CONF_DIR}/tokens.csv (admin token, group system:masters)",
                       f"{CONF_DIR}/serviceaccount.key (RSA key for service account tokens)"]
    cni = ('{"cniVersion": "0.4.0", "name": "photon-harness", "plugins": ['
           '{"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, '
           f'"ipam": {{"type": "host-local", "ranges": [[{{"subnet": "{POD_SUBNET}"}}]], '
           '"routes": [{"dst": "0.0.0.0/0"}]}}, {"type": "portmap", "capabilities": {"portMappings": true}}]}\n')
    _must(target, "mkdir -p /etc/cni/net.d", "creating /etc/cni/net.d")
    target.put_file(CNI_CONF, cni.encode(), mode=0o644)
    node.new_files.append(f"{CNI_CONF} (bridge network {POD_SUBNET}: without a CNI network the node stays NotReady)")


def containerd_name(ref: str) -> str:
    """The fully qualified name containerd gives a Docker reference (photon:5.0 -> docker.io/library/photon:5.0)."""
    first = ref.split("/")[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def load_image(target, archive: bytes, source: str, ref: str) -> None:
    """Import a `docker save` archive into containerd's k8s.io namespace and name it `ref`."""
    path = f"/var/tmp/photon-harness-{secrets.token_hex(4)}.tar"
    target.put_file(path, archive, mode=0o644)
    try:
        _must(target, f"ctr -n k8s.io images import {path} >/dev/null", f"importing {source} into containerd", 300)
        name = containerd_name(source)
        if name != ref:
            _must(target, f"ctr -n k8s.io images tag --force {q(name)} {q(ref)}", f"naming {source} {ref}")
    finally:
        target.run(f"rm -f {path}")


def sandbox_image(target) -> str:
    out = target.run("containerd config dump 2>/dev/null").stdout
    m = re.search(r'^\s*sandbox_image\s*=\s*"([^"]+)"', out, re.M)
    if not m:
        raise InfrastructureError(f"containerd on {target.spec.id} names no sandbox_image")
    return m.group(1)


def start_services(target, node: Node, units=("etcd", *SERVICES), stable: float = 8) -> None:
    for u in units:
        target.run(f"systemctl reset-failed {u} 2>/dev/null; systemctl start {u}", timeout=150)
    settle_into(target, node, units, stable)


def settle_into(target, node: Node, units=("etcd", *SERVICES), stable: float = 8) -> None:
    node.states.update(ts.settle_all(target, list(units), stable=stable))
    for u, st in node.states.items():
        if st.active != "active":
            node.errors[u] = ts.service_error(target, u)


def failed_units(target, units=("etcd", *SERVICES)) -> list[str]:
    r = target.run("systemctl is-failed " + " ".join(units))
    return [u for u, s in zip(units, r.stdout.split()) if s == "failed"]


def wait_ready(target, node: Node, timeout: float = 240, give_up_on_failed: bool = False) -> bool:
    polls = 0

    def ready_condition() -> str | None:
        """The node's Ready condition ('True ...'), or None once a unit has failed (give_up_on_failed)."""
        nonlocal polls
        polls += 1
        if give_up_on_failed and polls % 5 == 0 and failed_units(target):
            node.ready_detail += f" (gave up: failed units {', '.join(failed_units(target))})"
            return None
        r = kubectl(target, f"get node {NODE_NAME} -o jsonpath='{{range .status.conditions[?(@.type==\"Ready\")]}}"
                            f"{{.status}} {{.reason}} {{.message}}{{end}}'", timeout=30)
        node.ready_detail = (r.stdout + r.stderr).strip()
        return r.stdout if r.ok else ""
    try:
        condition = wait_for(f"node {NODE_NAME} Ready", ready_condition,
                             lambda c: c is None or c.startswith("True"), timeout=timeout, interval=2)
    except WaitTimeout:
        return False
    node.ready = condition is not None
    return node.ready


def bring_up_node(target, pause_archive: bytes, pause_source: str, container: bool, booted_at: float) -> Node:
    """Minimum working configuration, etcd and the five services; wait for the node to be Ready."""
    node = Node()
    t = time.monotonic()
    if container:
        adapt_container(target, node)
    plan = minimum_configuration(target, node, container)
    for f, values in plan.items():
        ts.write_env_vars(target, f"{CONF_DIR}/{f}", values)
    write_credentials(target, node)
    ref = sandbox_image(target)
    load_image(target, pause_archive, pause_source, ref)
    node.adaptations.append(f"pause image {pause_source} loaded into containerd as its sandbox image {ref} "
                            "(no registry here)")
    node.timings["configure"] = time.monotonic() - t
    t = time.monotonic()
    for u in ("etcd", *SERVICES):
        target.run(f"systemctl reset-failed {u} 2>/dev/null; systemctl start {u}", timeout=150)
    node.timings["start services"] = time.monotonic() - t
    t = time.monotonic()
    wait_ready(target, node, give_up_on_failed=True)
    node.timings["until Ready"] = time.monotonic() - t
    node.timings["boot to Ready"] = time.monotonic() - booted_at
    # Then the services must stay up (a crash loop can look "active" for a while).
    settle_into(target, node, stable=20)
    log.info(f"[k8s] {target.spec.id}: node {'Ready' if node.ready else 'NOT Ready'} "
        f"{node.timings['boot to Ready']:.0f}s after boot ("
        + ", ".join(f"{k} {v:.0f}s" for k, v in node.timings.items() if k != "boot to Ready") + ")")
    return node


POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  automountServiceAccountToken: false
  containers:
  - name: probe
    image: {image}
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "echo {marker}; exec sleep 3600"]
"""


@dataclass
class PodRun:
    name: str
    running: bool
    detail: str
    logs: str = ""
    ip: str = ""
    seconds: float = 0.0


def run_pod(target, image: str, name: str = "photon-harness-probe", timeout: float = 180) -> PodRun:
    marker = f"photon-harness-pod-{secrets.token_hex(3)}"
    manifest = POD.format(name=name, image=image, marker=marker)
    t = time.monotonic()
    r = target.run(f"kubectl --kubeconfig {KUBECONFIG} apply -f - <<'EOF'\n{manifest}EOF", timeout=60)
    if not r.ok:
        return PodRun(name, False, f"kubectl apply failed: {(r.stdout + r.stderr).strip()}")
    try:
        w = kubectl(target, f"wait --for=condition=Ready pod/{name} --timeout={int(timeout)}s", timeout=timeout + 30)
        waited = (w.stdout + w.stderr).strip()
    except CommandTimeout as e:
        w, waited = None, str(e)
    seconds = time.monotonic() - t
    got = kubectl(target, f"get pod {name} -o wide").stdout.strip()
    if w is None or not w.ok:
        events = kubectl(target, f"get events --field-selector involvedObject.name={name} "
                                 "-o custom-columns=REASON:.reason,MESSAGE:.message").stdout.strip()
        return PodRun(name, False, f"{waited}\n{got}\n{events[-1500:]}", seconds=seconds)
    ip = kubectl(target, f"get pod {name} -o jsonpath='{{.status.podIP}}'").stdout.strip()
    try:
        logs = wait_for(f"{marker!r} in the logs of pod {name}", lambda: kubectl(target, f"logs {name}").stdout,
                        lambda out: marker in out, timeout=10)
    except WaitTimeout as e:
        logs = e.last
    return PodRun(name, marker in logs, f"{got}\nlogs: {logs.strip()!r} (expected {marker!r})", logs, ip, seconds)

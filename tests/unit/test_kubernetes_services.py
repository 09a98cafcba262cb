"""The stand-in kubernetes package mirrors Photon's layout; the node set-up's pure parts."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from harness.checks import kubernetes_services as ks
from harness.checks import target_state as ts
from harness.core.commands import CommandResult
from harness.targets.base import TargetSpec

STANDIN = Path(__file__).resolve().parents[2] / "images" / "kubernetes" / "standin" / "kubernetes"

# What Photon's package ships (vmware/photon 5.0 kubernetes.spec: kubernetes/contrib 0.7.0
# init/systemd, $KUBE_ALLOW_PRIV deleted from kubelet.service).
PHOTON_EXECSTART_VARS = {
    "kube-apiserver": ["KUBE_LOGTOSTDERR", "KUBE_LOG_LEVEL", "KUBE_ETCD_SERVERS", "KUBE_API_ADDRESS",
                       "KUBE_API_PORT", "KUBELET_PORT", "KUBE_ALLOW_PRIV", "KUBE_SERVICE_ADDRESSES",
                       "KUBE_ADMISSION_CONTROL", "KUBE_API_ARGS"],
    "kube-controller-manager": ["KUBE_LOGTOSTDERR", "KUBE_LOG_LEVEL", "KUBE_MASTER", "KUBE_CONTROLLER_MANAGER_ARGS"],
    "kube-scheduler": ["KUBE_LOGTOSTDERR", "KUBE_LOG_LEVEL", "KUBE_MASTER", "KUBE_SCHEDULER_ARGS"],
    "kube-proxy": ["KUBE_LOGTOSTDERR", "KUBE_LOG_LEVEL", "KUBE_MASTER", "KUBE_PROXY_ARGS"],
    "kubelet": ["KUBE_LOGTOSTDERR", "KUBE_LOG_LEVEL", "KUBELET_API_SERVER", "KUBELET_ADDRESS", "KUBELET_PORT",
                "KUBELET_HOSTNAME", "KUBELET_ARGS"],
}
PHOTON_UNIT_SETTINGS = {
    "kube-apiserver": {"User": "kube", "Restart": "on-failure", "Type": "notify"},
    "kube-controller-manager": {"User": "kube", "Restart": "on-failure"},
    "kube-scheduler": {"User": "kube", "Restart": "on-failure"},
    "kube-proxy": {"Restart": "on-failure"},
    "kubelet": {"Restart": "on-failure", "KillMode": "process", "Requires": "docker.service"},
}
PHOTON_VALUES = {
    "config": {"KUBE_LOGTOSTDERR": "--logtostderr=true", "KUBE_LOG_LEVEL": "--v=0",
               "KUBE_ALLOW_PRIV": "--allow-privileged=false", "KUBE_MASTER": "--master=http://127.0.0.1:8080"},
    "apiserver": {"KUBE_API_ADDRESS": "--insecure-bind-address=127.0.0.1",
                  "KUBE_ETCD_SERVERS": "--etcd-servers=http://127.0.0.1:2379",
                  "KUBE_SERVICE_ADDRESSES": "--service-cluster-ip-range=10.254.0.0/16",
                  "KUBE_ADMISSION_CONTROL": "--admission-control=NamespaceLifecycle,NamespaceExists,LimitRanger,"
                                            "SecurityContextDeny,ServiceAccount,ResourceQuota",
                  "KUBE_API_ARGS": ""},
    "kubelet": {"KUBELET_ADDRESS": "--address=127.0.0.1", "KUBELET_HOSTNAME": "--hostname-override=127.0.0.1",
                "KUBELET_API_SERVER": "--kubeconfig=/etc/kubernetes/kubeconfig", "KUBELET_ARGS": ""},
    "controller-manager": {"KUBE_CONTROLLER_MANAGER_ARGS": ""},
    "scheduler": {"KUBE_SCHEDULER_ARGS": ""},
    "proxy": {"KUBE_PROXY_ARGS": ""},
}


def unit_text(svc: str) -> str:
    return (STANDIN / "usr/lib/systemd/system" / f"{svc}.service").read_text()


def test_standin_units_use_photons_variables_in_photons_order():
    for svc, expected in PHOTON_EXECSTART_VARS.items():
        text = unit_text(svc)
        execstart = re.search(r"^ExecStart=(.*?)(?<!\\)$", text, re.M | re.S).group(1)
        assert re.findall(r"\$([A-Z_]+)", execstart) == expected, svc
        assert execstart.startswith(f"/usr/bin/{svc} ")
        assert re.findall(r"^EnvironmentFile=(.*)$", text, re.M) == [
            "-/etc/kubernetes/config", f"-/etc/kubernetes/{ks.ENV_FILE[svc]}"]
        for key, value in PHOTON_UNIT_SETTINGS[svc].items():
            assert re.search(rf"^{key}={re.escape(value)}$", text, re.M), (svc, key)
        if "User" not in PHOTON_UNIT_SETTINGS[svc]:
            assert not re.search(r"^User=", text, re.M), svc


def test_standin_environment_files_hold_photons_values():
    for name, values in PHOTON_VALUES.items():
        text = (STANDIN / "etc/kubernetes" / name).read_text()
        found = dict(re.findall(r'^([A-Z_]+)="(.*)"$', text, re.M))
        assert found == values, name
    conffiles = (STANDIN / "DEBIAN/conffiles").read_text().split()
    assert sorted(conffiles) == sorted(f"/etc/kubernetes/{f}" for f in ks.CONF_FILES)


class FakeTarget:
    """Serves `cat FILE` from a dict; records writes. Enough for the configuration planner."""

    def __init__(self, files: dict[str, str], outputs: dict[str, str] | None = None):
        self.files, self.outputs = dict(files), outputs or {}
        self.spec = TargetSpec("standin", "full", "container")
        self.name = "fake"

    def run(self, command: str, user=None, timeout: float = 60, env=None) -> CommandResult:
        if command.startswith("cat "):
            path = shlex.split(command)[1]
            ok = path in self.files
            return CommandResult(command, 0 if ok else 1, self.files.get(path, ""), "", 0.0)
        for prefix, out in self.outputs.items():
            if command.startswith(prefix):
                return CommandResult(command, 0, out, "", 0.0)
        return CommandResult(command, 0, "", "", 0.0)

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.files[path] = data.decode()


def package_files() -> dict[str, str]:
    return {f"/etc/kubernetes/{f}": (STANDIN / "etc/kubernetes" / f).read_text() for f in ks.CONF_FILES}


def test_minimum_configuration_edits_each_have_a_reason_and_keep_the_variables():
    help_1_34 = ('      --container-runtime-endpoint string   The endpoint (default '
                 '"unix:///run/containerd/containerd.sock") (DEPRECATED: ...)\n')
    t = FakeTarget(package_files(), {"'/usr/bin/kubelet' --help": help_1_34, "/usr/bin/kubelet --help": help_1_34})
    node = ks.Node(cgroup_root="/docker/abc/kubelet")
    plan = ks.minimum_configuration(t, node, container=True)
    assert all(e.why for e in node.edits)
    edited = {(e.file, e.var) for e in node.edits}
    assert ("/etc/kubernetes/config", "KUBE_LOGTOSTDERR") in edited
    assert plan["config"]["KUBE_LOGTOSTDERR"] == ""
    # A kubelet whose default runtime is containerd needs no endpoint flag; the container target's
    # cgroup root is the only kubelet edit, and it says it is for containers only.
    assert plan["kubelet"]["KUBELET_ARGS"] == "--cgroup-root=/docker/abc/kubelet"
    kubelet_edit = next(e for e in node.edits if e.var == "KUBELET_ARGS")
    assert "container target only" in kubelet_edit.why
    for f, values in plan.items():
        ts.write_env_vars(t, f"/etc/kubernetes/{f}", values)
        after = ts.read_env_file(t, f"/etc/kubernetes/{f}")
        for var, value in values.items():
            assert after[var] == value
        # Variables the plan does not touch keep the package's values.
        for var, value in PHOTON_VALUES.get(f, {}).items():
            if var not in values:
                assert after[var] == value


def test_service_error_is_the_services_own_last_error_line():
    journal = ("I1129 starting\nError: unknown flag: --logtostderr\nUsage:\n  kube-scheduler [flags]\n"
               "kube-scheduler.service: Failed with result 'exit-code'.\n")
    t = FakeTarget({}, {"journalctl -u 'kube-scheduler'": journal, "journalctl -u kube-scheduler": journal})
    assert ts.service_error(t, "kube-scheduler") == "Error: unknown flag: --logtostderr"


def test_containerd_names_of_docker_references():
    assert ks.containerd_name("photon:5.0") == "docker.io/library/photon:5.0"
    assert ks.containerd_name("photon-harness/inner-photon:abc") == "docker.io/photon-harness/inner-photon:abc"
    assert ks.containerd_name("registry.k8s.io/pause:3.6") == "registry.k8s.io/pause:3.6"

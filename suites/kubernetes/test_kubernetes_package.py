"""Section 3 of the Photon OS Containers page: the kubernetes package (claims I1, K1, K2, K3).

"Photon OS includes the open source Docker engine; the full version includes Kubernetes."
"The Kubernetes package provides several services: kube-apiserver, kube-scheduler,
kube-controller-manager, kubelet, kube-proxy. These services are managed by systemd.
Their configuration resides in a central location: /etc/kubernetes."

On container targets the full flavour is the harness's recipe plus `tdnf install kubernetes`
(images/kubernetes/), so I1 there checks that Photon's repository provides the package; on
a VM or an existing host it checks the image as shipped.
"""
from __future__ import annotations

import re

import pytest

from harness.checks import kubernetes_services as ks
from harness.checks import target_state as ts

PACKAGE = "kubernetes"


@pytest.mark.claim("I1")
def test_full_includes_kubernetes_minimal_does_not(request, target_spec, record_property):
    t = request.getfixturevalue("k8s_target" if target_spec.flavor == "full" else "target")
    version, answer = ts.installed_version(t, PACKAGE)
    record_property("kubernetes-package", version or "not installed")
    if target_spec.flavor == "full":
        assert version, f"[I1] documented: the full version includes Kubernetes; on {t.spec.id}:\n{answer}"
        kubectl = t.run("kubectl version --client 2>&1")
        assert kubectl.ok and re.search(r"Client Version: v\d+\.\d+", kubectl.stdout), (
            f"[I1] the kubernetes package is installed but kubectl does not run:\n{kubectl.stdout}")
    else:
        assert version is None, (f"[I1] only the full version is documented to include Kubernetes, but the "
                                 f"minimal flavour has it:\n{answer}")
        units = t.run(f"ls {ks.UNIT_DIR}/kube-apiserver.service {ks.UNIT_DIR}/kubelet.service 2>&1")
        assert not units.ok, f"[I1] minimal has Kubernetes units without the package:\n{units.stdout}"


@pytest.mark.claim("K1")
def test_package_provides_the_five_services(full_only, k8s_target, record_property):
    t = k8s_target
    problems, evidence = [], []
    for svc in ks.SERVICES:
        path = f"{ks.UNIT_DIR}/{svc}.service"
        owner, answer = ts.owner_of(t, path)
        evidence.append(answer)
        if owner != PACKAGE:
            problems.append(f"{path}: owned by {owner or 'no package'}")
        st = ts.unit_state(t, svc)
        if st.props.get("LoadState") != "loaded":
            problems.append(f"{svc}.service: LoadState={st.props.get('LoadState')}")
        # The unit systemd uses is that file (Debian's merged /usr shows it as /lib/systemd/system).
        real = t.run(f"readlink -f {st.props.get('FragmentPath') or '/nonexistent'}; readlink -f {path}").stdout.split()
        if len(real) != 2 or real[0] != real[1]:
            problems.append(f"{svc}.service: systemd loads {st.props.get('FragmentPath')!r}, not {path}")
        exe = t.run(f"systemctl show -p ExecStart {svc}").stdout
        m = re.search(r"path=(\S+)", exe)
        binary = m.group(1) if m else "?"
        bowner, banswer = ts.owner_of(t, binary)
        evidence.append(banswer)
        if bowner != PACKAGE:
            problems.append(f"{svc}.service runs {binary}, owned by {bowner or 'no package'}")
    record_property("k8s-unit-owners", " | ".join(e.replace("\n", " -> ") for e in evidence))
    assert not problems, ("[K1] documented: the kubernetes package provides kube-apiserver, kube-scheduler, "
                          "kube-controller-manager, kubelet, kube-proxy:\n" + "\n".join(problems)
                          + "\n--- package manager ---\n" + "\n".join(evidence))


@pytest.mark.claim("K3")
def test_configuration_resides_in_etc_kubernetes(full_only, k8s_target, record_property):
    t = k8s_target
    problems = []
    conf = set(ts.conffiles(t, PACKAGE))
    for f in ks.CONF_FILES:
        path = f"{ks.CONF_DIR}/{f}"
        owner, answer = ts.owner_of(t, path)
        if owner != PACKAGE:
            problems.append(f"{path}: {answer}")
        elif path not in conf:
            problems.append(f"{path}: shipped by {PACKAGE} but not marked as configuration")
    for svc in ks.SERVICES:
        st = ts.unit_state(t, svc)
        files = re.findall(r"^(\S+)", st.props.get("EnvironmentFiles", ""), re.M)
        want = [f"{ks.CONF_DIR}/config", f"{ks.CONF_DIR}/{ks.ENV_FILE[svc]}"]
        if files != want:
            problems.append(f"{svc}.service reads environment files {files}, expected {want}")
            continue
        # Every variable the command line uses is set (or shown, commented out) in those files.
        argv = t.run(f"systemctl show -p ExecStart {svc}").stdout
        variables = sorted(set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", argv)))
        text = t.run(" ".join(["cat", *want])).stdout
        missing = [v for v in variables if not re.search(rf"^\s*#?\s*{v}=", text, re.M)]
        if missing:
            problems.append(f"{svc}.service uses ${', $'.join(missing)}, which {', '.join(want)} do not mention")
        record_property(f"k8s-{svc}-variables", " ".join(variables))
    assert not problems, ("[K3] documented: the services' configuration resides in /etc/kubernetes:\n"
                          + "\n".join(problems))


@pytest.mark.claim("K2")
def test_services_start_with_the_shipped_configuration(full_only, changes_target, k8s_target, record_property):
    """`systemctl start` with /etc/kubernetes as the package ships it (nothing edited)."""
    t = k8s_target
    node = ks.Node()
    ks.start_services(t, node)
    lines = []
    for u, st in node.states.items():
        lines.append(st.describe() + (f"\n    its own message: {node.errors[u]}" if u in node.errors else ""))
    record_property("k8s-shipped-config-states", " | ".join(f"{u}={s.active}/{s.sub}" for u, s in node.states.items()))
    failed = [u for u, st in node.states.items() if st.active != "active"]
    assert not failed, (
        f"[K2] documented: the services are managed by systemd; with the configuration the kubernetes package "
        f"ships, `systemctl start` leaves {', '.join(failed)} not running:\n" + "\n".join(lines))

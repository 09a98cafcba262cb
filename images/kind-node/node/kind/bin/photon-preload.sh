#!/bin/bash
# Run once in the node build container (by harness/kind.py): finish containerd's config and
# preload the component images from /kind/images/*.tar into containerd's k8s.io namespace.
# $1: the pause image reference kubeadm expects (containerd's sandbox image).
set -euo pipefail
pause_ref="$1"
chmod 0755 /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl /usr/local/bin/crictl /kind/bin/*
# kind's base image: the default OCI spec plus the product_uuid hook, without rlimits.
ctr oci spec \
  | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
  | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
sed -i "s#^\(\s*sandbox_image\s*=\s*\).*#\1\"${pause_ref}\"#" /etc/containerd/config.toml
# Nodes here lack CAP_SYS_RESOURCE: a pod sandbox asking for an oom_score_adj below containerd's
# own then dies in runc ("can't get final child's PID from pipe"), and privileged pods fail with
# "unable to apply caps". Clamp the scores, and run runc through photon-runc (a no-op with a
# complete capability bounding set).
sed -i 's#restrict_oom_score_adj = false#restrict_oom_score_adj = true#' /etc/containerd/config.toml
sed -i 's#^\(\s*\)SystemdCgroup = true#&\n\1BinaryName = "/kind/bin/photon-runc"#' /etc/containerd/config.toml
grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml
[ "$(grep -c 'BinaryName = "/kind/bin/photon-runc"' /etc/containerd/config.toml)" = 2 ]
grep -q "sandbox_image = \"${pause_ref}\"" /etc/containerd/config.toml
: > /tmp/empty.toml
containerd --config /tmp/empty.toml >/tmp/containerd.log 2>&1 &
pid=$!
for _ in $(seq 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done
ctr version >/dev/null || { cat /tmp/containerd.log; exit 1; }
for t in /kind/images/*.tar; do
  ctr --namespace=k8s.io images import --all-platforms --no-unpack "$t"
done
ctr --namespace=k8s.io images ls -q
kill "$pid"; wait "$pid" || true
rm -rf /kind/images /tmp/empty.toml /tmp/containerd.log

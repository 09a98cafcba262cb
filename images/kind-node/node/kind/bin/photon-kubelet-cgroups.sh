#!/bin/sh
# cgroup v1 only: kind's entrypoint creates /kubelet and /kubelet.slice in the hierarchies
# mounted when the node starts, but systemd mounts the remaining ones (hugetlb, perf_event,
# net_cls,net_prio on hosts that do not mount them) later, and kubelet then refuses to start:
# "cgroup ["kubelet"] has some missing paths: /sys/fs/cgroup/hugetlb/kubelet.slice".
set -eu
[ -f /sys/fs/cgroup/cgroup.controllers ] && exit 0
findmnt -lun -o target -t cgroup | while read -r hierarchy; do
  for root in kubelet kubelet.slice; do
    [ -d "$hierarchy/$root" ] && continue
    mkdir -p "$hierarchy/$root"
    if [ -f "$hierarchy/cpuset.cpus" ]; then
      cat "$hierarchy/cpuset.cpus" > "$hierarchy/$root/cpuset.cpus"
      cat "$hierarchy/cpuset.mems" > "$hierarchy/$root/cpuset.mems"
    fi
  done
done

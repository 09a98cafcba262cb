"""`photon-harness preflight distributed-build`: the rehearsal (harness/distributed_build.py)
against your own cluster and NFS export, before a six-hour `make distributed-build`.

    photon-harness preflight distributed-build --kubeconfig ~/.kube/config \\
        --nfs-server 10.0.0.5:/mnt/NFS_PATH/MY_DIR --pods 3
    photon-harness preflight distributed-build --options common/data/distributed_build_options.json

Exit status: 0 the rehearsal passed, 1 it failed (the report names the cause), 2 bad input.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from harness.artifacts.go_toolchain import KIND_CACHE
from harness.artifacts.kind_binaries import KIND_VERSION
from harness.core.engine import docker_client
from harness.core.errors import HarnessError
from harness.rehearsal.distributed_build import Rehearsal, rehearsal_image


def add_distributed_build_parser(sub, func) -> None:
    d = sub.add_parser(
        "distributed-build",
        help="deploy Photon's distributed-build topology with synthetic packages, check it, delete it",
        description="Deploys what Photon's `make distributed-build` deploys (NFS PVs and claims, nfspod, "
                    "master-service, the master Job, the worker Deployment) with a small scheduler and "
                    "workers over a synthetic package graph, checks the build, and deletes everything.")
    d.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG") or "~/.kube/config",
                   help="the cluster (default $KUBECONFIG, else ~/.kube/config, which Photon's builder reads)")
    d.add_argument("--nfs-server", metavar="HOST:/path", help="the NFS export (Photon's nfs-server-ip and "
                   "nfs-server-path)")
    d.add_argument("--options", metavar="FILE", help="take nfs-server-ip, nfs-server-path and pods from this "
                   "distributed_build_options.json (the flags win)")
    d.add_argument("--pods", type=int, help="worker pods (default: --options' pods, else 1 as in Photon)")
    d.add_argument("--namespace", default="default", help="namespace (default: default, as Photon's builder)")
    d.add_argument("--image", help="an image with python3, sh and tar that every node has or can pull "
                   "(default: build photon-harness/distributed-build locally; then it must reach the nodes)")
    d.add_argument("--kind-cluster", metavar="NAME", help="load the image into this kind cluster first")
    d.add_argument("--fail", metavar="PACKAGE", action="append", default=[],
                   help="make this synthetic package's build fail, to rehearse failure handling")
    d.add_argument("--build-seconds", type=float, default=2.0, help="how long each synthetic build takes")
    d.add_argument("--timeout", type=float, default=600.0, help="seconds the build may take (default 600)")
    d.add_argument("--keep-artefacts", action="store_true",
                   help="leave build-<id>/ on the export (the Kubernetes objects are deleted anyway)")
    d.set_defaults(func=func)


def _nfs(args) -> tuple[str, str, int]:
    opts = {}
    if args.options:
        try:
            opts = json.loads(Path(args.options).expanduser().read_text())
        except (OSError, ValueError) as e:
            raise HarnessError(f"--options {args.options}: {e}") from None
    if args.nfs_server:
        host, sep, path = args.nfs_server.partition(":")
        if not sep or not host or not path.startswith("/"):
            raise HarnessError(f"--nfs-server {args.nfs_server!r} is not HOST:/path")
    else:
        host, path = opts.get("nfs-server-ip", ""), opts.get("nfs-server-path", "")
        if not host or not path:
            raise HarnessError("no NFS export: give --nfs-server HOST:/path, or --options FILE with "
                               "nfs-server-ip and nfs-server-path filled in")
    pods = args.pods if args.pods is not None else int(opts.get("pods") or 1)
    if pods < 1:
        raise HarnessError(f"pods must be 1 or more, not {pods}")
    return host, path, pods


def _kind_binary() -> str:
    found = shutil.which("kind") or str(KIND_CACHE / "bin" / f"kind-{KIND_VERSION}" / "kind")
    if not Path(found).is_file():
        raise HarnessError("--kind-cluster needs the kind binary (on PATH, or `photon-harness kind build-node-image`)")
    return found


def distributed_build(args) -> int:
    from kubernetes import config

    host, path, pods = _nfs(args)
    kubeconfig = Path(args.kubeconfig).expanduser()
    if not kubeconfig.is_file():
        raise HarnessError(f"no kubeconfig at {kubeconfig} (section 4: the builder reads the kubeconfig "
                           "under the home directory); pass --kubeconfig PATH")
    try:
        api = config.new_client_from_config(config_file=str(kubeconfig))
    except Exception as e:  # noqa: BLE001 - any malformed kubeconfig: one line
        raise HarnessError(f"kubeconfig {kubeconfig}: {e}") from None
    image = args.image
    if not image:
        image = rehearsal_image(docker_client()).tag
        print(f"image {image} (built locally; every node must have it: nodes get imagePullPolicy IfNotPresent)")
    if args.kind_cluster:
        r = subprocess.run([_kind_binary(), "load", "docker-image", image, "--name", args.kind_cluster],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise HarnessError(f"kind load docker-image {image} --name {args.kind_cluster}: {r.stderr.strip()[-500:]}")
        print(f"loaded {image} into kind cluster {args.kind_cluster}")
    result = Rehearsal(api, image, host, path, pods=pods, namespace=args.namespace,
                       outcomes={p: "fail" for p in args.fail}, build_seconds=args.build_seconds,
                       build_timeout=args.timeout, keep_artefacts=args.keep_artefacts).run()
    api.close()
    if result.warnings:
        print("\nbefore running Photon's build, look at:")
        for w in result.warnings:
            print(f"  - {w}")
    return 0 if result.ok else 1

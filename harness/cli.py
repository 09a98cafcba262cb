"""photon-harness: the command line (doctor, images, boot, reap, ...)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from harness.artifacts.build import flavor_image
from harness.artifacts.kind_binaries import Versions
from harness.artifacts.kind_node import build_node_image
from harness.artifacts.vm import standin_ova
from harness.core.engine import docker_client
from harness.core.errors import HarnessError
from harness.core.progress import ProgressHandler
from harness.model import claims, documentation
from harness.model.procedures import load_suites
from harness.ops import cache_prune, docs_check
from harness.ops.bench import bench
from harness.ops.doctor import doctor
from harness.ops.preflight import add_distributed_build_parser, distributed_build
from harness.ops.reap import parse_age, reap
from harness.matrix.controller import build_runner, matrix_run
from harness.matrix.shard import run_shard
from harness.report import compare, history, results
from harness.report.allure import render


def cmd_doctor(args) -> int:
    return 0 if doctor(fix=args.fix) else 1


def cmd_claims(args) -> int:
    if args.sync:
        parsed = claims.parse_claims_md(Path(args.sync).read_text())
        claims.write_registry(parsed)
        print(f"wrote {len(parsed)} claims to {claims.DATA}")
        return 0
    if args.docs_version is None:
        for c in claims.registry().values():
            print(f"{c.id:4} {c.section}: {c.text}")
        return 0
    record = documentation.recorded()
    version = documentation.check_version(args.docs_version, record)
    print(f"claims of Photon docs v{version} ({record.commit_label()}, {record.root(version)}):")
    for c in claims.registry().values():
        pages = record.claim_pages(c.id, version)
        print(f"{c.id:4} {c.section}: {c.text}\n     " + (", ".join(pages) if pages else f"not documented in v{version}"))
    return 0


def cmd_docs_check(args) -> int:
    # 4 on bad input (no checkout there, an unknown version), 1 on stale steps, 0 otherwise
    try:
        record = documentation.recorded()
        versions = [documentation.check_version(args.docs_version, record)] if args.docs_version \
            else sorted(record.versions)
        procs = load_suites()
        if not args.docs:
            print(docs_check.render_recorded(record, procs, versions))
            return 0
        root = docs_check.content_root(Path(args.docs))
        checks = [docs_check.check_version(record, procs, root, v) for v in versions]
    except HarnessError as e:
        print(f"photon-harness: error: {e}", file=sys.stderr)
        return 4
    print(docs_check.to_json(record, checks) if args.format == "json" else
          docs_check.render(record, checks, args.docs))
    return 1 if any(c.stale for c in checks) else 0


def cmd_docs_record(args) -> int:
    record = docs_check.record_checkout(Path(args.docs), documentation.recorded(), args.commit, args.date)
    documentation.DATA.write_text(json.dumps(record, indent=1) + "\n")
    print(f"recorded {sum(len(v['pages']) for v in record['versions'].values())} pages of "
          f"{record['source']['repository']} @ {record['source']['commit'][:12]} in {documentation.DATA}")
    return 0


def cmd_images(args) -> int:
    client = docker_client()
    for flavor in args.flavor.split(","):
        r = flavor_image(client, args.base, flavor.strip(), args.image)
        print(f"{r.tag}  {'cached' if r.cached else 'built'} in {r.seconds:.1f}s")
    return 0


def cmd_standin_ova(args) -> int:
    print(standin_ova(args.flavor))
    return 0


def cmd_reap(args) -> int:
    # Bare: every session whose run has ended (its owner process is gone), whatever its age;
    # a run in progress is never touched. --older-than: by age instead; --session: that one.
    older = parse_age(args.older_than) if args.older_than else None
    r = reap(docker_client(), session_id=args.session, older_than=older, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {r.summary()}")
    for kind in ("containers", "networks", "volumes", "images", "vms", "clusters", "namespaces"):
        for name in getattr(r, kind):
            print(f"  {kind[:-1]} {name}")
    return 0


def cmd_report(args) -> int:
    page = render(args.allure_dir, args.output, history_from=args.history)
    print(f"allure report: {page}")
    return 0


def cmd_compare(args) -> int:
    """Exit 1 when NEW has regressions since OLD, 0 otherwise, 4 when either cannot be read."""
    try:
        old, new = results.load(args.old), results.load(args.new)
    except HarnessError as e:
        print(f"photon-harness: error: {e}", file=sys.stderr)
        return 4
    c = compare.compare(old, new)
    render = {"text": compare.render_text, "md": compare.render_markdown, "json": compare.render_json}[args.format]
    sys.stdout.write(render(c))
    return 1 if c.regressions else 0


def cmd_cache_prune(args) -> int:
    try:
        client = docker_client()
    except HarnessError as e:   # the files can still be pruned
        print(f"photon-harness: images left alone: {e}", file=sys.stderr)
        client = None
    found = cache_prune.prune(client, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for r in found:
        print(f"{verb} {r.what} ({r.size / 2**20:.0f} MiB): {r.why}")
    print(f"{verb} {len(found)} item(s), up to {sum(r.size for r in found) / 2**30:.1f} GiB")
    return 0


def cmd_bench(args) -> int:
    bench(docker_client(), runs=args.runs, vm=not args.no_vm)
    return 0


def cmd_history(args) -> int:
    page = history.write(args.directory, args.output)
    print(f"history: {page}")
    return 0


def cmd_kind_build_node_image(args) -> int:
    v = Versions(kind=args.kind_version, kubernetes=args.kubernetes_version)
    r = build_node_image(docker_client(), v)
    for s in r.stages:
        print(f"  {s.name:48} {'cached' if s.cached else 'built '} {s.seconds:8.1f}s")
    print(r.tag)
    return 0


def cmd_matrix_run(args) -> int:
    return matrix_run(args.kubeconfig, args.shards, pytest_args(args.pytest_args), runner_image=args.runner_image,
                      nfs_server=args.nfs_server, timeout=args.timeout)


def cmd_matrix_build_runner(args) -> int:
    return build_runner(pytest_args(args.pytest_args))


def cmd_matrix_shard(args) -> int:
    return run_shard(args.shards, Path(args.results), pytest_args(args.pytest_args))


def pytest_args(remainder: list[str]) -> list[str]:
    return remainder[1:] if remainder[:1] == ["--"] else remainder


def cmd_preflight_distributed_build(args) -> int:
    return distributed_build(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="photon-harness",
                                description="Check that Photon OS behaves as its container documentation says.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("doctor", help="check the host (Docker, privileged containers, tools, disk)")
    d.add_argument("--fix", action="store_true", help="install and start what is missing (root)")
    d.set_defaults(func=cmd_doctor)
    i = sub.add_parser("images", help="build (or find cached) the target images of a base")
    i.add_argument("--base", default="standin", choices=["photon", "standin"])
    i.add_argument("--flavor", default="full,minimal", help="comma list: full, minimal")
    i.add_argument("--image", default="photon:5.0", help="the Photon image the photon recipes build FROM")
    i.set_defaults(func=cmd_images)
    o = sub.add_parser("standin-ova", help="build (or find cached) the stand-in as a bootable OVA; prints its path")
    o.add_argument("--flavor", default="full", choices=["full", "minimal"])
    o.set_defaults(func=cmd_standin_ova)
    c = sub.add_parser("claims", help="list the documented claims, or --sync them from claims.md")
    c.add_argument("--sync", metavar="CLAIMS_MD", help="regenerate harness/data/claims.json from this file")
    c.add_argument("--docs-version", metavar="N", help="that Photon docs version's claims, with their pages")
    c.set_defaults(func=cmd_claims)
    dc = sub.add_parser("docs", help="the procedures held to Photon's documentation per version")
    dcsub = dc.add_subparsers(dest="docs_command", required=True)
    dchk = dcsub.add_parser("check", help="stale steps, uncovered commands, changed pages against a docs checkout; "
                                          "exit 1 on stale steps")
    dchk.add_argument("--docs", metavar="PATH", help="a checkout of vmware/photon's photon-hugo branch "
                                                     "(content/en/docs-vN/...); without it: what is recorded")
    dchk.add_argument("--docs-version", metavar="N", help="only this docs version (default: every recorded one)")
    dchk.add_argument("--format", choices=("text", "json"), default="text")
    dchk.set_defaults(func=cmd_docs_check)
    drec = dcsub.add_parser("record", help="re-record page hashes and commands from a checkout (maintainers)")
    drec.add_argument("--docs", metavar="PATH", required=True)
    drec.add_argument("--commit", default="", help="the commit PATH holds, when it is not a git checkout")
    drec.add_argument("--date", default="", help="that commit's date")
    drec.set_defaults(func=cmd_docs_record)
    k = sub.add_parser("kind", help="offline kind clusters")
    ksub = k.add_subparsers(dest="kind_command", required=True)
    kb = ksub.add_parser("build-node-image", help="build (or find cached) an offline kind node image")
    kb.add_argument("--kubernetes-version", default="v1.34.4")
    kb.add_argument("--kind-version", default="v0.30.0")
    kb.set_defaults(func=cmd_kind_build_node_image)
    r = sub.add_parser("reap", help="remove labelled containers, networks, volumes a killed run left")
    r.add_argument("--session", metavar="ID", help="only this session's resources")
    r.add_argument("--older-than", metavar="AGE", help="every session's resources older than AGE (90s, 30m, 1h, "
                   "2d); without it and --session: every session whose run has ended (its process is gone)")
    r.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    r.set_defaults(func=cmd_reap)
    a = sub.add_parser("report", help="render allure results (--alluredir) as one offline HTML page")
    a.add_argument("allure_dir", metavar="ALLURE_DIR")
    a.add_argument("-o", "--output", default=None, help="output directory (default ALLURE_DIR-html)")
    a.add_argument("--history", metavar="PREVIOUS", default=None,
                   help="a previous allure report (or a run's report directory holding one): its history goes "
                        "on in this one, so allure's trend graphs show run after run")
    a.set_defaults(func=cmd_report)
    cp = sub.add_parser("compare", help="what changed between two runs (results.json or report directories); "
                                       "exit 1 on regressions")
    cp.add_argument("old", metavar="OLD", help="the baseline: a results.json or a report directory")
    cp.add_argument("new", metavar="NEW", help="the run to judge against it")
    cp.add_argument("--format", choices=("text", "md", "json"), default="text")
    cp.set_defaults(func=cmd_compare)
    cache = sub.add_parser("cache", help="the build cache under ~/.cache/photon-harness")
    csub = cache.add_subparsers(dest="cache_command", required=True)
    cpr = csub.add_parser("prune", help="remove superseded images, VM disks and templates")
    cpr.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    cpr.set_defaults(func=cmd_cache_prune)
    b = sub.add_parser("bench", help="measure target boot, VM restore and command round trips on this machine")
    b.add_argument("--runs", type=int, default=30, help="samples per command path (default 30)")
    b.add_argument("--no-vm", action="store_true", help="containers only (a VM cold boot takes minutes under TCG)")
    b.set_defaults(func=cmd_bench)
    h = sub.add_parser("history", help="one offline HTML page over many runs: claims x runs, flakes, failing since")
    h.add_argument("directory", metavar="DIR", help="a directory holding report directories (each with results.json)")
    h.add_argument("-o", "--output", default=None, help="the page to write (default DIR/history.html)")
    h.set_defaults(func=cmd_history)
    m = sub.add_parser("matrix", help="run the suites as a Kubernetes Indexed Job, one report for all shards")
    msub = m.add_subparsers(dest="matrix_command", required=True)
    mr = msub.add_parser("run", help="split the run by target over N pods of a cluster; merge their results",
                         usage="photon-harness matrix run --kubeconfig FILE --shards N [--runner-image REF] "
                               "-- PYTEST-ARGS")
    mr.add_argument("--kubeconfig", required=True, metavar="FILE", help="the cluster to run in")
    mr.add_argument("--shards", type=int, required=True, metavar="N", help="pods, each with its own targets")
    mr.add_argument("--runner-image", default="", metavar="REF",
                    help="a runner image the nodes can pull (see README); default: build one here and load it "
                         "onto the nodes (kind clusters on this machine)")
    mr.add_argument("--nfs-server", default="", metavar="HOST:/path",
                    help="where shards write their results (default: the harness's NFS server, on the cluster's "
                         "Docker network)")
    mr.add_argument("--timeout", type=float, default=3600, help="seconds the shards may take in all (default 3600)")
    mr.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST-ARGS")
    mr.set_defaults(func=cmd_matrix_run)
    mb = msub.add_parser("build-runner", help="build the runner image for these pytest arguments; prints its tag "
                                              "(docker tag and push it, then give it as --runner-image)")
    mb.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST-ARGS")
    mb.set_defaults(func=cmd_matrix_build_runner)
    ms = msub.add_parser("shard", help="(in a runner pod) one shard of a matrix run")
    ms.add_argument("--shards", type=int, required=True)
    ms.add_argument("--results", required=True, metavar="DIR")
    ms.add_argument("pytest_args", nargs=argparse.REMAINDER)
    ms.set_defaults(func=cmd_matrix_shard)
    pf = sub.add_parser("preflight", help="rehearse a documented procedure on your own infrastructure")
    pfsub = pf.add_subparsers(dest="preflight_command", required=True)
    add_distributed_build_parser(pfsub, cmd_preflight_distributed_build)
    return p


def log_progress_to_stdout() -> None:
    """The library reports progress through `logging` (a logger per module under `harness`): show it plainly,
    with progress lines as a bar rewritten in place on a terminal."""
    handler = ProgressHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("harness")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log_progress_to_stdout()
    try:
        return args.func(args)
    except HarnessError as e:
        print(f"photon-harness: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("photon-harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""photon-harness: the command line (doctor, images, boot, reap, ...)."""
from __future__ import annotations

import argparse
import sys

from .errors import HarnessError


def cmd_doctor(args) -> int:
    from .host import doctor
    return 0 if doctor(fix=args.fix) else 1


def cmd_claims(args) -> int:
    from pathlib import Path
    from . import claims
    if args.sync:
        parsed = claims.parse_claims_md(Path(args.sync).read_text())
        claims.write_registry(parsed)
        print(f"wrote {len(parsed)} claims to {claims.DATA}")
        return 0
    for c in claims.registry().values():
        print(f"{c.id:4} {c.section}: {c.text}")
    return 0


def cmd_images(args) -> int:
    from .host import docker_client
    from .images.build import flavor_image
    client = docker_client()
    for flavor in args.flavor.split(","):
        r = flavor_image(client, args.base, flavor.strip(), args.image)
        print(f"{r.tag}  {'cached' if r.cached else 'built'} in {r.seconds:.1f}s")
    return 0


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
    c = sub.add_parser("claims", help="list the documented claims, or --sync them from claims.md")
    c.add_argument("--sync", metavar="CLAIMS_MD", help="regenerate harness/data/claims.json from this file")
    c.set_defaults(func=cmd_claims)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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

"""Run configuration: the user's options, validated, with the base resolved."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import HarnessError
from .images.build import BASES, FLAVORS

BACKENDS = ("container", "vm", "ssh")
DEFAULT_PHOTON_IMAGE = "photon:5.0"
# The images the documentation runs inside a target (D5, D6, R7).
DOCUMENTED_INNER_IMAGES = ("ubuntu:14.04", "photon")


def split_list(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise HarnessError(f"--{what} is empty; choose from {', '.join(allowed)}")
    for v in items:
        if v not in allowed:
            raise HarnessError(f"unknown --{what} {v!r}; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def parse_pairs(values: list[str], what: str, keys: tuple[str, ...] | None = None) -> dict[str, str]:
    out = {}
    for v in values or []:
        name, sep, ref = v.partition("=")
        if not sep or not name or not ref:
            raise HarnessError(f"--{what} {v!r} must look like NAME=REF")
        if keys is not None and name not in keys:
            raise HarnessError(f"--{what} {v!r}: NAME must be one of {', '.join(keys)}")
        out[name] = ref
    return out


@dataclass
class RunConfig:
    base: str                       # resolved: photon | standin
    base_requested: str             # photon | standin | auto
    base_reason: str                # why this base (shown first in the run and in the report)
    photon_image: str
    flavors: list[str]
    backends: list[str]
    inner_images: dict[str, str] = field(default_factory=dict)
    target_images: dict[str, str] = field(default_factory=dict)
    boot_timeout: float = 120
    vm_images: dict[str, str] = field(default_factory=dict)   # flavour -> qcow2/raw/ova path
    host_url: str = ""                                        # ssh://user@host[:port] for --backend ssh
    ssh_key: str = ""

    @property
    def is_standin(self) -> bool:
        return self.base == "standin"

    def banner(self) -> str:
        if self.is_standin:
            return (f"photon-harness: base=standin ({self.base_reason}). STAND-IN RUN: Debian bookworm "
                    "targets, a self-test of the suites, NOT evidence about Photon OS.")
        return f"photon-harness: base=photon, image {self.photon_image} ({self.base_reason})"


def image_available(client, ref: str) -> tuple[bool, str]:
    """Present locally, or pulled now. Returns (available, how or why not)."""
    import docker.errors
    try:
        client.images.get(ref)
        return True, "present locally"
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(ref)
        return True, "pulled"
    except docker.errors.APIError as e:
        return False, f"not present locally and not pullable: {(e.explanation or str(e)).strip()[:120]}"


def resolve(client, base: str, image: str | None, flavors: str, backends: str,
            inner_images: list[str], target_images: list[str], boot_timeout: float = 120,
            vm_images: list[str] = (), host_url: str = "", ssh_key: str = "") -> RunConfig:
    if base not in (*BASES, "auto"):
        raise HarnessError(f"unknown --base {base!r}; choose from {', '.join(BASES)}, auto")
    fl = split_list(flavors, FLAVORS, "flavor")
    be = split_list(backends, BACKENDS, "backend")
    inner = parse_pairs(inner_images, "inner-image", DOCUMENTED_INNER_IMAGES)
    targets = parse_pairs(target_images, "target-image", FLAVORS)
    photon_image = image or DEFAULT_PHOTON_IMAGE
    if boot_timeout <= 0:
        raise HarnessError("--boot-timeout must be positive")
    vms = parse_pairs(list(vm_images), "vm-image", FLAVORS)
    for flavor, path in vms.items():
        if not Path(path).is_file():
            raise HarnessError(f"--vm-image {flavor}={path}: no such file")
    if "ssh" in be:
        from .targets.ssh import parse_host_url
        if not host_url:
            raise HarnessError("--backend ssh needs --host ssh://user@host[:port]")
        parse_host_url(host_url)
        if len(fl) != 1:
            raise HarnessError("--backend ssh needs exactly one --flavor: the flavour of that host")
    elif host_url:
        raise HarnessError("--host is only used with --backend ssh")
    # An explicitly named image must exist: never fall back silently.
    for ref in [*inner.values(), *targets.values(), *([image] if image else [])]:
        ok, why = image_available(client, ref)
        if not ok:
            raise HarnessError(f"image {ref!r} {why}")
    if base == "auto":
        ok, why = image_available(client, photon_image)
        resolved, reason = ("photon", f"auto: {photon_image} {why}") if ok else \
            ("standin", f"auto: {photon_image} {why}")
    elif base == "photon":
        ok, why = image_available(client, photon_image)
        if not ok:
            raise HarnessError(f"--base photon: image {photon_image!r} {why}")
        resolved, reason = "photon", f"requested; {photon_image} {why}"
    else:
        resolved, reason = "standin", "requested"
    if resolved == "photon" and "vm" in be:
        missing = [f for f in fl if f not in vms]
        if missing:
            raise HarnessError(f"--backend vm on Photon needs --vm-image FLAVOR=PATH for {', '.join(missing)}")
    return RunConfig(resolved, base, reason, photon_image, fl, be, inner, targets, boot_timeout,
                     vms, host_url, ssh_key)

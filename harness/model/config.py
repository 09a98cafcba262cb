"""Run configuration: the user's options, validated, with the base resolved."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from harness.core.errors import HarnessError
from harness.model import documentation
from harness.model.machine import PHOTON_DEFAULT, with_devices

FLAVORS = ("full", "minimal")
BASES = ("photon", "standin")    # the recipes the harness builds
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


def parse_host_url(url: str) -> tuple[str, str, int]:
    """ssh://user@host[:port] -> (user, host, port)."""
    u = urlparse(url)
    if u.scheme != "ssh" or not u.hostname or not u.username or u.path not in ("", "/"):
        raise HarnessError(f"--host {url!r} must look like ssh://user@host[:port]")
    return u.username, u.hostname, u.port or 22


@dataclass
class RunConfig:
    base: str                       # the recipes the harness builds: photon | standin
    base_requested: str             # photon | standin | auto; photon or standin is also what every target must be
    base_reason: str                # why these recipes (shown first in the run and in the report)
    photon_image: str
    flavors: list[str]
    backends: list[str]
    inner_images: dict[str, str] = field(default_factory=dict)
    target_images: dict[str, str] = field(default_factory=dict)
    boot_timeout: float = 120
    vm_images: dict[str, str] = field(default_factory=dict)   # flavour -> qcow2/raw/ova path
    host_url: str = ""                                        # ssh://user@host[:port] for --backend ssh
    ssh_key: str = ""
    vm_snapshots: bool = True     # VM targets restored from a booted template, else cold boots
    docs_version: str = ""        # --docs-version: the Photon docs that judge every target; "" = each target's own
    sudo_password_file: str = ""  # --sudo-password-file: the SSH login's sudo password (the path only is kept)
    vm_devices: str = ""          # --vm-devices: the disk bus and NIC of user disks ("" = their OVF, else AHCI + vmxnet3)

    def sudo_password(self) -> str | None:
        """The password sudo asks the SSH login for, read when needed (it is never stored or recorded)."""
        if not self.sudo_password_file:
            return None
        return Path(self.sudo_password_file).read_text().rstrip("\n")

    @property
    def is_standin(self) -> bool:
        """The harness builds stand-in recipes (and may substitute stand-in inner images)."""
        return self.base == "standin"

    @property
    def expected_base(self) -> str:
        """What every target must turn out to be ("" with --base auto: whatever it is)."""
        return "" if self.base_requested == "auto" else self.base_requested

    def source(self, flavor: str, backend: str) -> str:
        """Where a target comes from: the user's image, disk or host ("user"), else the harness's recipe."""
        if backend == "ssh" or (backend == "vm" and flavor in self.vm_images) or \
                (backend == "container" and flavor in self.target_images):
            return "user"
        return self.base

    def banner(self) -> str:
        """The first line of a run: what is built, what is given. What each target is comes after boot."""
        plan = []
        for backend in self.backends:
            for flavor in self.flavors:
                src = self.source(flavor, backend)
                given = {"vm": self.vm_images.get(flavor), "container": self.target_images.get(flavor),
                         "ssh": self.host_url}.get(backend)
                plan.append(f"{flavor}/{backend}: " + (f"{given} (as given; what it is is read after boot)"
                                                       if src == "user" else f"{src} recipe"))
        recipes = any(self.source(f, b) != "user" for b in self.backends for f in self.flavors)
        parts = [f"recipes={self.base} ({self.base_reason})"] if recipes else []
        if self.expected_base:
            parts.append(f"every target must be {self.expected_base}")
        parts.append(f"targets: {'; '.join(plan)}")
        if self.docs_version:
            parts.append(f"judged by Photon docs v{self.docs_version} (--docs-version)")
        warn = (" STAND-IN targets are Debian bookworm, a self-test of the suites, NOT evidence about Photon OS."
                if recipes and self.is_standin else "")
        return f"photon-harness: {'; '.join(parts)}.{warn}"


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
            vm_images: list[str] = (), host_url: str = "", ssh_key: str = "",
            vm_snapshots: str = "on", docs_version: str = "", sudo_password_file: str = "",
            vm_devices: str = "") -> RunConfig:
    if base not in (*BASES, "auto"):
        raise HarnessError(f"unknown --base {base!r}; choose from {', '.join(BASES)}, auto")
    fl = split_list(flavors, FLAVORS, "flavor")
    be = split_list(backends, BACKENDS, "backend")
    inner = parse_pairs(inner_images, "inner-image", DOCUMENTED_INNER_IMAGES)
    targets = parse_pairs(target_images, "target-image", FLAVORS)
    photon_image = image or DEFAULT_PHOTON_IMAGE
    if boot_timeout <= 0:
        raise HarnessError("--boot-timeout must be positive")
    if vm_snapshots not in ("on", "off"):
        raise HarnessError(f"--vm-snapshots {vm_snapshots!r}: choose on or off")
    if docs_version:
        documentation.check_version(docs_version)
    vms = parse_pairs(list(vm_images), "vm-image", FLAVORS)
    if vm_devices:
        with_devices(PHOTON_DEFAULT, vm_devices)   # one line when it names devices the harness does not know
    for flavor, path in vms.items():
        if not Path(path).is_file():
            raise HarnessError(f"--vm-image {flavor}={path}: no such file")
    if "ssh" in be:
        if not host_url:
            raise HarnessError("--backend ssh needs --host ssh://user@host[:port]")
        parse_host_url(host_url)
        if len(fl) != 1:
            raise HarnessError("--backend ssh needs exactly one --flavor: the flavour of that host")
    elif host_url:
        raise HarnessError("--host is only used with --backend ssh")
    if sudo_password_file:
        if "ssh" not in be or parse_host_url(host_url)[0] == "root":
            raise HarnessError("--sudo-password-file is for --backend ssh with a --host user that is not root")
        try:
            if not Path(sudo_password_file).read_text().strip():
                raise HarnessError(f"--sudo-password-file {sudo_password_file}: the file is empty")
        except OSError as e:
            raise HarnessError(f"--sudo-password-file {sudo_password_file}: {e.strerror}") from None
    # An explicitly named image must exist: never fall back silently.
    for ref in [*inner.values(), *targets.values(), *([image] if image else [])]:
        ok, why = image_available(client, ref)
        if not ok:
            raise HarnessError(f"image {ref!r} {why}")
    # The Photon image is needed only where the harness builds a container target from a recipe;
    # a VM disk or a host the user names never needs it.
    recipe_containers = "container" in be and any(f not in targets for f in fl)
    if base == "auto":
        ok, why = image_available(client, photon_image)
        resolved, reason = ("photon", f"auto: {photon_image} {why}") if ok else \
            ("standin", f"auto: {photon_image} {why}")
    elif base == "photon":
        if recipe_containers:
            ok, why = image_available(client, photon_image)
            if not ok:
                raise HarnessError(f"--base photon: image {photon_image!r} {why}")
            resolved, reason = "photon", f"requested; {photon_image} {why}"
        else:
            resolved, reason = "photon", "requested; no container recipe needed"
    else:
        resolved, reason = "standin", "requested"
    if resolved == "photon" and "vm" in be:
        missing = [f for f in fl if f not in vms]
        if missing:
            raise HarnessError(f"--backend vm on Photon needs --vm-image FLAVOR=PATH for {', '.join(missing)}")
    return RunConfig(resolved, base, reason, photon_image, fl, be, inner, targets, boot_timeout,
                     vms, host_url, ssh_key, vm_snapshots == "on", docs_version, sudo_password_file, vm_devices)

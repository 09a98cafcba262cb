"""What a booted target really is, read from the target itself (never from the options).

`--base` only chooses which recipes the harness builds; a VM disk or a host the user
names can be anything. After boot the harness reads /etc/os-release, /etc/photon-release
and the stand-in's marker file, and every report label comes from that.
"""
from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass

from harness.core.errors import HarnessError, InfrastructureError

# Written by images/standin/overlay: the one file that makes a root file system the stand-in.
STANDIN_MARKER = "/etc/photon-harness/standin"
BASES = ("photon", "standin", "other")
_SEPARATOR = "----photon-harness----"


@dataclass(frozen=True)
class Identity:
    base: str            # photon | standin | other
    version: str = ""    # os-release VERSION_ID (Photon: "5.0")
    build: str = ""      # Photon's PHOTON_BUILD_NUMBER, from /etc/photon-release
    pretty: str = ""     # os-release PRETTY_NAME

    @property
    def is_photon(self) -> bool:
        return self.base == "photon"

    def describe(self) -> str:
        if self.base == "photon":
            return f"Photon OS {self.version or '?'}" + (f" build {self.build}" if self.build else "")
        if self.base == "standin":
            return f"the photon-harness stand-in ({self.pretty or 'Debian'}), not Photon OS"
        return f"not Photon OS: {self.pretty or 'unknown system'}"

    def as_dict(self) -> dict:
        return asdict(self)


class TargetMismatch(HarnessError):
    """A target is not what --base declared: the run stops, nothing on it is judged."""


def check_expected(identity: Identity, expected: str, what: str) -> None:
    """`expected` is --base (photon or standin), "" for auto; `what` names the target and its image."""
    if expected and identity.base != expected:
        raise TargetMismatch(f"ERROR: --base {expected}, but target {what} is {identity.describe()}; "
                             "nothing on it was judged (use --base auto to validate it as what it is)")


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key or key.startswith("#"):
            continue
        try:
            value = " ".join(shlex.split(value)) if value else ""
        except ValueError:   # an unbalanced quote: keep the raw value
            value = value.strip("\"'")
        out[key] = value
    return out


def identify(os_release: str, photon_release: str = "", standin_marker: bool = False) -> Identity:
    fields = parse_os_release(os_release)
    pretty = fields.get("PRETTY_NAME") or fields.get("NAME", "")
    version = fields.get("VERSION_ID", "")
    if standin_marker:
        return Identity("standin", version, "", pretty)
    if fields.get("ID") == "photon":
        build = parse_os_release(photon_release).get("PHOTON_BUILD_NUMBER", "")
        return Identity("photon", version, build, pretty)
    return Identity("other", version, "", pretty)


# One command, so a slow VM answers once: os-release, photon-release, then whether the marker exists.
READ_COMMAND = (f"cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release; echo {_SEPARATOR}; "
                f"cat /etc/photon-release 2>/dev/null; echo {_SEPARATOR}; "
                f"test -e {STANDIN_MARKER} && echo yes || echo no")


def read_identity(target) -> Identity:
    r = target.run(READ_COMMAND, timeout=60)
    parts = r.stdout.split(_SEPARATOR + "\n")
    if len(parts) != 3:
        raise InfrastructureError(f"cannot read what {target.spec.id} is (os-release): "
                                  f"exit {r.exit_status}: {(r.stdout + r.stderr).strip()[-300:]!r}")
    return identify(parts[0], parts[1], parts[2].strip() == "yes")

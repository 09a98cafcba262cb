"""What a target is, from its own os-release, photon-release and the stand-in's marker."""
import pytest

from harness.core.commands import CommandResult
from harness.core.errors import InfrastructureError
from harness.targets.base import TargetSpec
from harness.targets.identity import READ_COMMAND, identify, read_identity

# As Photon OS 5.0 ships them (photon-release package).
PHOTON_OS_RELEASE = '''NAME="VMware Photon OS"
VERSION="5.0"
ID=photon
VERSION_ID=5.0
PRETTY_NAME="VMware Photon OS/Linux"
ANSI_COLOR="1;34"
HOME_URL="https://vmware.github.io/photon/"
'''
PHOTON_RELEASE = "VMware Photon OS 5.0\nPHOTON_BUILD_NUMBER=dde71ec57\n"
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'


def test_photon_with_version_and_build():
    i = identify(PHOTON_OS_RELEASE, PHOTON_RELEASE)
    assert (i.base, i.version, i.build) == ("photon", "5.0", "dde71ec57")
    assert i.is_photon and i.describe() == "Photon OS 5.0 build dde71ec57"


def test_the_marker_makes_the_standin_whatever_os_release_says():
    i = identify(DEBIAN, "", standin_marker=True)
    assert i.base == "standin" and not i.is_photon and "not Photon OS" in i.describe()
    # A stand-in that claimed ID=photon would still be the stand-in.
    assert identify(PHOTON_OS_RELEASE, PHOTON_RELEASE, standin_marker=True).base == "standin"


def test_anything_else_is_other_with_its_pretty_name():
    i = identify(DEBIAN)
    assert i.base == "other" and i.version == "12" and i.describe() == "not Photon OS: Debian GNU/Linux 12 (bookworm)"
    assert identify("").describe() == "not Photon OS: unknown system"


class FakeTarget:
    """Boundary fake: answers the one identity command."""
    spec = TargetSpec("user", "full", "ssh")

    def __init__(self, stdout, status=0):
        self.stdout, self.status = stdout, status

    def run(self, command, timeout=60):
        assert command == READ_COMMAND
        return CommandResult(command, self.status, self.stdout, "", 0.1)


def test_read_identity_parses_the_three_parts_and_refuses_garbage():
    sep = "----photon-harness----\n"
    out = PHOTON_OS_RELEASE + sep + PHOTON_RELEASE + sep + "no\n"
    assert read_identity(FakeTarget(out)).base == "photon"
    assert read_identity(FakeTarget(DEBIAN + sep + sep + "yes\n")).base == "standin"
    with pytest.raises(InfrastructureError, match="cannot read what user-full-ssh is"):
        read_identity(FakeTarget("sh: cat: not found", 127))

"""Fixtures shared by the integration self-tests."""
import pytest

from harness.artifacts.build import flavor_image, image_from_files
from harness.core.labels import new_session_id, session_labels


@pytest.fixture
def derived_full_image(docker_client):
    """derived_full_image(RUN-line) -> tag: the stand-in full flavour plus one change, removed afterwards."""
    made = []

    def build(run: str) -> str:
        session = "selftest-" + new_session_id()
        base = flavor_image(docker_client, "standin", "full").tag
        tag = f"photon-harness/selftest-derived:{session}"
        image_from_files(docker_client, tag, {"Dockerfile": f"FROM {base}\nRUN {run}\n".encode()}, "",
                         labels=session_labels(session))
        made.append(tag)
        return tag
    yield build
    for tag in made:
        docker_client.images.remove(tag, force=True)


@pytest.fixture
def docker_disabled_full_image(derived_full_image):
    """The full flavour with docker.service disabled: a session-labelled image, removed afterwards."""
    return derived_full_image("systemctl disable docker.service docker.socket")

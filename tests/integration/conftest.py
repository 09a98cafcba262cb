"""Fixtures shared by the integration self-tests."""
import io
import tarfile

import pytest

from harness.artifacts.build import flavor_image
from harness.core.labels import new_session_id, session_labels


@pytest.fixture
def derived_full_image(docker_client):
    """derived_full_image(RUN-line) -> tag: the stand-in full flavour plus one change, removed afterwards."""
    made = []

    def build(run: str) -> str:
        session = "selftest-" + new_session_id()
        base = flavor_image(docker_client, "standin", "full").tag
        dockerfile = f"FROM {base}\nRUN {run}\n".encode()
        ctx = io.BytesIO()
        with tarfile.open(fileobj=ctx, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tar.addfile(info, io.BytesIO(dockerfile))
        ctx.seek(0)
        tag = f"photon-harness/selftest-derived:{session}"
        docker_client.images.build(fileobj=ctx, custom_context=True, tag=tag, pull=False, rm=True,
                                   labels=session_labels(session))
        made.append(tag)
        return tag
    yield build
    for tag in made:
        docker_client.images.remove(tag, force=True)

"""The Docker engine client every layer uses."""
from __future__ import annotations

import docker

from .errors import HarnessError


def docker_client(timeout: int = 120):
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as e:  # the SDK raises several kinds for "no daemon"
        raise HarnessError(f"no Docker daemon reachable ({e.__class__.__name__}); "
                           "run `photon-harness doctor --fix` as root") from None

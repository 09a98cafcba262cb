"""Session labels: every container, network, volume, VM and cluster a run creates carries
SESSION_LABEL=<session id> and CREATED_LABEL=<unix time>, so teardown, an interrupted run
and a later `photon-harness reap` find them by label alone.
"""
from __future__ import annotations

import secrets
import time

SESSION_LABEL = "io.photon-harness.session"
CREATED_LABEL = "io.photon-harness.created"
# Cached build products (images) carry this instead: they outlive sessions on purpose.
CACHE_LABEL = "io.photon-harness.cache"


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def session_labels(session_id: str) -> dict[str, str]:
    return {SESSION_LABEL: session_id, CREATED_LABEL: str(int(time.time()))}

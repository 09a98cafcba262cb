"""Where things live: the repository's recipes, the cache, the daemon log doctor --fix writes."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPES = REPO_ROOT / "images"
# Heavy artefacts (root file systems, disks, Go builds), kept between runs and keyed by their inputs.
CACHE_DIR = Path(os.environ.get("PHOTON_HARNESS_CACHE", Path.home() / ".cache" / "photon-harness"))
# dockerd's log when `doctor --fix` starts it (no systemd on the machine).
DOCKERD_LOG = Path("/var/log/photon-harness-dockerd.log")

"""For tests that press Ctrl-C on a run they started."""
from __future__ import annotations

import signal


def sigint_as_in_a_terminal() -> None:
    """preexec_fn: SIGINT back to its default in the child. Started from a background shell (as CI can be),
    a process inherits SIGINT ignored, Python then installs no KeyboardInterrupt handler, and the run
    would never see the test's Ctrl-C (a fresh-machine run started under nohup failed exactly so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

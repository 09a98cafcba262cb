"""The one way the harness waits: observe, until done, within a timeout, naming what it waited for.

    state = wait_for("docker.service active", lambda: t.run("systemctl is-active docker").stdout.strip(),
                     done=lambda s: s == "active", timeout=60)

`observe` may raise to end the wait at once (a process that died, a pod that failed); exceptions
listed in `retry_on` count as "not yet" and their text becomes the last observation. On timeout,
WaitTimeout names what was awaited and the last thing seen.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

from harness.core.errors import InfrastructureError

T = TypeVar("T")


class WaitTimeout(InfrastructureError):
    def __init__(self, what: str, timeout: float, last: object):
        self.what, self.timeout, self.last = what, timeout, last
        super().__init__(f"{what}: not within {timeout:.0f}s; last seen: {_short(last)}")


def _short(value: object, limit: int = 600) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else "..." + text[-limit:]


def wait_for(what: str, observe: Callable[[], T], done: Callable[[T], bool] = bool, *, timeout: float,
             interval: float = 1.0, retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """Call observe() every `interval` s until done(observation); return that observation."""
    deadline = time.monotonic() + timeout
    last: object = "(nothing observed yet)"
    while True:
        try:
            value = observe()
        except retry_on as e:
            last = f"{e.__class__.__name__}: {e}"
        else:
            if done(value):
                return value
            last = value
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(what, timeout, last)
        time.sleep(min(interval, left))

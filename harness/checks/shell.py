"""What an interactive shell on a target prints: shared by the suites."""
from __future__ import annotations


def shell_exchange(session, command: str, timeout: float = 60) -> str:
    """Type `command` into an interactive shell and return what it printed.

    The markers are computed by the shell ($((..))), so the terminal's echo of
    the typed line can never be mistaken for the answer.
    """
    session.send(f"echo __PH_$((1+1))_BEGIN; {command}; echo __PH_$((6*7))_END\r")
    m = session.expect(r"__PH_2_BEGIN\r?\n(.*?)__PH_42_END", timeout=timeout)
    return m.group(1).replace("\r\n", "\n")


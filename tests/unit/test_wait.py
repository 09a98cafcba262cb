"""The one wait primitive, and no hand-written polling loop anywhere else."""
import ast
import itertools
from pathlib import Path

import pytest

from harness.core.wait import WaitTimeout, wait_for

REPO = Path(__file__).resolve().parents[2]


def test_returns_the_first_observation_that_is_done():
    counter = itertools.count()
    assert wait_for("three", lambda: next(counter), lambda n: n >= 3, timeout=5, interval=0) == 3


def test_timeout_names_what_it_waited_for_and_the_last_observation():
    with pytest.raises(WaitTimeout) as e:
        wait_for("the unit to be active", lambda: "activating", lambda s: s == "active", timeout=0.3, interval=0.1)
    assert str(e.value) == "the unit to be active: not within 0s; last seen: activating"
    assert e.value.last == "activating" and e.value.what == "the unit to be active"


def test_listed_exceptions_mean_not_yet_others_end_the_wait():
    calls = itertools.count()

    def flaky():
        if next(calls) < 2:
            raise ConnectionError("refused")
        return "up"
    assert wait_for("the server", flaky, timeout=5, interval=0, retry_on=(ConnectionError,)) == "up"
    with pytest.raises(WaitTimeout, match="last seen: ConnectionError: refused"):
        wait_for("the server", lambda: (_ for _ in ()).throw(ConnectionError("refused")), timeout=0.2,
                 interval=0.05, retry_on=(ConnectionError,))
    with pytest.raises(ValueError):
        wait_for("the server", lambda: (_ for _ in ()).throw(ValueError("died")), timeout=5, retry_on=(OSError,))


def test_a_zero_timeout_observes_once():
    seen = []
    with pytest.raises(WaitTimeout):
        wait_for("once", lambda: seen.append(1), timeout=0)
    assert seen == [1]


def polling_loops(path: Path) -> list[int]:
    """Lines of loops that sleep: hand-written polling."""
    out = []
    for loop in ast.walk(ast.parse(path.read_text())):
        if isinstance(loop, (ast.While, ast.For)):
            for node in ast.walk(loop):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr == "sleep" and getattr(node.func.value, "id", "") == "time":
                    out.append(loop.lineno)
                    break
    return out


# Loops that sleep without polling anything, each for its stated reason.
NOT_POLLS = {
    "harness/artifacts/inner.py": "the one infrastructure retry of `docker load`, with a pause",
    "fixtures/cleanup.py": "the final reap runs twice, letting the engine settle in between",
    "suites/kubernetes/test_kubernetes_node.py": "K2: a fixed 5 s window in which a unit without Restart= must "
                                                 "NOT come back after kill -9",
}


def test_no_polling_loop_outside_the_wait_primitive():
    found = {str(p.relative_to(REPO)): lines for d in ("harness", "fixtures", "suites")
             for p in sorted((REPO / d).rglob("*.py")) if p != REPO / "harness/core/wait.py"
             for lines in [polling_loops(p)] if lines}
    assert set(found) - set(NOT_POLLS) == set(), f"poll with harness.core.wait.wait_for instead: {found}"
    assert all(len(found.get(f, [])) == 1 for f in NOT_POLLS), found


def test_the_loop_finder_finds_one(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import time\nwhile True:\n    if x():\n        break\n    time.sleep(1)\n")
    assert polling_loops(f) == [2]

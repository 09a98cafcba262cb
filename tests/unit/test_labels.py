"""Which labelled resources a reap takes: by session, by age, or those whose run has ended."""
import os
import socket
import subprocess
import sys
import time

from harness.core import labels as lb


def test_a_live_owner_is_kept_a_dead_one_is_reaped(monkeypatch):
    monkeypatch.setenv(lb.OWNER_ENV, lb.this_process())
    live = lb.session_labels("s-live")
    assert live[lb.OWNER_LABEL].split()[1] == str(os.getpid())
    assert not lb.selected(live)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = f"{socket.gethostname()} {child.pid} {lb.process_start(child.pid) or 'gone'}"
    child.wait()
    dead = dict(live, **{lb.OWNER_LABEL: owner, lb.SESSION_LABEL: "s-dead"})
    assert lb.selected(dead)
    # a reused PID is another process: its start time differs
    assert lb.owner_gone(f"{socket.gethostname()} {os.getpid()} 1")
    # another host's run cannot be judged from here: left alone
    assert not lb.selected(dict(dead, **{lb.OWNER_LABEL: f"elsewhere {child.pid} 1"}))


def test_session_and_age_select_as_before():
    old = {lb.SESSION_LABEL: "s1", lb.CREATED_LABEL: str(int(time.time()) - 7200)}
    assert lb.selected(old, session_id="s1") and not lb.selected(old, session_id="s2")
    assert lb.selected(old, older_than=3600) and not lb.selected(old, older_than=10000)
    # no owner recorded (an older run): reaped by age alone
    assert lb.selected(old) and not lb.selected(dict(old, **{lb.CREATED_LABEL: str(int(time.time()))}))
    assert not lb.selected({"other": "x"})


def test_the_controller_claims_ownership_for_its_workers(monkeypatch):
    monkeypatch.delenv(lb.OWNER_ENV, raising=False)
    me = lb.claim_ownership()
    assert os.environ[lb.OWNER_ENV] == me == lb.owner() and me.split()[0] == socket.gethostname()

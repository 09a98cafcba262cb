"""Reading the log of a worker container that ended, against a fake API (the kubelet's answers as seen)."""
from types import SimpleNamespace as NS

from harness.rehearsal.pod_watch import PodWatch

# what the kubelet answered, with 200, for the previous container right after the restart (a warm .ci/run, session 10)
GONE = "unable to retrieve container logs for containerd://0d4ddddcfc95"
CRASH_LOG = "building python3: crashing now (rehearsal_outcome crash)\n"


class FakeCore:
    """Answers each read of the previous container from `previous`, in turn; the current one has `current`."""
    def __init__(self, previous: list, current: str):
        self.previous, self.current = previous, current

    def read_namespaced_pod_log(self, pod, ns, previous, tail_lines, _request_timeout):
        if not previous:
            return self.current
        answer = self.previous.pop(0) if len(self.previous) > 1 else self.previous[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def watch(core) -> PodWatch:
    return PodWatch(NS(core=core), "ph-x", topo=None, result=None, scheduler=None, start_timeout=1)


def test_the_previous_containers_log_once_the_kubelet_has_it():
    core = FakeCore([GONE, CRASH_LOG], current=GONE)
    assert watch(core).crashed_container_log("worker-1", timeout=5) == CRASH_LOG


def test_the_current_container_before_any_restart():
    core = FakeCore([RuntimeError("400: previous terminated container not found")], current=CRASH_LOG)
    assert watch(core).crashed_container_log("worker-1", timeout=5) == CRASH_LOG


def test_a_log_never_retrievable_is_said_so_not_passed_off_as_the_log():
    core = FakeCore([GONE], current=GONE)
    text = watch(core).crashed_container_log("worker-1", timeout=0.1)
    assert text.startswith("(no log: the kubelet could not retrieve it") and "unable to retrieve" not in text

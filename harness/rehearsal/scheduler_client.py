"""The rehearsal's scheduler as seen from outside the cluster: its REST endpoints through the API
server's service proxy, its package states, and the summary it logs when the build is over.

The endpoints and their documented answers are those of Photon's SchedulerServer.py (which
images/distributed-build/scheduler.py reproduces); GET /package/ is left to the workers, since
it hands out a package. No pytest here.
"""
from __future__ import annotations

import json


def endpoint_checks(first_package: str) -> list[tuple]:
    """(name, method, path, body, expected status, a check of the answer or None)."""
    return [("GET /constants/", "GET", "/constants/", None, 200,
             lambda b: isinstance(b, dict) and {"specPath", "rpmPath", "logPath"} <= set(b)),
            ("GET /donelist/", "GET", "/donelist/", None, 200,
             lambda b: isinstance(b, dict) and isinstance(b.get("packages"), list)),
            ("GET /mappackagetocycle/", "GET", "/mappackagetocycle/", None, 200, lambda b: isinstance(b, dict)),
            ("POST /notifybuild/ without package", "POST", "/notifybuild/", {"status": 0}, 400, None),
            ("POST /notifybuild/ with status 7", "POST", "/notifybuild/",
             {"package": first_package, "status": 7}, 406, None)]


class SchedulerClient:
    def __init__(self, api, namespace: str, service: str):
        self.api, self.url = api, f"/api/v1/namespaces/{namespace}/services/{service}:80/proxy"

    def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        """(HTTP status, the answer as JSON or text); (0, why) when there was no answer at all."""
        from kubernetes.client.rest import ApiException
        try:
            resp, code, _ = self.api.call_api(self.url + path, method,
                                              header_params={"Content-Type": "application/json", "Accept": "*/*"},
                                              body=body, auth_settings=["BearerToken"], _preload_content=False,
                                              _request_timeout=15)
            raw = resp.data
        except ApiException as e:
            code, raw = e.status, e.body or b""
        except Exception as e:  # noqa: BLE001 - connection trouble: report it as no answer
            return 0, f"{type(e).__name__}: {e}"
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        try:
            return code, json.loads(text) if text else None
        except ValueError:
            return code, text

    def state(self) -> dict | None:
        """Every package's state, worker and times; None while the scheduler does not answer."""
        code, body = self.call("GET", "/rehearsal/state/")
        return body if code == 200 and isinstance(body, dict) else None


def state_counts(state: dict | None) -> str:
    """One line: the packages per state."""
    if not state:
        return "unknown (the scheduler does not answer)"
    counts: dict[str, list[str]] = {}
    for p, v in state["packages"].items():
        counts.setdefault(v["state"], []).append(p)
    return "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(counts.items()))


def summary_from_log(log: str) -> dict | None:
    """The SUMMARY line the scheduler logs when the build is over (the last one), parsed."""
    for line in reversed(log.splitlines()):
        if line.startswith("SUMMARY "):
            return json.loads(line[len("SUMMARY "):])
    return None


def progress_lines(state: dict, seen: dict[str, str], worker_nodes: dict[str, str]) -> list[str]:
    """What changed since the last poll, a line per package in scheduling order; `seen` is updated."""
    lines = []
    for p, v in sorted(state["packages"].items(), key=lambda kv: (kv[1]["scheduled"] or 0, kv[0])):
        if seen.get(p) == v["state"]:
            continue
        if v["state"] == "building":
            lines.append(f"{p} -> {v['worker']} ({worker_nodes.get(v['worker'], '?')})")
        elif v["state"] == "built":
            lines.append(f"{p} built by {v['worker']}")
        elif v["state"] == "failed":
            lines.append(f"{p} FAILED by {v['worker']}")
        elif v["state"] == "blocked":
            lines.append(f"{p} blocked (a build requirement failed)")
        seen[p] = v["state"]
    return lines

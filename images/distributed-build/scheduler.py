#!/usr/bin/env python3
"""The rehearsal's master: a scheduler server with the REST interface of Photon's SchedulerServer.

Runs in the master Job's pod, from the shared NFS volume (as Photon's master runs its
package-builder from the `photon` volume). Standard library only.

The packages are a synthetic graph in SPECS/*.spec (Name, Version, Release, BuildRequires, and
`%global rehearsal_seconds N` / `%global rehearsal_outcome ok|fail|crash` for the workers).

  GET  /package/           200 and a package name whose build requirements are built;
                           204 when none is ready (and, once nothing is left to build or
                           building, the build is over: the server stops)
  POST /notifybuild/       {"package": NAME, "status": 0 | -1}: 200; 400 without package or
                           status; 406 for another status. A failed package's dependants
                           (transitively) are never handed out.
  GET  /donelist/          {"packages": [built packages]}
  GET  /mappackagetocycle/ {} (the graph has no cycles)
  GET  /constants/         the paths a worker needs, under Photon's key names
  GET  /rehearsal/state/   (the rehearsal's own) every package's state, worker and times

Two things Photon's server does not do, both for a deterministic rehearsal:
- packages are handed out only once every expected worker (REHEARSAL_PODS) has asked for
  /constants/, or REHEARSAL_BARRIER_SECONDS after start, so that every worker can get work;
- workers name themselves in an X-Rehearsal-Worker header, so the log says who built what.

At the end it writes stage/LOGS/rehearsal-summary.json, prints it on one SUMMARY line, and
exits 0 when every package was built, 1 otherwise.
"""
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.environ.get("REHEARSAL_ROOT", "/root/photon")
SPECS = os.path.join(ROOT, "SPECS")
LOGS = os.path.join(ROOT, "stage", "LOGS")
PORT = int(os.environ.get("REHEARSAL_PORT", "80"))
PODS = int(os.environ.get("REHEARSAL_PODS", "1"))
BARRIER_SECONDS = float(os.environ.get("REHEARSAL_BARRIER_SECONDS", "120"))
LINGER_SECONDS = float(os.environ.get("REHEARSAL_LINGER_SECONDS", "5"))
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.2f}s] {msg}", flush=True)


def read_specs(directory):
    graph = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".spec"):
            continue
        fields = {"requires": [], "seconds": 1.0, "outcome": "ok", "version": "1.0", "release": "1"}
        with open(os.path.join(directory, name)) as f:
            for line in f:
                m = re.match(r"\s*(Name|Version|Release|BuildRequires):\s*(.+)", line)
                g = re.match(r"\s*%global\s+rehearsal_(seconds|outcome)\s+(\S+)", line)
                if m and m.group(1) == "BuildRequires":
                    fields["requires"] += [r.strip() for r in re.split(r"[ ,]+", m.group(2)) if r.strip()]
                elif m:
                    fields[m.group(1).lower()] = m.group(2).strip()
                elif g:
                    fields[g.group(1)] = float(g.group(2)) if g.group(1) == "seconds" else g.group(2)
        graph[fields["name"]] = fields
    for pkg, f in graph.items():
        unknown = [r for r in f["requires"] if r not in graph]
        if unknown:
            raise SystemExit(f"{pkg}.spec requires unknown packages: {', '.join(unknown)}")
    return graph


class Scheduler:
    def __init__(self, graph):
        self.graph = graph
        self.lock = threading.Lock()
        self.state = {p: "waiting" for p in graph}   # waiting, building, built, failed, blocked
        self.worker = {}
        self.scheduled_at, self.finished_at = {}, {}
        self.handed = {p: 0 for p in graph}          # how often each package was handed out
        self.requests = {}                           # "GET /package/ 204" -> count
        self.by_worker = {}                          # worker -> {"GET /package/ 204": count}
        self.anomalies = []
        self.hello = {}                              # worker -> first /constants/ time
        self.released_at = None
        self.barrier_note = ""
        self.over = threading.Event()

    def released(self):
        if self.released_at is None:
            waited = time.time() - T0
            if len(self.hello) >= PODS or waited >= BARRIER_SECONDS:
                self.released_at = time.time()
                self.barrier_note = (f"{len(self.hello)}/{PODS} workers asked for /constants/ "
                                     f"after {waited:.1f}s")
                log(f"handing out packages: {self.barrier_note}")
        return self.released_at is not None

    def next_package(self, worker):
        if not self.released():
            return None
        for pkg in sorted(self.graph):   # the graph's order is its names': deterministic
            if self.state[pkg] == "waiting" and all(self.state[r] == "built" for r in self.graph[pkg]["requires"]):
                self.state[pkg] = "building"
                self.worker[pkg] = worker
                self.scheduled_at[pkg] = time.time()
                self.handed[pkg] += 1
                return pkg
        if not any(s == "building" for s in self.state.values()) and not self.over.is_set():
            for pkg in self.graph:  # what can never become ready (a requirement failed) is blocked
                if self.state[pkg] == "waiting":
                    self.state[pkg] = "blocked"
            self.over.set()
        return None

    def notify(self, pkg, status, worker):
        if pkg not in self.graph or self.state[pkg] != "building":
            self.anomalies.append(f"{worker} notified {pkg!r} (status {status}), which was "
                                  f"{self.state.get(pkg, 'not a package')}")
            return
        if self.worker.get(pkg) != worker:
            self.anomalies.append(f"{worker} notified {pkg}, which was handed to {self.worker.get(pkg)}")
        self.finished_at[pkg] = time.time()
        self.state[pkg] = "built" if status == 0 else "failed"
        if status != 0:
            for dep in self.dependants(pkg):
                if self.state[dep] == "waiting":
                    self.state[dep] = "blocked"
                    log(f"blocked {dep}: it requires {pkg}, which failed")

    def dependants(self, pkg):
        out, todo = [], [pkg]
        while todo:
            cur = todo.pop()
            for p, f in self.graph.items():
                if cur in f["requires"] and p not in out:
                    out.append(p)
                    todo.append(p)
        return sorted(out)

    def snapshot(self):
        return {
            "packages": {p: {"state": self.state[p], "worker": self.worker.get(p), "requires": f["requires"],
                             "scheduled": self.scheduled_at.get(p), "finished": self.finished_at.get(p),
                             "handed_out": self.handed[p], "outcome_asked": f["outcome"]}
                         for p, f in self.graph.items()},
            "workers": sorted(self.hello), "pods": PODS, "barrier": self.barrier_note,
            "requests": self.requests, "by_worker": self.by_worker, "anomalies": self.anomalies, "over": self.over.is_set(),
        }

    def constants(self):
        return {"specPath": SPECS, "sourcePath": os.path.join(ROOT, "stage", "SOURCES"),
                "rpmPath": os.path.join(ROOT, "stage", "RPMS"),
                "sourceRpmPath": os.path.join(ROOT, "stage", "SRPMS"), "topDirPath": "/usr/src/photon",
                "logPath": LOGS, "logLevel": "info", "dist": ".rehearsal", "buildNumber": "0000000",
                "releaseVersion": "rehearsal", "publishRpmsPath": os.path.join(ROOT, "stage", "PUBLISHRPMS"),
                "publishXrpmsPath": os.path.join(ROOT, "stage", "PUBLISHXRPMS"),
                "buildArch": os.uname().machine, "currentArch": os.uname().machine}


SCHED = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):   # one line per request is ours, below
        pass

    def reply(self, code, body=b"", ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body, ctype = body.encode(), "text/plain"
        self.send_response(code)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and code != 204:
            self.wfile.write(body)

    def record(self, code, note=""):
        worker = self.headers.get("X-Rehearsal-Worker", self.client_address[0])
        key = f"{self.command} {self.path} {code}"
        SCHED.requests[key] = SCHED.requests.get(key, 0) + 1
        mine = SCHED.by_worker.setdefault(worker, {})
        mine[key] = mine.get(key, 0) + 1
        if self.path != "/package/" or code == 200 or note:
            log(f"{self.command} {self.path} {code} {note}{' ' if note else ''}<- {worker}")
        return worker

    def do_GET(self):
        worker = self.headers.get("X-Rehearsal-Worker", self.client_address[0])
        with SCHED.lock:
            if self.path == "/package/":
                pkg = SCHED.next_package(worker)
                if pkg:
                    self.record(200, pkg)
                    return self.reply(200, pkg)
                self.record(204)
                return self.reply(204)
            if self.path == "/donelist/":
                self.record(200)
                return self.reply(200, {"packages": sorted(p for p, s in SCHED.state.items() if s == "built")})
            if self.path == "/mappackagetocycle/":
                self.record(200)
                return self.reply(200, {})
            if self.path == "/constants/":
                if "X-Rehearsal-Worker" in self.headers:  # a worker, not the harness through the API proxy
                    SCHED.hello.setdefault(worker, time.time())
                self.record(200)
                return self.reply(200, SCHED.constants())
            if self.path == "/rehearsal/state/":
                return self.reply(200, SCHED.snapshot())
        self.record(404)
        self.reply(404, {"message": f"no such endpoint {self.path}"})

    def do_POST(self):
        if self.path != "/notifybuild/":
            self.record(404)
            return self.reply(404, {"message": f"no such endpoint {self.path}"})
        try:
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError:
            data = None
        with SCHED.lock:
            if not isinstance(data, dict) or "package" not in data or "status" not in data:
                self.record(400, "missing package or status")
                return self.reply(400, {"message": "missing package or status in request"})
            if data["status"] not in (0, -1) or isinstance(data["status"], bool):
                self.record(406, f"status {data['status']!r}")
                return self.reply(406, {"message": "wrong status"})
            worker = self.record(200, f"{data['package']} {'built' if data['status'] == 0 else 'FAILED'}")
            SCHED.notify(data["package"], data["status"], worker)
        self.reply(200, {"message": "master notified successfully"})


def main():
    global SCHED
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))  # PID 1 of its pod: end on deletion
    graph = read_specs(SPECS)
    SCHED = Scheduler(graph)
    log(f"scheduler for {len(graph)} packages from {SPECS}, {PODS} worker pod(s) expected, port {PORT}")
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SCHED.over.wait()
    # Let the workers (and the harness) see the 204s of a finished build, then stop.
    time.sleep(LINGER_SECONDS)
    with SCHED.lock:
        summary = SCHED.snapshot()
    server.shutdown()
    states = [p["state"] for p in summary["packages"].values()]
    summary["result"] = "built" if all(s == "built" for s in states) else "failed"
    os.makedirs(LOGS, exist_ok=True)
    tmp = os.path.join(LOGS, ".rehearsal-summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=1)
    os.rename(tmp, os.path.join(LOGS, "rehearsal-summary.json"))
    counts = {s: states.count(s) for s in sorted(set(states))}
    log(f"build over: {counts}")
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0 if summary["result"] == "built" else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The rehearsal's worker: what Photon's BuilderClient does, with a synthetic build.

Runs in each pod of the worker Deployment, from the shared `builder` volume (as Photon's worker
runs BuilderClient.py from /root/photon/support/package-builder). Standard library only.

It finds the master as Photon's worker does, through the variables Kubernetes injects for the
service master-service-<buildid> (MASTER_SERVICE_<BUILDID>_SERVICE_HOST / _PORT, BUILDID in
upper case), asks for /constants/, then loops: GET /package/, GET /donelist/,
GET /mappackagetocycle/, build, POST /notifybuild/ with status 0 or -1. Like Photon's, it never
exits on its own: the builder deletes the Deployment when the master is done.

A "build" reads SPECS/<package>.spec, checks that the artefact of every build requirement is on
the shared RPMS volume (written by whichever worker built it, maybe on another node), works for
`rehearsal_seconds`, and writes stage/RPMS/<name>-<version>-<release>.<arch>.rpm (a small JSON
text saying who built it, where, when, from what) and stage/LOGS/<name>.log.
`%global rehearsal_outcome fail` reports status -1; `crash` makes the worker exit 137 mid-build.

Exit codes: 3 the service variables are missing; 4 the master never answered.
"""
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

POD = os.environ.get("HOSTNAME", socket.gethostname())
NODE = os.environ.get("NODE_NAME", "?")
ROOT = os.environ.get("REHEARSAL_ROOT", "/root/photon")
CONNECT_SECONDS = float(os.environ.get("REHEARSAL_CONNECT_SECONDS", "90"))
POLL_SECONDS = float(os.environ.get("REHEARSAL_POLL_SECONDS", "2"))
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.2f}s] {POD}: {msg}", flush=True)


def master_address():
    build_id = os.environ.get("BUILDID", "")
    host_var, port_var = f"MASTER_SERVICE_{build_id}_SERVICE_HOST", f"MASTER_SERVICE_{build_id}_SERVICE_PORT"
    if not build_id or host_var not in os.environ or port_var not in os.environ:
        seen = sorted(k for k in os.environ if k.startswith("MASTER_SERVICE_"))
        log(f"FATAL service variables {host_var}/{port_var} are not set (BUILDID={build_id!r}; "
            f"MASTER_SERVICE_* present: {', '.join(seen) or 'none'}): Kubernetes sets them only for a "
            f"service named master-service-{build_id.lower()} in this namespace created before this pod")
        sys.exit(3)
    host, port = os.environ[host_var], os.environ[port_var]
    name = f"master-service-{build_id.lower()}"
    try:  # Photon's worker needs only the variables; DNS is reported, not required
        log(f"master at {host}:{port} ({host_var}); DNS {name} -> {socket.gethostbyname(name)}")
    except OSError as e:
        log(f"master at {host}:{port} ({host_var}); WARNING DNS lookup of {name} failed: {e}")
    return f"http://{host}:{port}"


class Master:
    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"X-Rehearsal-Worker": POD, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")


def read_spec(name):
    spec = {"requires": [], "seconds": 1.0, "outcome": "ok", "version": "1.0", "release": "1"}
    with open(os.path.join(ROOT, "SPECS", f"{name}.spec")) as f:
        for line in f:
            m = re.match(r"\s*(Name|Version|Release|BuildRequires):\s*(.+)", line)
            g = re.match(r"\s*%global\s+rehearsal_(seconds|outcome)\s+(\S+)", line)
            if m and m.group(1) == "BuildRequires":
                spec["requires"] += [r.strip() for r in re.split(r"[ ,]+", m.group(2)) if r.strip()]
            elif m:
                spec[m.group(1).lower()] = m.group(2).strip()
            elif g:
                spec[g.group(1)] = float(g.group(2)) if g.group(1) == "seconds" else g.group(2)
    return spec


def rpm_name(spec):
    return f"{spec['name']}-{spec['version']}-{spec['release']}.{os.uname().machine}.rpm"


def write(path, text):
    tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.{POD}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def build(name, done_list):
    """0 (built) or -1 (failed), as Photon's doBuild returns."""
    started = time.time()
    logfile = os.path.join(ROOT, "stage", "LOGS", f"{name}.log")
    try:
        spec = read_spec(name)
        missing = [r for r in spec["requires"] if r not in done_list]
        if missing:
            raise RuntimeError(f"requirements not in the master's done list: {', '.join(missing)}")
        seen = {}
        for req in spec["requires"]:
            path = os.path.join(ROOT, "stage", "RPMS", rpm_name(read_spec(req)))
            if not os.path.exists(path):
                raise RuntimeError(f"artefact of build requirement {req} is not on the shared volume: {path}")
            with open(path) as f:
                seen[req] = json.load(f)["built_by"]
        if spec["outcome"] == "crash":
            write(logfile, f"{name}: {POD} on {NODE} crashes mid-build, as the spec asks\n")
            log(f"building {name}: crashing now (rehearsal_outcome crash)")
            os._exit(137)  # as if killed: PID 1 of a pod cannot SIGKILL itself
        time.sleep(spec["seconds"])
        if spec["outcome"] == "fail":
            raise RuntimeError("the spec asks this build to fail (rehearsal_outcome fail)")
        artefact = {"package": name, "built_by": POD, "node": NODE, "started": started,
                    "finished": time.time(), "requirements_seen": seen}
        write(os.path.join(ROOT, "stage", "RPMS", rpm_name(spec)), json.dumps(artefact) + "\n")
        write(logfile, f"{name}: built by {POD} on {NODE} in {time.time() - started:.1f}s\n")
        return 0
    except Exception as e:  # noqa: BLE001 - any build error is a failed build, as in Photon
        log(f"building {name} failed: {e}")
        try:
            write(logfile, f"{name}: FAILED on {POD} ({NODE}): {e}\n")
        except OSError:
            pass
        return -1


def main():
    # PID 1 of the pod: without a handler, SIGTERM (deletion) would be ignored until the grace period ends.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    master = Master(master_address())
    deadline = time.time() + CONNECT_SECONDS
    while True:
        try:
            code, _ = master.call("GET", "/constants/")
            if code == 200:
                break
            log(f"/constants/ answered {code}")
        except OSError as e:
            if time.time() > deadline:
                log(f"FATAL the master at {master.url} did not answer within {CONNECT_SECONDS:.0f}s: {e}")
                sys.exit(4)
        time.sleep(1)
    log("got /constants/; asking for packages")
    quiet = False
    while True:
        try:
            code, body = master.call("GET", "/package/")
        except OSError as e:  # the master is gone once the build is over: wait to be deleted
            if not quiet:
                log(f"master not answering ({e}); waiting")
                quiet = True
            time.sleep(POLL_SECONDS)
            continue
        quiet = False
        if code != 200 or not body:
            time.sleep(POLL_SECONDS)
            continue
        package = body.strip()
        log(f"building {package}")
        _, done = master.call("GET", "/donelist/")
        master.call("GET", "/mappackagetocycle/")
        status = build(package, json.loads(done)["packages"])
        code, _ = master.call("POST", "/notifybuild/", {"package": package, "status": status})
        log(f"{package}: status {status}, master answered {code}")


if __name__ == "__main__":
    main()

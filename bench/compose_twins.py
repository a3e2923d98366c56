#!/usr/bin/env python3
"""Compose services built alike (`project/twins.rs`): save -> both services answer the new code.

A project (--project go: bench/go-service, multi-stage; redis: Redis 7, `make -j2`; c-http: the
tests' small C server, a smoke run that says nothing of real projects) as a compose
project with two services built from the same context alike, `api` and `worker`, their run
settings apart (each its own published loopback port), as a web app and its worker, or two
replicas behind a balancer, are written. Alternatives, each a block of its own in one run on one
machine (one unmeasured warm-up edit, then --edits measured):

  twins     `docker-rebuilder watch` of --binary: one build serves both services, one compose
            call recreates both.
  apart     the same binary as two processes, `watch DIR api` and `watch DIR worker` (a service
            named alone is built alone): a builder and a build per service, each recreating its
            own, as every version before twins did for a compose folder (one process, a session
            per service; for the multi-stage go project those could not build at all: both
            services' sessions reached for one stage builder).
  compose   `docker-compose up -d --build api worker` (Compose Watch's `rebuild` for the edit).

Timer: from right after the write to the moment both services answer with the new code (each
polled every 20 ms on a new connection; the edit and the answer are bench/compose.py's for the
project). The run's folder has a unique name (compose v1's project name); cleanup: the watch
stopped, `clean`, `docker-compose down -t 1 --rmi local -v` (only the images compose built for
this project), our untagged images of the project by label.

Usage: python3 bench/compose_twins.py --binary target/release/docker-rebuilder [--project go|redis]
           [--edits 5] [--order twins,apart,compose] [--out FILE.md]
Needs a running engine, docker-compose (v1), and the project's images (bench/compose.py's list).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from compare import BenchError, docker, log, median  # noqa: E402
from compose import COMPOSE, PROJECTS, Watch, free_port  # noqa: E402

# Per project (--project): its compose file, two services built alike, each its own port.
COMPOSE_FILES = {
    "go": """services:
  api:
    build: .
    ports: ["127.0.0.1:${API_PORT}:8080"]
    environment: &env
      INVENTORY_SHUTDOWN_TIMEOUT: "1s"
      INVENTORY_RATE_LIMIT: "0"
      INVENTORY_LOG_REQUESTS: "false"
    stop_grace_period: 1s
  worker:
    build: .
    ports: ["127.0.0.1:${WORKER_PORT}:8080"]
    environment: *env
    stop_grace_period: 1s
""",
    "c-http": """services:
  api:
    build: ./api
    ports: ["127.0.0.1:${API_PORT}:8080"]
    environment: &env
      GREETING_SUFFIX: " (from compose)"
  worker:
    build: ./api
    ports: ["127.0.0.1:${WORKER_PORT}:8080"]
    environment: *env
""",
    "redis": """services:
  api:
    build: .
    ports: ["127.0.0.1:${API_PORT}:6379"]
    stop_grace_period: 1s
  worker:
    build: .
    ports: ["127.0.0.1:${WORKER_PORT}:6379"]
    stop_grace_period: 1s
""",
}
POLL_S = 0.020
ANSWER_S = 300


def builders_cpu_ms(folder):
    """CPU time so far of our builder containers for the project in `folder` (cgroup v1's
    cpuacct, where the engine's cgroupfs driver puts them; exec'd builds count in their
    container), ms; None when the engine keeps them elsewhere."""
    ids = docker("ps", "-q", "--no-trunc", "--filter", "label=dev.docker-rebuilder.role=builder",
                 check=False).stdout.split()
    total = 0
    for i in ids:
        label = docker("inspect", "--format", '{{index .Config.Labels "dev.docker-rebuilder.project"}}', i,
                       check=False).stdout.strip()
        if not label.startswith(os.path.realpath(folder)):
            continue
        try:
            with open("/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage" % i) as f:
                total += int(f.read().strip())
        except (OSError, ValueError):
            return None
    return total / 1e6


def both_answer(project, ports, want, timeout):
    """Seconds until every port answers `want` (each polled on its own thread)."""
    start = time.monotonic()
    done = {}

    def poll(port):
        while time.monotonic() - start < timeout:
            if project.reply(port) == want:
                done[port] = time.monotonic() - start
                return
            time.sleep(POLL_S)

    threads = [threading.Thread(target=poll, args=(p,), daemon=True) for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(done) != len(ports):
        raise BenchError("not every service answered %r within %d s: %s" % (want, timeout, done))
    return max(done.values())


class Bench:
    def __init__(self, args):
        self.args = args
        self.run_id = "tw%d" % (time.time() % 100000)
        self.dir = os.path.join(tempfile.mkdtemp(prefix="twins-"), "twinsbench_%s" % self.run_id)
        self.project = PROJECTS[args.project]()
        self.project.assemble(self.dir)
        with open(os.path.join(self.dir, "docker-compose.yml"), "w") as f:
            f.write(COMPOSE_FILES[args.project])
        self.ports = (free_port(), free_port())
        self.env = dict(os.environ, API_PORT=str(self.ports[0]), WORKER_PORT=str(self.ports[1]),
                        XDG_CACHE_HOME=os.path.join(os.path.dirname(self.dir), "cache"))
        self.file = os.path.join(self.dir, self.project.context, self.project.file)
        with open(self.file) as f:
            self.template = f.read()
        self.edit_no = 0
        self.results = {}
        # Every image there before the run (all layers): the cleanup never touches one of them.
        self.images_before = set(docker("images", "-aq", check=False).stdout.split())

    def compose(self, *words, timeout=1800):
        p = subprocess.run([COMPOSE, *words], cwd=self.dir, env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise BenchError("docker-compose %s: %s" % (" ".join(words), p.stderr[-2000:]))
        return p

    def edit(self, alt):
        """Writes a new version; the string it is."""
        self.edit_no += 1
        s = "%s-%s-%d" % (self.run_id, alt, self.edit_no)
        with open(self.file, "w") as f:
            f.write(self.project.edited(self.template, s))
        return self.project.want(s)

    def measure(self, alt, act):
        """One warm-up, then --edits measured edits; `act()` runs after each write (None for a
        watch, which sees the write itself)."""
        times, cpu = [], []
        for i in range(self.args.edits + 1):
            time.sleep(1.0)
            cpu_before = builders_cpu_ms(self.dir) if act is None else None
            s = self.edit(alt)
            start = time.monotonic()
            if act:
                act()
            took = time.monotonic() - start + both_answer(self.project, self.ports, s, ANSWER_S)
            used = None
            if cpu_before is not None:
                time.sleep(0.5)  # a second build (apart) may end after the first answer
                after = builders_cpu_ms(self.dir)
                used = after - cpu_before if after is not None else None
            log("  %s edit %d: %.0f ms, builders' CPU %s ms%s" % (
                alt, i, took * 1000, "%.0f" % used if used is not None else "-", " (warm-up)" if i == 0 else ""))
            if i:
                times.append(took * 1000)
                cpu.append(used)
        self.results[alt] = times
        if any(c is not None for c in cpu):
            self.results[alt + "_cpu"] = cpu

    def watch_block(self, alt, services):
        """`watch` of the whole folder (services None), or one process per service named."""
        watches = []
        try:
            for service in services or [None]:
                log_path = os.path.join(self.dir, "..", "watch-%s-%s.log" % (alt, service or "all"))
                watches.append(Watch(self.args.binary, self.dir, self.env, log_path, [service] if service else []))
            for w in watches:
                w.wait_line(0, 1800)  # the first cycle (untimed): a full build when the recipe is new
            time.sleep(2)
            log("  %s: %d process(es), first cycles %s" % (alt, len(watches), [len(w.lines) for w in watches]))
            self.measure(alt, None)
        finally:
            for w in watches:
                w.stop()

    def run(self):
        log("== setup: docker-compose up -d --build (%s)" % self.dir)
        self.compose("up", "-d", "--build")
        deadline = time.monotonic() + 120
        while not all(self.project.reply(p) for p in self.ports):
            if time.monotonic() > deadline:
                raise BenchError("the services do not answer after compose up")
            time.sleep(0.2)
        for alt in self.args.order.split(","):
            log("== %s" % alt)
            if alt == "twins":
                self.watch_block(alt, None)
            elif alt == "apart":
                self.watch_block(alt, ["api", "worker"])
            elif alt == "compose":
                self.measure(alt, lambda: self.compose("up", "-d", "--build", "api", "worker"))

    def cleanup(self):
        try:
            subprocess.run([self.args.binary, "clean", self.dir], cwd=self.dir, env=self.env, capture_output=True)
        except OSError as e:
            log("clean: %s" % e)
        subprocess.run([COMPOSE, "down", "-t", "1", "--rmi", "local", "-v"], cwd=self.dir, env=self.env,
                       capture_output=True)
        # What the run's builds left untagged: compose's earlier builds (and the classic builder's
        # stage images), our superseded images. Those that appeared since the run started, either
        # unlabelled or labelled with this run's folder, one layer at a time (a removed image's
        # parent is dangling next, and removed when the run made it too; one there before the run
        # stays). Run it on an otherwise idle engine: an unlabelled image another process made
        # meanwhile would be taken for the run's.
        for _ in range(50):
            left = set(docker("images", "-q", "--filter", "dangling=true", check=False).stdout.split())
            removed = 0
            for i in left - self.images_before:
                labels = docker("image", "inspect", "--format", "{{json .Config.Labels}}", i, check=False).stdout
                if labels.strip() in ("null", "{}") or os.path.realpath(self.dir) in labels:
                    removed += docker("rmi", "--no-prune", i, check=False).returncode == 0
            if not removed:
                break
        shutil.rmtree(self.dir, ignore_errors=True)  # the watch logs beside it stay

    def report(self):
        lines = ["# Compose services built alike: save -> both answer the new code (%s)" %
                 time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "",
                 "Command: `python3 bench/compose_twins.py %s`" % " ".join(sys.argv[1:]), "",
                 "Project: %s, services `api` and `worker` built alike from one context, each its own port; "
                 "edit: %s; answer: both services' %s. One warm-up edit, then %d measured, per alternative, "
                 "blocks in the order %s." % (self.project.title, self.project.edit_what, self.project.answer_what,
                                              self.args.edits, self.args.order),
                 "", "| alternative | n | median | min–max | ÷ twins | builders' CPU per save (median) |",
                 "|---|---|---|---|---|---|"]
        base = median(self.results.get("twins") or [0]) or None
        for alt in self.args.order.split(","):
            t = self.results.get(alt) or []
            if not t:
                continue
            m = median(t)
            x = "%.2f×" % (m / base) if base else ""
            c = median(self.results.get(alt + "_cpu") or [])
            lines.append("| %s | %d | %.0f ms | %.0f–%.0f ms | %s | %s |" % (
                alt, len(t), m, min(t), max(t), x, "%.0f ms" % c if c is not None else "—"))
        lines += ["", "Per edit (ms): " + json.dumps({k: [round(v) for v in vs] for k, vs in self.results.items()
                                                  if isinstance(vs, list)})]
        return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--edits", type=int, default=5)
    ap.add_argument("--project", choices=sorted(COMPOSE_FILES), default="go")
    ap.add_argument("--order", default="twins,apart,compose")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    bench = Bench(args)
    try:
        bench.run()
    finally:
        bench.cleanup()
        log("watch logs: %s" % os.path.dirname(bench.dir))
    text = bench.report()
    sys.stdout.write(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compose: save -> the running service answers with the new code, docker-rebuilder's `watch`
against `docker-compose up -d --build SERVICE` (what Compose Watch's `rebuild` action amounts to)
for the same edit, in one run on one machine, per project (issue 15's benchmark). Goals: at least
8x faster than compose, and no more than the build step + 1 s.

Projects (--projects, a comma list; default go,redis; --quick alone: c-http), each a block of its
own (its folder, compose project, port, watch process), one after the other:

  go      bench/go-service (a Go HTTP service, multi-stage: a dr-golang:1.19 build stage whose
          `go build` runs in our builder, the dr-distroless:static final stage replayed from it),
          with bench/compose/go.yml as its docker-compose.yml: service `api` (`build: .`, port
          8080 published on 127.0.0.1:${API_PORT}; INVENTORY_SHUTDOWN_TIMEOUT=1s, the service's
          own knob for its graceful stop, default 15 s, and stop_grace_period 1s: a recreate's stop
          is not what is measured; INVENTORY_RATE_LIMIT=0: the 20 ms polls from one address are
          not rate-limited; INVENTORY_LOG_REQUESTS=false) and `cache` (busybox:local). Edit: the
          `const Version = "..."` in internal/version/version.go; answer: `GET /healthz`
          (HTTP/1.0), whose JSON `version` is the new string.
  redis   Redis 7 (Debian's source, bench/redis/fetch.sh: fetched once into
          $XDG_CACHE_HOME/docker-rebuilder-bench, needs dpkg-source; bench/redis/Dockerfile:
          `make -j2 MALLOC=libc`, redis-server --protected-mode no), with bench/compose/redis.yml:
          service `redis` (`build: .`, 6379 on 127.0.0.1:${API_PORT}) and `cache` (busybox:local:
          a project network of one container measures an engine artifact, see below). Edit: the PING reply in
          src/server.c (`shared.pong = ... sdsnew("+PONG\\r\\n")` made `+PONG-<string>\\r\\n`);
          answer: `PING\\r\\n` over TCP (RESP), the reply line is `+PONG-<string>`. The setup's
          `docker-compose up -d --build` compiles all of Redis (minutes on 2 cores; untimed), and
          so does every compose edit (the source COPY is `COPY . .`: make starts from nothing).
  c-http  tests/fixtures/compose-app, the smoke project (its whole docker build takes ~1 s: the
          comparison says nothing about real projects; compose v1 file; service `api` built from
          ./api, a small C HTTP server that answers `GET /` with greeting() from
          api/src/greeting.c plus " (from compose)"; service `cache` from busybox:local). Edit:
          the string in greeting.c's `return "...";`; answer: `GET /` is it + " (from compose)".

Each project is copied (or assembled) to a new folder with a unique name (compose v1's project
name, so the service's image is `<folder>_<service>`); the edited file gets a comment with the
run's id (no layer from the source COPY on is shared with another run, and the run's images are
found by it at the cleanup), and a free loopback port is picked, passed as API_PORT to every
docker-compose and docker-rebuilder process (docker-rebuilder's also get
XDG_CACHE_HOME=<workdir>/cache-<project>: its kept hashes go with the run).

Setup (untimed): `docker-compose up -d --build`, then wait until the service answers.

Every edit writes the file with a new string (unique per run, project, alternative and edit); the
timer starts right after the write and stops when the service answers with the new string
(a new connection every 20 ms, each on its own thread with a 0.5 s timeout, so one the engine's
port proxy holds while the new container comes up does not delay the next; a refused or empty
connection while the container is recreated just means probe again). Each edit also records when
the engine started the service's new container (docker events' `start`). On engines before
moby 28, when the service's container is the only one on its network, the first answer can lag
that start by up to ~1 s, for compose as for us: the bridge loses its carrier while the container
is down, the kernel flushes its ARP entries, and the probes during the recreate leave the
container's address unresolved until the kernel's next try (ContainerStarts says how;
docs/bench/compose-arp-2026-12-05.md measures it). Every project here has a second service, as
issue 15's fixture does, which keeps the bridge up. Each alternative runs one unmeasured warm-up edit, then
--edits measured ones, as its own block, in this order:

  ours     `docker-rebuilder watch --json DIR`, running for the whole block; its first cycle
           (untimed setup) makes the builder and recreates the service on docker-rebuilder's
           image. For each edit the cycle's JSON line is kept (`phases_ms`: detect, sync, exec,
           replay -- go's final stage made again from the builder --, commit, prune, service --
           the recreate by compose; `stages_ms.build`: the build step in the builder) and when it
           arrived. The watch is stopped (SIGINT) after the block.
  lsp      `docker-rebuilder lsp` (bench/compose_lsp.py), in the folder with the same environment,
           started after the watch stopped; its first cycle (untimed) finds the builder up to date.
           Each edit is saved as an editor saves it: the write, then `textDocument/didSave`; timed
           to the same answer. Its `timings:` line gives the stages (build...); no file-system
           watcher settles before its cycle.
  floor    the build step alone: the edited file copied into our builder by `docker cp`
           (untimed), then `docker exec BUILDER sh -c 'cd WORKDIR && COMMAND'` timed: the
           builder (the first stage with role builder in `docker-rebuilder status --json DIR`,
           found by its labels: project `<context>#<service>`, role builder), its COMMAND (that
           stage's `rebuild` commands, joined by &&) and WORKDIR (the stage's WORKDIR at that RUN
           in the Dockerfile). No image, no service: the "build step" of the goal. Checked by the
           new string in the build's output (c-http /src/server, go /out/server, redis
           /redis/src/redis-server).
  compose  `docker-compose up -d --build SERVICE`, started right after the write (a full
           `docker build`, cache warm up to the source COPY, then the recreate); also recorded:
           when its build ended and its recreate began (the arrival of its output's
           `Successfully tagged` and `Recreating` lines) and when the process exited.

For ours and compose, the gap the service did not answer in (last old answer -> first new) is
recorded too.

After each block the service must still answer the block's last string (untimed; for the floor:
the string the service had, and the builder's output holds the floor's last string).

Both builders are the classic one (DOCKER_BUILDKIT=0 for every process: it is what compose v1
with Debian's 20.10 client uses by default; for docker-rebuilder it only concerns its first,
untimed, full build), so the run leaves no BuildKit cache records that could not be told apart
from a concurrent user's. compose's `docker build` is /usr/bin/docker (the 20.10 client, as the
other benchmarks use; a `docker` link to it goes first in the processes' PATH).

Cleanup after each project, even on failure: the watch stopped; `docker-compose down -t 1 --rmi
local -v` in the folder; `docker-rebuilder clean DIR`; the images the run made (compose's and
ours, each down its parent chain to the source COPY layer, the images labelled
`dev.docker-rebuilder.project=<context>#<service>`, and every image made since the project's start
whose own layer holds the run's copy of the edited file, with its descendants: the build stage's
intermediate images of go's classic builds); the folder and the cache folder. The layer cache
below the source COPY (apt, WORKDIR, COPY Makefile, go mod download) stays. Nothing is pruned:
only this run's objects, found by its unique names, are removed.

Usage:
    python3 bench/compose.py                  # go and redis, 5 edits per alternative
    python3 bench/compose.py --quick          # smoke run: c-http, 2 edits
    python3 bench/compose.py --projects go --edits 1
    python3 bench/compose.py --from-json bench/results/compose-DATE.json

Flags: --projects (comma list of go,redis,c-http), --edits, --binary, --out, --skip (comma list
of ours,lsp,floor,compose), --quick, --workdir, --from-json, --compose v2 (the user's compose is
`docker compose`, Debian's plugin from .ci/engine.sh, building with BuildKit as v2 does by
default: the project is brought up, recreated by docker-rebuilder and rebuilt by it). Output: bench/results/compose-<date>.md
and .json beside it (every sample). Needs a running engine, docker-compose and /usr/bin/docker,
and per project: c-http debian:bookworm-slim and busybox:local (.ci/engine.sh makes them), go
dr-golang:1.19, dr-distroless:static and busybox:local, redis debian:bookworm-slim and
dpkg-source (package dpkg-dev) for its first fetch. Python 3.11, stdlib only.
"""

import argparse
import collections
import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ from the imports below
import compare  # noqa: E402  (bench/compare.py: a script, its helpers reused)
import compose_lsp  # noqa: E402  (the `lsp` alternative)
import multistage  # noqa: E402
from compare import (  # noqa: E402
    DOCKER, LABEL_PROJECT, LABEL_ROLE, BenchError, docker, fmt_ms, fmt_x, log, median, ratio, run, stage_keys)

COMPOSE = shutil.which("docker-compose") or "docker-compose"
# compose v2 (--compose v2): Debian's plugin where .ci/engine.sh puts it, given to each run through
# a DOCKER_CONFIG of the run's own (its cli-plugins/), so that no other compose is involved.
COMPOSE_V2_PLUGIN = os.environ.get("DOCKER_REBUILDER_COMPOSE_V2", "/opt/docker-rebuilder-ci/compose-v2/docker-compose")
CLI = {"v1": "docker-compose", "v2": "docker compose"}
ALTERNATIVES = ("ours", "lsp", "floor", "compose")
ORDER = ALTERNATIVES  # the blocks, in this order (the floor needs our builder, the watch stopped)
OURS = ("ours", "lsp")  # docker-rebuilder's front ends, each against the goals
PHASES = ("detect", "sync", "exec", "replay", "commit", "prune", "service")
POLL_S = 0.020
HTTP_TIMEOUT_S = 0.5
IDLE_S = 1.0  # before each edit, the previous one's work done
FIRST_CYCLE_S = 3600
# After the process said it is done (ours: a cycle succeeded; compose: exited 0), the service
# must answer within this.
AFTER_DONE_S = 30
# The goals of issue 15.
GOAL_X_COMPOSE = 8.0
GOAL_OVER_BUILD_MS = 1000


# ---------------------------------------------------------------------------------------------
# Projects: where they come from, the edit, the answer.


def http_get(port, path="/", timeout=HTTP_TIMEOUT_S):
    """`GET path` (HTTP/1.0) on the loopback port: the body, or None when nothing answers yet."""
    chunks = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path.encode())
            while True:
                b = s.recv(4096)
                if not b:
                    break
                chunks.append(b)
    except OSError:  # refused, reset, timed out: the container is being recreated
        return None
    head, sep, body = b"".join(chunks).decode("utf-8", "replace").partition("\r\n\r\n")
    if not sep or not head.startswith("HTTP/"):
        return None
    return body.strip()


def resp_ping(port, timeout=HTTP_TIMEOUT_S):
    """`PING` (RESP) on the loopback port: the reply's first line, or None when nothing answers."""
    buf = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            while b"\r\n" not in buf:
                b = s.recv(4096)
                if not b:
                    break
                buf += b
    except OSError:
        return None
    line, sep, _ = buf.partition(b"\r\n")
    return line.decode("utf-8", "replace") if sep else None


class Project:
    """One project of the benchmark: `name`; the compose `service` that is built, its build
    `context` (relative to the folder) and the edited `file` (relative to the context); the
    compose file put into the copy (None: the project brings its own); what it needs."""
    name = service = context = file = None
    compose_file = None
    required_images = ()
    title = edit_what = answer_what = ""
    setup_s = 1800  # the first `docker-compose up -d --build`
    answer_s = {"ours": 300, "compose": 900}
    edit_re = None

    def assemble(self, dest):
        raise NotImplementedError

    def marked(self, text, run_id):
        """The file's text with the run's comment (`self.marker`, the cleanup finds it) appended."""
        self.marker = self.comment % run_id
        return text + "\n" + self.marker + "\n"

    def edited(self, template, s):
        return self.edit_re.sub(lambda _: self.replacement(s), template, count=1)

    def string_for(self, run_id, alt, i):
        return "%s-%s-%d" % (run_id, alt, i)

    def reply(self, port, timeout=HTTP_TIMEOUT_S):
        raise NotImplementedError

    def want(self, s):
        return s

    def artifact(self, workdir):
        """The build step's output in the builder (the floor's check)."""
        raise NotImplementedError


class CHttp(Project):
    name, service, context, file = "c-http", "api", "api", "src/greeting.c"
    source = os.path.join(ROOT, "tests", "fixtures", "compose-app")
    required_images = ("debian:bookworm-slim", "busybox:local")
    title = "tests/fixtures/compose-app (a small C HTTP server, the smoke project)"
    edit_what = 'the string `greeting()` returns (`return "...";`)'
    answer_what = '`GET /` (HTTP/1.0) answers the new string + " (from compose)"'
    comment = "/* compose benchmark run %s */"
    edit_re = re.compile(r'return "[^"\n]*";')
    SUFFIX = " (from compose)"  # the compose file's GREETING_SUFFIX, after greeting()

    def assemble(self, dest):
        shutil.copytree(self.source, dest)

    def replacement(self, s):
        return 'return "%s";' % s

    def string_for(self, run_id, alt, i):
        return "hello %s %s %d" % (run_id, alt, i)

    def reply(self, port, timeout=HTTP_TIMEOUT_S):
        return http_get(port, "/", timeout)

    def want(self, s):
        return s + self.SUFFIX

    def artifact(self, workdir):
        return "%s/server" % workdir.rstrip("/")


class GoService(Project):
    name, service, context, file = "go", "api", ".", "internal/version/version.go"
    source = os.path.join(HERE, "go-service")
    compose_file = os.path.join(HERE, "compose", "go.yml")
    required_images = ("dr-golang:1.19", "dr-distroless:static", "busybox:local")
    title = "bench/go-service (Go HTTP service, multi-stage: build stage + distroless final stage)"
    edit_what = 'the `const Version = "..."` constant'
    answer_what = "`GET /healthz` (HTTP/1.0) answers JSON whose `version` is the new string"
    comment = "// compose benchmark run %s"
    edit_re = re.compile(r'^const Version = "[^"\n]*"$', re.M)

    def assemble(self, dest):
        shutil.copytree(self.source, dest, ignore=shutil.ignore_patterns("*.md"))
        shutil.copy(self.compose_file, os.path.join(dest, "docker-compose.yml"))

    def replacement(self, s):
        return 'const Version = "%s"' % s

    def reply(self, port, timeout=HTTP_TIMEOUT_S):
        body = http_get(port, "/healthz", timeout)
        if body is None:
            return None
        try:
            v = json.loads(body)
        except ValueError:
            return body[:200]
        return v.get("version") if isinstance(v, dict) and "version" in v else body[:200]

    def artifact(self, workdir):
        return "/out/server"


class Redis(Project):
    name, service, context, file = "redis", "redis", ".", "src/server.c"
    fetch = os.path.join(HERE, "redis", "fetch.sh")
    compose_file = os.path.join(HERE, "compose", "redis.yml")
    required_images = ("debian:bookworm-slim", "busybox:local")
    title = "Redis 7 (Debian's source, bench/redis: `make -j2 MALLOC=libc`)"
    edit_what = "the PING reply (`shared.pong`'s `+PONG\\r\\n` made `+PONG-<string>\\r\\n`)"
    answer_what = "`PING` over TCP (RESP) answers `+PONG-<new string>`"
    comment = "/* compose benchmark run %s */"
    edit_re = re.compile(r'shared\.pong = createObject\(OBJ_STRING,sdsnew\("\+PONG[^"\\\n]*\\r\\n"\)\);')
    setup_s = 3600
    answer_s = {"ours": 900, "compose": 3600}

    def assemble(self, dest):
        # fetch.sh's cache is the user's (not the run's XDG_CACHE_HOME): the source is fetched once.
        if shutil.which("dpkg-source") is None and not self.cached():
            raise BenchError("dpkg-source not found: bench/redis/fetch.sh needs it for its first fetch "
                             "(apt-get install -y dpkg-dev)")
        run(["bash", self.fetch, dest], timeout=1800)
        shutil.copy(self.compose_file, os.path.join(dest, "docker-compose.yml"))

    @staticmethod
    def cached():
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        src = os.path.join(cache, "docker-rebuilder-bench", "redis", "src")
        return os.path.isdir(src) and any(
            os.path.exists(os.path.join(src, d, "src", "server.c")) for d in os.listdir(src))

    def replacement(self, s):
        return 'shared.pong = createObject(OBJ_STRING,sdsnew("+PONG-%s\\r\\n"));' % s

    def reply(self, port, timeout=HTTP_TIMEOUT_S):
        return resp_ping(port, timeout)

    def want(self, s):
        return "+PONG-" + s

    def artifact(self, workdir):
        return "%s/src/redis-server" % workdir.rstrip("/")


PROJECTS = {p.name: p for p in (GoService, Redis, CHttp)}
DEFAULT_PROJECTS = ("go", "redis")
QUICK_PROJECTS = ("c-http",)


def dockerfile_stages(path):
    """The Dockerfile's stages: [(the FROM's line number, 1-based; [(keyword, arguments)...])],
    continuations joined, comments and blank lines dropped."""
    stages, cur, start = [], "", None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if start is None:
                start = n
            if line.rstrip().endswith("\\"):
                cur += line.rstrip()[:-1] + " "
                continue
            cur += line
            kw, _, rest = cur.strip().partition(" ")
            kw = kw.upper()
            if kw == "FROM" or not stages:
                stages.append((start, []))
            stages[-1][1].append((kw, rest.strip()))
            cur, start = "", None
    return stages


def stage_workdir(path, from_line, command):
    """The WORKDIR the stage starting at `from_line` runs `command` (a RUN's shell form) in;
    None when it is not found."""
    for line, ins in dockerfile_stages(path):
        if line != from_line:
            continue
        workdir = None
        for kw, rest in ins:
            if kw == "WORKDIR":
                workdir = rest if rest.startswith("/") else os.path.join(workdir or "/", rest)
            if kw == "RUN":
                args = rest
                while args.startswith("--"):
                    args = args.split(None, 1)[1] if " " in args else ""
                if args.startswith("["):
                    args = shlex.join(json.loads(args))
                if args.strip() == command.strip():
                    return workdir or "/"
        return None
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_name(folder):
    """compose v1's project name for a folder: lowercase, [-_a-z0-9] kept."""
    return re.sub(r"[^-_a-z0-9]", "", os.path.basename(folder).lower())


class Watch:
    """`docker-rebuilder watch --json DIR [SERVICE...]`: its stdout's JSON lines, each with its arrival time
    (time.monotonic()), collected by a thread; stderr's tail kept for error messages."""

    def __init__(self, binary, d, env, log_path, services=()):
        self.cmd = [binary, "watch", "--json", d, *services]
        self.lines = []  # (arrival, parsed JSON)
        self.other = collections.deque(maxlen=200)  # non-JSON stdout and stderr
        self.log = open(log_path, "a")
        self.proc = subprocess.Popen(self.cmd, cwd=d, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.threads = [threading.Thread(target=self.read, args=(self.proc.stdout, True), daemon=True),
                        threading.Thread(target=self.read, args=(self.proc.stderr, False), daemon=True)]
        for t in self.threads:
            t.start()

    def read(self, stream, is_stdout):
        for line in stream:
            t = time.monotonic()
            self.log.write(("out " if is_stdout else "err ") + line)
            self.log.flush()
            if is_stdout and line.startswith("{"):
                try:
                    self.lines.append((t, json.loads(line)))
                    continue
                except ValueError:
                    pass
            self.other.append(line.rstrip("\n"))

    def tail(self):
        return "\n".join(list(self.other)[-30:]) or "(nothing)"

    def wait_line(self, index, timeout):
        """The JSON line number `index` (0-based) as (arrival, value), waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while len(self.lines) <= index:
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the reader may still be at its last lines
                if len(self.lines) > index:
                    break
                raise BenchError("docker-rebuilder watch exited %s; it printed:\n%s"
                                 % (self.proc.returncode, self.tail()))
            if time.monotonic() > deadline:
                raise BenchError("no cycle from docker-rebuilder watch within %d s; it printed:\n%s"
                                 % (timeout, self.tail()))
            time.sleep(0.02)
        return self.lines[index]

    def stop(self):
        """SIGINT (Ctrl-C), as a person stops it; the exit code (or how it had to be ended)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                for t in self.threads:
                    t.join(timeout=5)
                self.log.close()
                return "did not stop on SIGINT within 120 s (ended)"
        for t in self.threads:
            t.join(timeout=5)
        self.log.close()
        return self.proc.returncode


class ContainerStarts:
    """The engine's `start` events of one compose service's containers for a whole block (docker
    events, wall clock): when each alternative's new container started, apart from when it first
    answered. They differ when the container is alone on its network (engines before moby 28): the
    bridge loses its carrier while it is down, the kernel flushes its ARP entries, a connection
    tried then leaves the container's address unresolved, and it resolves only at the kernel's
    next try (1 s apart), so the first answer can come up to ~1 s after the start, for compose as
    for us. A second container on the network keeps the bridge up (every project here has one)."""

    def __init__(self, project, service):
        self.times = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [DOCKER, "events", "--format", "{{.TimeNano}}", "--filter", "type=container", "--filter", "event=start",
             "--filter", "label=com.docker.compose.project=%s" % project,
             "--filter", "label=com.docker.compose.service=%s" % service],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            try:
                t = int(line.strip()) / 1e9
            except ValueError:
                continue
            with self.lock:
                self.times.append(t)

    def first_after(self, wall, wait_s=2.0):
        """ms from `wall` (time.time()) to the first start at or after it; None when none came."""
        deadline = time.monotonic() + wait_s
        while True:
            with self.lock:
                t = next((t for t in self.times if t >= wall), None)
            if t is not None:
                return (t - wall) * 1000
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def cycle_summary(v):
    keys = ("cycle", "outcome", "message", "service_update", "image_id", "uploaded", "deleted", "total_ms",
            "phases_ms", "stages_ms", "detail", "notes", "service", "error", "fix")
    return {k: v.get(k) for k in keys if k in v}


class ComposeBench:
    def __init__(self, args, run_id, workroot, project):
        self.args, self.run_id, self.workroot, self.p = args, run_id, workroot, project
        self.service = project.service
        self.dir = os.path.join(workroot, "composebench_%s_%s" % (project.name, run_id))
        self.name = compose_name(self.dir)
        self.ctx_dir = os.path.realpath(os.path.join(self.dir, project.context))  # real: as docker-rebuilder labels it
        self.label = "%s#%s" % (self.ctx_dir, self.service)
        self.cli = CLI[args.compose].split()  # the user's compose command
        self.image = "%s%s%s" % (self.name, "-" if args.compose == "v2" else "_", self.service)
        self.path = os.path.join(self.ctx_dir, project.file)  # the edited file
        self.cache = os.path.join(workroot, "cache-%s" % project.name)
        self.cache_existed = os.path.exists(self.cache)
        self.logs = os.path.join(workroot, "logs-%s-%s" % (project.name, run_id))
        self.marker = None  # the run's comment in the edited file (set up by setup)
        self.marker_file = None  # the edited file's path in the images (its source COPY's)
        self.build_dir = self.builder_name = None
        self.port = None
        self.env = None
        self.watch = None
        self.starts = None  # ContainerStarts, from the setup on
        self.written_at = None
        self.template = None
        self.last = None  # the string the service was last given
        self.errors = {}
        self.image_ids = []  # every image the run made that we saw (walked down at the cleanup)
        self.images_before = set(docker("images", "-a", "-q", "--no-trunc").stdout.split())
        self.res = {"name": project.name, "title": project.title, "dir": self.dir, "compose_project": self.name,
                    "image": self.image, "label": self.label, "service": self.service,
                    "file": os.path.normpath(os.path.join(project.context, project.file)), "edit": project.edit_what,
                    "answer": project.answer_what, "alternatives": {}, "checks": {}, "setup": {}}

    # -- helpers

    def alt(self, name):
        return self.res["alternatives"].setdefault(name, {"samples": [], "warmup": None, "error": None})

    def enabled(self, name):
        return name not in self.args.skip and name not in self.errors

    def attempt(self, name, fn, *a):
        if name in self.args.skip:
            return None
        try:
            return fn(*a)
        except Exception as e:  # noqa: BLE001 - any failure is reported, the rest goes on
            msg = str(e) if isinstance(e, BenchError) else "%s: %s" % (type(e).__name__, e)
            self.errors[name] = msg
            self.alt(name)["error"] = msg
            log("  %s FAILED: %s" % (name, msg.splitlines()[0] if msg else msg))
            if not isinstance(e, BenchError):
                traceback.print_exc()
            return None

    def string_for(self, alt, i):
        return self.p.string_for(self.run_id, alt, i)

    def write_edit(self, s):
        """The edited file with `s` in it (the run's comment kept); the moment right after the write."""
        with open(self.path, "w") as f:
            f.write(self.p.edited(self.template, s))
        t0 = time.monotonic()
        self.written_at = time.time()
        self.last_written = s
        return t0

    def started_ms(self):
        """ms from the last write to the service's new container's start (None: none started)."""
        return self.starts.first_after(self.written_at) if self.starts is not None else None

    def compose(self, *a, timeout=900, check=True):
        p = subprocess.run([*self.cli, *a], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise BenchError("%s %s exited %d:\n%s" % (" ".join(self.cli), " ".join(a), p.returncode,
                                                                    (p.stderr + p.stdout).strip()[-1500:]))
        return p

    def ours_cmd(self, *a, timeout=1800, check=True):
        p = subprocess.run([self.args.binary, *a], cwd=self.dir, env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise BenchError("docker-rebuilder %s exited %d:\n%s" % (" ".join(a), p.returncode,
                                                                      (p.stderr or p.stdout).strip()[-1500:]))
        return p

    def note_image(self, ref):
        p = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)
        if p.returncode == 0 and p.stdout.strip() and p.stdout.strip() not in self.image_ids:
            self.image_ids.append(p.stdout.strip())

    def wait_answer(self, expected, t0, timeout, done=None):
        """Probes the service every POLL_S until it answers `expected` (the project's reply for it):
        (ms since t0 the answer arrived, probes sent, {the last other answer, the ms since t0 it
        came at}). Each probe is its own connection on its own thread, so one that hangs does not
        hold back the next: while a container is recreated the engine's port proxy accepts a
        connection and then dials an address whose host ARP entry is unresolved (see
        ContainerStarts); that dial waits for the kernel's next ARP try, which hid the service's
        first new answer for up to HTTP_TIMEOUT_S from a single sequential prober. `done()` -> None while the process is at work, else (ok, when, why):
        after it said it was done, the service must answer within AFTER_DONE_S."""
        want = self.p.want(expected)
        answers = queue.Queue()

        def probe():
            body = self.p.reply(self.port)
            answers.put((time.monotonic(), body))

        probes, last, last_at, done_at = 0, None, None, None
        nxt = time.monotonic()
        while True:
            probes += 1
            threading.Thread(target=probe, daemon=True).start()
            nxt += POLL_S
            while True:
                try:
                    at, body = answers.get(timeout=max(0.0, nxt - time.monotonic()))
                except queue.Empty:
                    break
                if body == want:
                    before = {"answer": last, "at_ms": None if last_at is None else (last_at - t0) * 1000}
                    return (at - t0) * 1000, probes, before
                if body is not None and (last_at is None or at >= last_at):
                    last, last_at = body, at
            now = time.monotonic()
            if done is not None and done_at is None:
                d = done()
                if d is not None:
                    ok, done_at, why = d
                    if not ok:
                        raise BenchError("%s (the service answered %r)" % (why, last))
            if done_at is not None and now - done_at > AFTER_DONE_S:
                raise BenchError("done %.1f s ago, yet the service answers %r, not %r" % (now - done_at, last, want))
            if now - t0 > timeout:
                raise BenchError("no answer %r within %d s (last answer %r)" % (want, timeout, last))
            if nxt < now:
                nxt = now

    def check(self, alt, expected, what="service"):
        """Untimed: after a settle, the service (still) answers `expected`."""
        time.sleep(IDLE_S)
        want = self.p.want(expected)
        body = self.p.reply(self.port, timeout=5)
        ok = body == want
        self.res["checks"].setdefault(alt, []).append({"what": what, "expected": want, "answered": body, "ok": ok})
        if not ok:
            log("  %s: CHECK FAILED: the service answers %r, not %r" % (alt, body, want))
        return ok

    # -- setup

    def setup(self):
        for image in self.p.required_images:
            if docker("image", "inspect", image, check=False).returncode != 0:
                raise BenchError("no local image %s (bash .ci/engine.sh makes it)" % image)
        if self.args.compose == "v1" and shutil.which(COMPOSE) is None:
            raise BenchError("docker-compose not found (.ci/engine.sh installs it)")
        if self.args.compose == "v2" and not os.path.isfile(COMPOSE_V2_PLUGIN):
            raise BenchError("compose v2 not at %s (.ci/engine.sh installs it)" % COMPOSE_V2_PLUGIN)
        self.p.assemble(self.dir)
        os.makedirs(self.logs, exist_ok=True)
        # A `docker` first in PATH that is the client the other benchmarks use (compose's builds).
        shim = os.path.join(self.logs, "bin")
        os.makedirs(shim, exist_ok=True)
        os.symlink(DOCKER, os.path.join(shim, "docker"))
        self.port = free_port()
        self.env = dict(os.environ, API_PORT=str(self.port), XDG_CACHE_HOME=self.cache, DOCKER_BUILDKIT="0",
                        PATH=shim + os.pathsep + os.environ.get("PATH", ""))
        if self.args.compose == "v2":
            # v2 builds as its users get it: with BuildKit (its build cache records of the run's
            # edits stay; `docker builder prune` reclaims them). Its plugin, and only it.
            del self.env["DOCKER_BUILDKIT"]
            config = os.path.join(self.logs, "docker-config")
            os.makedirs(os.path.join(config, "cli-plugins"), exist_ok=True)
            os.symlink(COMPOSE_V2_PLUGIN, os.path.join(config, "cli-plugins", "docker-compose"))
            self.env["DOCKER_CONFIG"] = config
        self.env.pop("COMPOSE_PROJECT_NAME", None)
        self.env.pop("COMPOSE_FILE", None)
        self.res["port"] = self.port
        self.starts = ContainerStarts(self.name, self.service)
        with open(self.path) as f:
            text = f.read()
        if not self.p.edit_re.search(text):
            raise BenchError("no %s in %s (the pattern %s)" % (self.p.edit_what, self.res["file"], self.p.edit_re.pattern))
        self.template = self.p.marked(text, self.run_id)
        self.marker = self.p.marker
        self.build_step()
        s = self.string_for("setup", 0)
        self.write_edit(s)
        log("setup: %s up -d --build (%s, port %d)" % (" ".join(self.cli), self.dir, self.port))
        t = time.monotonic()
        self.compose("up", "-d", "--build", timeout=self.p.setup_s)
        self.res["setup"]["compose_up_ms"] = (time.monotonic() - t) * 1000
        self.note_image(self.image)
        self.wait_answer(s, time.monotonic(), 120)
        self.last = s
        self.res["setup"]["compose_up_image"] = self.image_ids[-1][7:19] if self.image_ids else None
        log("  up in %.1f s; the service answers %r" % (self.res["setup"]["compose_up_ms"] / 1000, self.p.want(s)))

    def build_step(self):
        """The build step, as `docker-rebuilder status --json DIR` reports it: the first stage
        with role builder (or the image's own builder), its `rebuild` commands (joined by &&), and
        the WORKDIR they run in (the stage's, from the Dockerfile)."""
        p = self.ours_cmd("status", "--json", self.dir, timeout=300)
        line = next((x for x in p.stdout.splitlines() if x.startswith("{")), None)
        if line is None:
            raise BenchError("docker-rebuilder status --json printed no JSON:\n%s" % p.stdout[-1500:])
        st = json.loads(line)
        stages = [x for x in st.get("stages") or [] if x.get("role") == "builder"]
        stage = stages[0] if stages else st
        cmds = stage.get("rebuild") or []
        if not cmds:
            raise BenchError("docker-rebuilder status --json: no rebuild command for a builder: %s" % line[:1500])
        self.build_cmd = " && ".join(cmds)
        self.builder_name = stage.get("builder") or st.get("builder")
        dockerfile = os.path.join(self.ctx_dir, "Dockerfile")
        if stage.get("line") is not None:
            self.build_dir = stage_workdir(dockerfile, stage["line"], cmds[0])
        else:  # a single-stage image: its only stage
            stages_ = dockerfile_stages(dockerfile)
            self.build_dir = stage_workdir(dockerfile, stages_[-1][0], cmds[0]) if stages_ else None
        if self.build_dir is None:
            raise BenchError("no RUN %r found in the Dockerfile's builder stage" % cmds[0])
        self.res.update(build_command=self.build_cmd, build_dir=self.build_dir, builder_stage=stage.get("stage"),
                        builder_name=self.builder_name)
        # The run's comment in the images' source COPY layer (the cleanup's sweep).
        self.marker_file = ("%s/%s" % (self.build_dir.rstrip("/"), self.p.file)).lstrip("/")

    # -- ours: docker-rebuilder watch

    def start_watch(self):
        log("ours: docker-rebuilder watch --json (its first cycle: the builder, the service on our image)")
        t = time.monotonic()
        self.watch = Watch(self.args.binary, self.dir, self.env, os.path.join(self.logs, "watch.log"))
        _, first = self.watch.wait_line(0, FIRST_CYCLE_S)
        ms = (time.monotonic() - t) * 1000
        self.res["setup"]["first_cycle"] = dict(cycle_summary(first), wall_ms=ms)
        if first.get("outcome") not in ("image_built", "up_to_date", "succeeded"):
            raise BenchError("the first cycle: %s" % json.dumps(cycle_summary(first))[:1500])
        if first.get("image_id"):
            self.image_ids.append(first["image_id"])
        log("  first cycle: %s in %.1f s; %s" % (first.get("outcome"), ms / 1000, first.get("service_update")))
        # The service now runs our image, which serves the same string.
        self.wait_answer(self.last, time.monotonic(), 120)
        self.res["setup"]["service_container_image"] = self.container_image()

    def container_image(self):
        p = docker("ps", "-q", "--filter", "label=com.docker.compose.project=%s" % self.name,
                   "--filter", "label=com.docker.compose.service=%s" % self.service, check=False)
        ids = p.stdout.split()
        if len(ids) != 1:
            return None
        return docker("inspect", "--format", "{{.Image}}", ids[0], check=False).stdout.strip() or None

    def ours_edit(self, i):
        s = self.string_for("ours", i)
        time.sleep(IDLE_S)
        n0 = len(self.watch.lines)
        extra_before = [cycle_summary(v) for _, v in self.watch.lines[self.seen:n0]]
        t0 = self.write_edit(s)

        def done():
            for t, v in self.watch.lines[n0:]:
                if v.get("outcome") != "succeeded":
                    return False, t, "the cycle: %s" % json.dumps(cycle_summary(v))[:1500]
                return True, t, None
            if self.watch.proc.poll() is not None:
                return False, time.monotonic(), "docker-rebuilder watch exited %s:\n%s" % (self.watch.proc.returncode,
                                                                                          self.watch.tail())
            return None

        ms, polls, prev = self.wait_answer(s, t0, self.p.answer_s["ours"], done)
        down = ms - prev["at_ms"] if prev["at_ms"] is not None else None
        # The cycle's line (the recreate is its last phase: it may come just after the answer).
        t_line, v = self.watch.wait_line(n0, 120)
        if v.get("outcome") != "succeeded":
            raise BenchError("the cycle: %s" % json.dumps(cycle_summary(v))[:1500])
        if v.get("image_id"):
            self.image_ids.append(v["image_id"])
        self.seen = n0 + 1
        self.last = s
        stages, phases = v.get("stages_ms") or {}, v.get("phases_ms") or {}
        sample = {"edit": i, "string": s, "total_ms": ms, "polls": polls, "answered_before": prev["answer"],
                  "old_answer_ms": prev["at_ms"], "down_ms": down, "started_ms": self.started_ms(),
                  "line_ms": (t_line - t0) * 1000, "cycle": cycle_summary(v), "cycle_total_ms": v.get("total_ms"),
                  "build_ms": stages.get("build"), "phases": phases, "stages": stages,
                  "over_build_ms": ms - stages["build"] if stages.get("build") is not None else None,
                  "extra_cycles_before": extra_before}
        log("  ours %s: %.0f ms to the answer (cycle %s ms: build %s, service %s; line at %.0f ms)"
            % ("warm-up" if i == 0 else "edit %d" % i, ms, v.get("total_ms"), stages.get("build"),
               phases.get("service"), sample["line_ms"]))
        return sample

    def ours(self):
        a = self.alt("ours")
        self.start_watch()
        self.seen = 1
        a["warmup"] = self.ours_edit(0)
        for i in range(1, self.args.edits + 1):
            a["samples"].append(self.ours_edit(i))
        time.sleep(IDLE_S)
        a["extra_cycles_after"] = [cycle_summary(v) for _, v in self.watch.lines[self.seen:]]
        a["extra_cycles"] = sum(len(x.get("extra_cycles_before") or []) for x in a["samples"] + [a["warmup"]]) \
            + len(a["extra_cycles_after"])
        self.check("ours", self.last)

    def stop_watch(self):
        if self.watch is not None:
            code = self.watch.stop()
            self.res.setdefault("watch_exit", code)
            self.watch = None
            return code
        return None

    # -- floor: make in our builder

    def builder(self):
        p = docker("ps", "--filter", "label=%s=%s" % (LABEL_PROJECT, self.label), "--filter",
                   "label=%s=builder" % LABEL_ROLE,
                   "--format", "{{.ID}} {{.Names}} {{.Label \"com.docker.compose.project\"}}", check=False)
        rows = [line.split() for line in p.stdout.splitlines() if line.strip()]
        rows = [r for r in rows if len(r) == 2]  # not a compose container
        if len(rows) != 1:
            raise BenchError("expected one running builder labelled %s=%s, found: %r"
                             % (LABEL_PROJECT, self.label, rows))
        if self.builder_name and rows[0][1] != self.builder_name:
            log("  note: the builder is %s, `status --json` named %s" % (rows[0][1], self.builder_name))
        return rows[0][1]

    def floor_edit(self, name, i):
        s = self.string_for("floor", i)
        time.sleep(IDLE_S)
        self.write_edit(s)
        dest = "%s/%s" % (self.build_dir.rstrip("/"), self.p.file)
        t = time.monotonic()
        docker("cp", self.path, "%s:%s" % (name, dest), timeout=120)
        cp_ms = (time.monotonic() - t) * 1000
        cmd = [DOCKER, "exec", name, "sh", "-c", "cd %s && %s" % (shlex.quote(self.build_dir), self.build_cmd)]
        t = time.monotonic()
        p = run(cmd, timeout=3600, check=False)
        ms = (time.monotonic() - t) * 1000
        if p.returncode != 0:
            raise BenchError("the build step exited %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[-1500:]))
        binary = self.p.artifact(self.build_dir)
        has = docker("exec", name, "grep", "-c", "-F", s, binary, check=False).stdout.strip()
        ok = has.isdigit() and int(has) > 0
        log("  floor %s: %.0f ms (`%s`; docker cp %.0f ms, untimed)%s"
            % ("warm-up" if i == 0 else "edit %d" % i, ms, self.build_cmd, cp_ms,
               "" if ok else "; NEW STRING NOT IN %s" % binary))
        return {"edit": i, "string": s, "total_ms": ms, "cp_ms": cp_ms,
                "output": ((p.stdout or "") + (p.stderr or "")).strip()[-400:], "binary_has_string": ok}

    def floor(self):
        a = self.alt("floor")
        name = self.builder()
        self.res["builder"] = name
        wd = docker("inspect", "--format", "{{.Config.WorkingDir}}", name, check=False).stdout.strip()
        self.res["builder_workdir"] = wd
        log("floor: `cd %s && %s` in %s (docker exec; its WorkingDir %s), the file put in by docker cp first"
            % (self.build_dir, self.build_cmd, name, wd or "unset"))
        a["warmup"] = self.floor_edit(name, 0)
        for i in range(1, self.args.edits + 1):
            a["samples"].append(self.floor_edit(name, i))
        last = a["samples"][-1] if a["samples"] else a["warmup"]
        self.res["checks"].setdefault("floor", []).append({
            "what": "the builder's %s holds the last string" % self.p.artifact(self.build_dir),
            "expected": last["string"], "answered": "yes" if last["binary_has_string"] else "no",
            "ok": all(x["binary_has_string"] for x in a["samples"] + [a["warmup"]])})
        self.check("floor", self.last, what="service (untouched by the floor)")

    # -- compose: docker-compose up -d --build SERVICE

    def compose_edit(self, i):
        s = self.string_for("compose", i)
        time.sleep(IDLE_S)
        lines = []  # (arrival, line) of its output, stdout and stderr together

        def output():
            return "\n".join(line for _, line in lines)[-1500:]

        t0 = self.write_edit(s)
        proc = subprocess.Popen([*self.cli, "up", "-d", "--build", self.service], cwd=self.dir, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)

        def read():
            for x in proc.stdout:
                lines.append((time.monotonic(), x.rstrip("\n")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        exited = [None]

        def done():
            if proc.poll() is None:
                return None
            exited[0] = time.monotonic()
            if proc.returncode != 0:
                reader.join(timeout=5)
                return False, exited[0], "compose exited %d:\n%s" % (proc.returncode, output())
            return True, exited[0], None

        try:
            ms, polls, prev = self.wait_answer(s, t0, self.p.answer_s["compose"], done)
            while proc.poll() is None:  # the answer came first: when compose itself is done
                time.sleep(POLL_S)
                if time.monotonic() - t0 > self.p.answer_s["compose"]:
                    raise BenchError("compose still running %d s after the write" % self.p.answer_s["compose"])
            if exited[0] is None:
                exited[0] = time.monotonic()
            reader.join(timeout=10)
            if proc.returncode != 0:
                raise BenchError("compose exited %d after the answer:\n%s" % (proc.returncode, output()))
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
        with open(os.path.join(self.logs, "compose-%d.log" % i), "w") as f:
            f.writelines("%8.0f ms  %s\n" % ((t - t0) * 1000, line) for t, line in lines)
        self.note_image(self.image)
        self.last = s
        exit_ms = (exited[0] - t0) * 1000

        def first(pred):  # when the first output line that matches came, ms since the write
            return next(((t - t0) * 1000 for t, line in lines if pred(line)), None)

        # The build's end (classic: `Successfully tagged`; BuildKit: `naming to`), the recreate's start.
        built = first(lambda x: "Successfully tagged" in x or "naming to" in x)
        # v1: `Recreating NAME ...`; v2: ` Container NAME  Recreate`.
        recreating = first(lambda x: self.service in x and (x.startswith(("Recreating", "Creating"))
                                                            or re.search(r"Container \S+\s+Recreate", x)))
        log("  compose %s: %.0f ms to the answer (its build done at %s ms, recreate from %s ms; exited at %.0f ms)"
            % ("warm-up" if i == 0 else "edit %d" % i, ms, "?" if built is None else "%.0f" % built,
               "?" if recreating is None else "%.0f" % recreating, exit_ms))
        return {"edit": i, "string": s, "total_ms": ms, "polls": polls, "answered_before": prev["answer"],
                "old_answer_ms": prev["at_ms"], "down_ms": ms - prev["at_ms"] if prev["at_ms"] is not None else None,
                "started_ms": self.started_ms(), "exit_ms": exit_ms, "build_done_ms": built, "recreate_from_ms": recreating,
                "output": [["%.0f" % ((t - t0) * 1000), line] for t, line in lines][-60:]}

    def compose_alt(self):
        a = self.alt("compose")
        log("compose: %s up -d --build %s" % (" ".join(self.cli), self.service))
        a["warmup"] = self.compose_edit(0)
        for i in range(1, self.args.edits + 1):
            a["samples"].append(self.compose_edit(i))
        self.check("compose", self.last)

    def run_all(self):
        if "ours" not in self.args.skip:
            self.attempt("ours", self.ours)
        self.stop_watch_noted()
        if "lsp" not in self.args.skip:
            self.attempt("lsp", compose_lsp.lsp_block, self)
        if "floor" not in self.args.skip:
            if not self.builder_exists():
                # No watch made the builder: one untimed `build` does (and recreates the service).
                log("floor: no builder yet; docker-rebuilder build (untimed)")
                self.attempt("floor", self.make_builder)
            if "floor" not in self.errors:
                self.attempt("floor", self.floor)
        if "compose" not in self.args.skip:
            self.attempt("compose", self.compose_alt)

    def stop_watch_noted(self):
        code = self.stop_watch()
        if code not in (None, 0):
            self.res["watch_stop"] = "docker-rebuilder watch: %s" % code

    def builder_exists(self):
        try:
            self.builder()
            return True
        except BenchError:
            return False

    def make_builder(self):
        p = self.ours_cmd("build", "--json", self.dir)
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                v = json.loads(line)
                if v.get("image_id"):
                    self.image_ids.append(v["image_id"])
        self.wait_answer(self.last, time.monotonic(), 120)

    # -- cleanup

    def chain_to_source_copy(self, top):
        """`top` and its parents down to (and with) the first COPY/ADD layer from the top: the
        source COPY, which holds this run's copy of the edited file. Nothing that existed before
        the run."""
        out, cur = [], top
        while cur and len(out) < 200:
            p = docker("image", "inspect", "--format", "{{.Parent}}|{{json .ContainerConfig.Cmd}}", cur, check=False)
            if p.returncode != 0:
                break
            parent, _, cmd = p.stdout.strip().partition("|")
            if cur in self.images_before:
                break
            out.append(cur)
            if "#(nop) COPY" in cmd or "#(nop) ADD" in cmd:
                return out
            cur = parent
        # No COPY below it (not a classic build's chain): only the top, which is surely ours.
        return out[:1]

    def labelled(self, what):
        f = "label=%s=%s" % (LABEL_PROJECT, self.label)
        if what == "containers":
            return docker("ps", "-aq", "--filter", f, check=False).stdout.split()
        return docker("images", "-aq", "--no-trunc", "--filter", f, check=False).stdout.split()

    def cleanup(self):
        notes = []
        if self.starts is not None:
            self.starts.stop()
        code = self.stop_watch()
        if code not in (None, 0):
            notes.append("docker-rebuilder watch: %s" % code)
        if self.env is None:  # setup failed before anything ran in the folder
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(self.logs, ignore_errors=True)
            return notes
        # Every chain walked before anything is removed (a removed child hides its parents).
        self.note_image(self.image)
        doomed = []

        def walk(ids):
            for top in ids:
                for i in self.chain_to_source_copy(top):
                    if i not in doomed:
                        doomed.append(i)

        walk(self.image_ids + self.labelled("images"))
        for i in self.marked_images():  # what no chain reaches: a classic build stage's images
            if i not in doomed:
                doomed.append(i)
        try:
            p = self.compose("down", "-t", "1", "--rmi", "local", "-v", timeout=300, check=False)
            if p.returncode != 0:
                notes.append("docker-compose down exited %d: %s"
                             % (p.returncode, (p.stderr or p.stdout).strip()[-300:]))
        except (OSError, subprocess.TimeoutExpired) as e:
            notes.append("docker-compose down: %s" % e)
        try:
            p = self.ours_cmd("clean", self.dir, timeout=300, check=False)
            if p.returncode != 0:
                notes.append("docker-rebuilder clean exited %d: %s"
                             % (p.returncode, (p.stderr or p.stdout).strip()[-300:]))
        except (OSError, subprocess.TimeoutExpired) as e:
            notes.append("docker-rebuilder clean: %s" % e)
        for c in self.labelled("containers"):
            docker("rm", "-f", c, check=False)
        walk(self.labelled("images"))  # what `clean` kept (the builder's state)
        for i in self.marked_images():
            if i not in doomed:
                doomed.append(i)
        docker("rmi", "--no-prune", self.image, check=False)
        for _ in range(10):  # children before parents: retry until nothing more goes (never -f, never prune)
            left = [i for i in doomed if docker("rmi", "--no-prune", i, check=False).returncode != 0
                    and docker("image", "inspect", i, check=False).returncode == 0]
            if not left or len(left) == len(doomed):
                doomed = left
                break
            doomed = left
        if doomed:
            notes.append("images left (in use?): %s" % " ".join(i[7:19] for i in doomed))
        self.res["images_removed"] = len(set(self.image_ids))
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        if not self.cache_existed:
            shutil.rmtree(self.cache, ignore_errors=True)
        return notes

    def marked_images(self):
        """Images made since the project's start whose own layer holds the run's copy of the edited
        file (the marker comment), and their descendants (compare.Registry.sweep_marked's way:
        the overlay2 layer's diff folder; on other storage, nothing is found)."""
        if not self.marker or not self.marker_file:
            return []
        reg = type("Marked", (), {})()
        reg.marker_files, reg.images_before = [(self.marker_file, self.marker)], self.images_before
        try:
            return compare.Registry.sweep_marked(reg)
        except Exception as e:  # noqa: BLE001 - the sweep is a safety net
            log("  marked images not swept: %s: %s" % (type(e).__name__, e))
            return []

    def left_after(self):
        left = []
        n = self.marked_images()
        if n:
            left.append("%d image(s) holding the run's %s" % (len(n), self.p.file))
        v = docker("volume", "ls", "-q", "--filter", "label=%s=%s" % (LABEL_PROJECT, self.label),
                   check=False).stdout.split()
        if v:
            left.append("%d volume(s) labelled %s" % (len(v), self.label))
        for what in ("containers", "images"):
            n = self.labelled(what)
            if n:
                left.append("%d %s labelled %s" % (len(n), what, self.label))
        n = docker("ps", "-aq", "--filter", "label=com.docker.compose.project=%s" % self.name,
                   check=False).stdout.split()
        if n:
            left.append("%d compose containers" % len(n))
        if docker("image", "inspect", self.image, check=False).returncode == 0:
            left.append("the image %s" % self.image)
        if docker("network", "inspect", "%s_default" % self.name, check=False).returncode == 0:
            left.append("the network %s_default" % self.name)
        if os.path.exists(self.dir):
            left.append("the folder")
        return "; ".join(left) or "nothing"


# ---------------------------------------------------------------------------------------------
# Report.


def samples(p, alt):
    return (p["alternatives"].get(alt) or {}).get("samples") or []


def med(p, alt, key="total_ms"):
    return median([s.get(key) for s in samples(p, alt)])


def span(p, alt, key="total_ms"):
    xs = [s.get(key) for s in samples(p, alt) if s.get(key) is not None]
    return "%s–%s" % (fmt_ms(min(xs)), fmt_ms(max(xs))) if xs else "–"


def goal(ok):
    return "–" if ok is None else ("met" if ok else "**not met**")


def goals(p, alt="ours"):
    """(compose ÷ alt, alt − floor, alt − stages_ms.build per edit), medians; alt one of OURS."""
    ours, floor, comp = med(p, alt), med(p, "floor"), med(p, "compose")
    x = ratio(comp, ours)
    d = ours - floor if ours is not None and floor is not None else None
    return x, d, med(p, alt, "over_build_ms")


def projects_of(results):
    """The projects' results (a run before --projects had one, the fixture: c-http)."""
    if "projects" in results:
        return results["projects"]
    p = results.get("project")
    return [dict(p, name=p.get("name", "c-http"))] if p else []


def render(results):
    m, s = results["machine"], results["settings"]
    projects = projects_of(results)
    cli = CLI[s.get("compose_version", "v1")]
    out = ["# Compose: save → the running service answers the new code, docker-rebuilder vs "
           "`%s up -d --build` (%s)\n" % (cli, m["date"])]
    w = out.append
    w("Command: `%s`\n" % results["command"])
    w("Machine: %s cores, Docker engine %s (%s), %s, its builds through `%s` %s, kernel %s; load average %s at the "
      "start, %s at the end; %s other container(s) running at the start. docker-rebuilder: `%s` (%s).\n"
      % (m["nproc"], m["engine"], m.get("driver", "?"), m.get("compose", "docker-compose ?"), m.get("docker", "docker"),
         m.get("client", "?"), m.get("kernel", "?"), m.get("load_start", "?"), m.get("load_end", "?"),
         m.get("other_containers", "?"), m.get("binary", "?"), m.get("head", "?")))
    if m.get("binary_changed"):
        w("**Warning: the docker-rebuilder binary changed during the run.**\n")
    w("Each project its own block (folder, compose project, port, `watch`), one after the other. Timer from right "
      "after the write to the first answer with the new code (a new connection every %d ms, each on its own, so "
      "one held by the engine's port proxy does not delay the next). Each alternative: one unmeasured "
      "warm-up edit, then %d measured; as blocks in this order: %s; skipped: %s. %s\n"
      % (s.get("poll_ms", POLL_S * 1000), s["edits"], ", ".join(ORDER), ", ".join(s["skip"]) or "none",
         "Compose v2 builds with BuildKit, its default; docker-rebuilder's builds are its own (the first, untimed, "
         "with BuildKit)." if s.get("compose_version") == "v2" else "Classic builder everywhere (`DOCKER_BUILDKIT=0`)."))

    w("## Goals\n")
    w("`ours` is `docker-rebuilder watch` (a file-system watcher: its batch waits for the files to go quiet); "
      "`lsp` is `docker-rebuilder lsp`, saved as an editor saves (write, then `didSave`).\n")
    w("| project | ours | compose ÷ ours ≥ %.0f× | | ours − the build step (floor) ≤ %d ms | | ours − its own "
      "build step (`stages_ms.build`, per edit) ≤ %d ms | |\n|---|---|---|---|---|---|---|---|"
      % (GOAL_X_COMPOSE, GOAL_OVER_BUILD_MS, GOAL_OVER_BUILD_MS))
    for p in projects:
        for alt in [a for a in OURS if samples(p, a)] or ["ours"]:
            x, d, ob = goals(p, alt)
            w("| %s | %s | %s (%s ÷ %s) | %s | %s (%s − %s) | %s | %s (build %s) | %s |" % (
                p.get("name", "?"), alt, fmt_x(x), fmt_ms(med(p, "compose")), fmt_ms(med(p, alt)),
                goal(None if x is None else x >= GOAL_X_COMPOSE),
                "%+.0f ms" % d if d is not None else "–", fmt_ms(med(p, alt)), fmt_ms(med(p, "floor")),
                goal(None if d is None else d <= GOAL_OVER_BUILD_MS),
                "%+.0f ms" % ob if ob is not None else "–", fmt_ms(med(p, alt, "build_ms")),
                goal(None if ob is None else ob <= GOAL_OVER_BUILD_MS)))
    w("")
    for p in projects:
        render_project(w, p, s)
    if results.get("cleanup_notes"):
        w("Cleanup: %s\n" % "; ".join(results["cleanup_notes"]))
    left = results.get("left_after")
    if isinstance(left, dict):
        left = "; ".join("%s: %s" % kv for kv in left.items())
    if left:
        w("Left after the cleanup: %s.\n" % left)
    return "\n".join(out)


def render_project(w, p, s):
    name = p.get("name", "?")
    w("## %s\n" % name)
    if p.get("error"):
        w("**Failed** (what was measured before is below): %s\n" % p["error"].replace("\n", " ")[:2000])
    w("Project: %s, the run's copy in `%s` (compose project `%s`, service `%s`, image `%s`), on 127.0.0.1:%s. Edit: %s in "
      "`%s`; answer: %s.\n"
      % (p.get("title", "tests/fixtures/compose-app"), p.get("dir"), p.get("compose_project"), p.get("service", "api"),
         p.get("image"), p.get("port", "?"), p.get("edit", "the string `greeting()` returns"), p.get("file"),
         p.get("answer", '`GET /` answers the new string + " (from compose)"')))
    st = p.get("setup") or {}
    fc = st.get("first_cycle") or {}
    if st:
        w("Setup (untimed): `%s up -d --build` %s; `watch`'s first cycle %s (%s, its total_ms %s; %s).\n"
          % (CLI[s.get("compose_version", "v1")], fmt_ms(st.get("compose_up_ms")), fmt_ms(fc.get("wall_ms")), fc.get("outcome", "–"),
             fc.get("total_ms", "–"), fc.get("service_update") or "no service update"))

    ours, floor, comp = med(p, "ours"), med(p, "floor"), med(p, "compose")
    w("### Goals\n")
    w("| goal | measured | |\n|---|---|---|")
    for alt in [a for a in OURS if samples(p, a)] or ["ours"]:
        x, d, ob = goals(p, alt)
        w("| compose ÷ %s ≥ %.0f× | %s (%s ÷ %s) | %s |" % (alt, GOAL_X_COMPOSE, fmt_x(x), fmt_ms(comp),
                                                           fmt_ms(med(p, alt)),
                                                           goal(None if x is None else x >= GOAL_X_COMPOSE)))
        w("| %s − the build step (floor) ≤ %d ms | %s (%s − %s) | %s |" % (
            alt, GOAL_OVER_BUILD_MS, "%+.0f ms" % d if d is not None else "–", fmt_ms(med(p, alt)), fmt_ms(floor),
            goal(None if d is None else d <= GOAL_OVER_BUILD_MS)))
        w("| %s − its own build step (`stages_ms.build`, per edit, median) ≤ %d ms | %s (build median %s) | %s |" % (
            alt, GOAL_OVER_BUILD_MS, "%+.0f ms" % ob if ob is not None else "–", fmt_ms(med(p, alt, "build_ms")),
            goal(None if ob is None else ob <= GOAL_OVER_BUILD_MS)))
    w("")

    w("### Save → new code served\n")
    step = p.get("build_command", "make")
    if p.get("build_dir"):
        step = "cd %s && %s" % (p["build_dir"], step)
    rows = [("ours", "**ours**: `docker-rebuilder watch` (sync, build in the builder, %scommit, recreate by compose)"
             % ("replay, " if name == "go" else "")),
            ("lsp", "**ours, LSP**: `docker-rebuilder lsp`, the same cycle started by `didSave` (no watcher)"),
            ("floor", "floor: `%s` alone in our builder (`docker exec`; no image, no service)" % step),
            ("compose", "`%s up -d --build %s` (full build, recreate)"
             % (CLI[s.get("compose_version", "v1")], p.get("service", "api")))]
    w("| alternative | n | median | min–max | ÷ ours | − floor |\n|---|---|---|---|---|---|")
    for alt, label in rows:
        a = p["alternatives"].get(alt)
        if a is None:
            w("| %s | – | %s | | | |" % (label, "skipped" if alt in s["skip"] else "not run"))
            continue
        v = med(p, alt)
        cell = fmt_ms(v) + (" (then failed)" if a.get("error") and v is not None else "")
        if v is None:
            cell = "failed: %s" % (a.get("error") or "no data").splitlines()[0][:160].replace("|", "\\|")
        w("| %s | %d | %s | %s | %s | %s |" % (
            label, len(a["samples"]), cell, span(p, alt), fmt_x(ratio(v, ours)) if alt == "compose" else "",
            "%+.0f ms" % (v - floor) if v is not None and floor is not None and alt != "floor" else ""))
    w("")
    started = [(alt, label) for alt, label in rows if med(p, alt, "started_ms") is not None]
    if started:
        w("Save → the service's new container started (the engine's `start` event), and from there to the first "
          "new answer. When the container is alone on its network (engines before moby 28), a probe tried while "
          "it is down leaves the host's ARP entry for its address unresolved until the kernel's next try, 1 s "
          "later: the answer can lag the start by up to ~1 s, for compose as for us. A second container on the "
          "network keeps the bridge up and the entry.\n")
        own = med(p, "ours", "started_ms")
        w("| alternative | n | started: median | min–max | ÷ ours | − floor | start → answer (median) |\n"
          "|---|---|---|---|---|---|---|")
        for alt, label in started:
            v = med(p, alt, "started_ms")
            lag = median([x["total_ms"] - x["started_ms"] for x in samples(p, alt) if x.get("started_ms") is not None])
            w("| %s | %d | %s | %s | %s | %s | %s |" % (
                {"ours": "ours (`watch`)", "lsp": "ours (LSP)"}.get(alt, alt), len([x for x in samples(p, alt) if x.get("started_ms") is not None]), fmt_ms(v),
                span(p, alt, "started_ms"), fmt_x(ratio(v, own)) if alt == "compose" else "",
                "%+.0f ms" % (v - floor) if floor is not None else "", fmt_ms(lag)))
        w("")
    warm = [(n, (p["alternatives"].get(n) or {}).get("warmup")) for n in ORDER]
    warm = ["%s %s" % (n, fmt_ms(x["total_ms"])) for n, x in warm if x]
    if warm:
        w("Warm-up edits (not counted): %s.\n" % ", ".join(warm))
    per = [(alt, {x["edit"]: x["total_ms"] for x in samples(p, alt)}) for alt in ORDER]
    per = [(alt, dd) for alt, dd in per if dd]
    if per:
        w("Per edit (ms):\n")
        w("| edit | %s |\n|---|%s" % (" | ".join(alt for alt, _ in per), "---|" * len(per)))
        for e in sorted({e for _, dd in per for e in dd}):
            w("| %d | %s |" % (e, " | ".join("%.0f" % dd[e] if e in dd else "–" for _, dd in per)))
        w("")

    os_ = samples(p, "ours")
    if os_:
        w("### Ours, per cycle (medians over %d edits)\n" % len(os_))
        w("| phase (`phases_ms`) | median | min–max |\n|---|---|---|")
        seen = stage_keys([x["phases"] for x in os_])
        keys = [k for k in PHASES if k != "replay" or k in seen or name == "go"] + [k for k in seen if k not in PHASES]
        for k in keys:
            xs = [x["phases"].get(k) for x in os_ if x["phases"].get(k) is not None]
            w("| %s | %s | %s |" % (k, fmt_ms(median(xs)), "%s–%s" % (fmt_ms(min(xs)), fmt_ms(max(xs))) if xs else "–"))
        w("| the cycle's total_ms | %s | %s |" % (fmt_ms(med(p, "ours", "cycle_total_ms")), span(p, "ours", "cycle_total_ms")))
        w("| save → its JSON line | %s | %s |" % (fmt_ms(med(p, "ours", "line_ms")), span(p, "ours", "line_ms")))
        w("| save → answer | %s | %s |" % (fmt_ms(ours), span(p, "ours")))
        w("")
        sk = stage_keys([x["stages"] for x in os_])
        w("Stages (`stages_ms`, medians): %s.\n" % (
            ", ".join("%s %s" % (k, fmt_ms(median([x["stages"].get(k) for x in os_]))) for k in sk) or "–"))
        after = median([x["line_ms"] - x["total_ms"] for x in os_])
        w("Medians: save → the cycle's start (its JSON line's arrival − its total_ms: the watcher's settle) %s; the "
          "cycle's line came %s after the first new answer (the recreate's `docker-compose` finishing); the service "
          "did not answer (last old answer → first new) %s. Cycles no edit asked for: %d.\n"
          % (fmt_ms(median([x["line_ms"] - x["cycle_total_ms"] for x in os_ if x.get("cycle_total_ms") is not None])),
             "–" if after is None else "%+.0f ms" % after, fmt_ms(med(p, "ours", "down_ms")),
             (p["alternatives"].get("ours") or {}).get("extra_cycles", 0)))
        upd = [x["cycle"].get("service_update") for x in os_ if x["cycle"].get("service_update")]
        if upd:
            w("Its service update (last edit): %s.\n" % upd[-1])
    ls = samples(p, "lsp")
    if ls:
        sk = stage_keys([x["stages"] for x in ls])
        fc = (p.get("setup") or {}).get("lsp_first_cycle") or {}
        w("LSP (medians over %d edits): save → answer %s (%s); save → its `succeeded` status %s; the service did not "
          "answer %s; stages (its `timings:` line): %s. Its first cycle (untimed): %s in %s. Cycles no edit asked "
          "for: %d.\n" % (len(ls), fmt_ms(med(p, "lsp")), span(p, "lsp"), fmt_ms(med(p, "lsp", "status_ms")),
                          fmt_ms(med(p, "lsp", "down_ms")),
                          ", ".join("%s %s" % (k, fmt_ms(median([x["stages"].get(k) for x in ls]))) for k in sk) or "–",
                          fc.get("message", "–"), fmt_ms(fc.get("wall_ms")),
                          sum(len(x.get("extra_cycles_before") or []) for x in ls)))
    cs = samples(p, "compose")
    if cs:
        w("Compose (medians, from the write; the build and the recreate by the times of its output's lines): its "
          "`docker build` done (`Successfully tagged`) at %s, the recreate from %s, the answer at %s, the "
          "`docker-compose` process exited at %s; the service did not answer (last old answer → first new) %s.\n"
          % (fmt_ms(med(p, "compose", "build_done_ms")), fmt_ms(med(p, "compose", "recreate_from_ms")), fmt_ms(comp),
             fmt_ms(med(p, "compose", "exit_ms")), fmt_ms(med(p, "compose", "down_ms"))))
    checks = p.get("checks") or {}
    if checks:
        w("Checks (untimed, after each block): %s.\n" % "; ".join(
            "%s: %s %s" % (alt, c["what"], "ok" if c["ok"] else "**failed** (answered %r, expected %r)"
                           % (c["answered"], c["expected"]))
            for alt, cl in checks.items() for c in cl))
    if p.get("watch_stop"):
        w("%s.\n" % p["watch_stop"])
    if p.get("cleanup_notes"):
        w("Cleanup: %s\n" % "; ".join(p["cleanup_notes"]))
    if p.get("left_after"):
        w("Left after the cleanup: %s.\n" % p["left_after"])


def failures(results):
    out = []
    for p in projects_of(results):
        name = p.get("name", "?")
        if p.get("error"):
            out.append("%s: %s" % (name, p["error"].splitlines()[0]))
        for alt, a in (p.get("alternatives") or {}).items():
            if a and a.get("error"):
                out.append("%s: %s: %s" % (name, alt, a["error"].splitlines()[0]))
        for alt, cl in (p.get("checks") or {}).items():
            for c in cl:
                if not c["ok"]:
                    out.append("%s: %s: check failed: %s answered %r, expected %r"
                               % (name, alt, c["what"], c["answered"], c["expected"]))
    return out


# ---------------------------------------------------------------------------------------------


def head_commit():
    """The checked-out commit, read from .git without running git (the working tree may differ)."""
    try:
        with open(os.path.join(ROOT, ".git", "HEAD")) as f:
            h = f.read().strip()
        if h.startswith("ref: "):
            ref = h[5:]
            path = os.path.join(ROOT, ".git", ref)
            if os.path.exists(path):
                with open(path) as f:
                    return "git %s" % f.read().strip()[:10]
            with open(os.path.join(ROOT, ".git", "packed-refs")) as f:
                for line in f:
                    if line.strip().endswith(" " + ref):
                        return "git %s" % line.split()[0][:10]
            return "git ?"
        return "git %s" % h[:10]
    except OSError:
        return "git ?"


def compose_version_line(compose):
    """The user's compose and its version, as the run sees it."""
    program, name = (COMPOSE_V2_PLUGIN, "docker compose (plugin)") if compose == "v2" else (COMPOSE, "docker-compose")
    try:
        version = run([program, "version", "--short"], check=False, timeout=60).stdout.strip()
    except BenchError:
        version = ""
    return "%s %s" % (name, version or "?")


def machine_info(binary, compose):
    def q(cmd):
        try:
            return run(cmd, check=False, timeout=60).stdout.strip()
        except BenchError:
            return "?"

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "engine": q([DOCKER, "version", "--format", "{{.Server.Version}}"]),
        "client": q([DOCKER, "version", "--format", "{{.Client.Version}}"]),
        "docker": DOCKER,
        "driver": q([DOCKER, "info", "--format", "{{.Driver}}"]),
        "compose": compose_version_line(compose),
        "kernel": os.uname().release,
        "load_start": "%.2f" % os.getloadavg()[0],
        "head": head_commit(),
        "binary": binary,
        "binary_mtime": os.path.getmtime(binary) if os.path.exists(binary) else None,
        "other_containers": len(docker("ps", "-q", check=False).stdout.split()),
    }


def run_project(args, run_id, workroot, project):
    """One project's block: setup, the alternatives, its cleanup (even on failure). Its results;
    a KeyboardInterrupt is re-raised after the cleanup (no further project runs)."""
    log("== project %s" % project.name)
    bench = ComposeBench(args, run_id, workroot, project)
    interrupted = None
    try:
        bench.setup()
        bench.run_all()
    except BaseException as e:  # noqa: BLE001 - the report still goes out (Ctrl-C too, after the cleanup)
        bench.res["error"] = str(e) if isinstance(e, BenchError) else "%s: %s" % (type(e).__name__, e)
        log("FAILED: %s: %s" % (project.name, bench.res["error"]))
        if isinstance(e, KeyboardInterrupt):
            interrupted = e
        elif not isinstance(e, BenchError):
            traceback.print_exc()
    finally:
        notes = []
        try:
            notes += bench.cleanup()
        except Exception as e:  # noqa: BLE001
            notes.append("cleanup: %s: %s" % (type(e).__name__, e))
            traceback.print_exc()
        bench.res["cleanup_notes"] = notes
        try:
            bench.res["left_after"] = bench.left_after()
        except Exception as e:  # noqa: BLE001
            bench.res["left_after"] = "not checked: %s: %s" % (type(e).__name__, e)
        log("  %s cleaned up; left: %s" % (project.name, bench.res["left_after"]))
    return bench.res, interrupted


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", default=None,
                    help="comma list among %s (default %s; with --quick alone: %s)"
                    % (",".join(PROJECTS), ",".join(DEFAULT_PROJECTS), ",".join(QUICK_PROJECTS)))
    ap.add_argument("--edits", type=int, default=None, help="measured edits per alternative (default 5; --quick 2)")
    ap.add_argument("--binary", default=None, help="docker-rebuilder (default: target/release, else target/debug)")
    ap.add_argument("--out", default=None, help="the report (default bench/results/compose-<date>.md)")
    ap.add_argument("--skip", default="", help="comma list among " + ",".join(ALTERNATIVES))
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 edits, project c-http unless --projects")
    ap.add_argument("--workdir", default=None, help="where the project folders go (default: a new folder in /tmp)")
    ap.add_argument("--from-json", default=None, help="only re-render the report of an earlier run's JSON")
    ap.add_argument("--compose", choices=("v1", "v2"), default="v1",
                    help="the user's compose: v1 `docker-compose` (default) or v2 `docker compose` (Debian's plugin)")
    args = ap.parse_args()
    if args.edits is None:
        args.edits = 2 if args.quick else 5
    if args.projects is None:
        args.projects = ",".join(QUICK_PROJECTS if args.quick else DEFAULT_PROJECTS)
    args.projects = [x for x in args.projects.split(",") if x]
    unknown = [x for x in args.projects if x not in PROJECTS]
    if unknown or not args.projects:
        ap.error("unknown project: %s (known: %s)" % (", ".join(unknown) or "none given", ", ".join(PROJECTS)))
    args.skip = [x for x in args.skip.split(",") if x]
    unknown = [x for x in args.skip if x not in ALTERNATIVES]
    if unknown:
        ap.error("unknown alternative: %s" % ", ".join(unknown))
    if args.from_json:
        with open(args.from_json) as f:
            print(render(json.load(f)))
        return 0
    out = os.path.abspath(args.out or os.path.join(HERE, "results", "compose-%s.md" % time.strftime("%Y-%m-%d")))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json_path = os.path.splitext(out)[0] + ".json"
    args.binary = os.path.abspath(args.binary or multistage.default_binary())
    if not os.path.exists(args.binary):
        log("building %s (cargo build --release)" % args.binary)
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
        args.binary = multistage.default_binary()
    results = {"command": "python3 " + shlex.join(["bench/compose.py"] + sys.argv[1:]),
               "machine": machine_info(args.binary, args.compose),
               "settings": {"projects": args.projects, "edits": args.edits, "skip": args.skip, "docker": DOCKER,
                            "compose": COMPOSE, "compose_version": args.compose, "poll_ms": POLL_S * 1000, "http_timeout_ms": HTTP_TIMEOUT_S * 1000,
                            "idle_ms": IDLE_S * 1000},
               "projects": []}
    run_id = "%d_%x" % (os.getpid(), int(time.time() * 1000))
    workroot = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="composebench-")
    os.makedirs(workroot, exist_ok=True)
    try:
        for name in args.projects:
            res, interrupted = run_project(args, run_id, workroot, PROJECTS[name]())
            results["projects"].append(res)
            if interrupted is not None:
                break
    finally:
        if not args.workdir:
            shutil.rmtree(workroot, ignore_errors=True)
    m = results["machine"]
    m["load_end"] = "%.2f" % os.getloadavg()[0]
    m["binary_changed"] = os.path.exists(args.binary) and os.path.getmtime(args.binary) != m["binary_mtime"]
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    text = render(results)
    with open(out, "w") as f:
        f.write(text + "\n")
    print(text)
    log("report: %s\nraw numbers: %s" % (out, json_path))
    failed = failures(results)
    for f in failed:
        log("FAILED: " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

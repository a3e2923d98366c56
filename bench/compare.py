#!/usr/bin/env python3
"""Compares docker-rebuilder with the alternatives on real C projects, in one run, one machine.

For each project (Redis 7.0 from Debian's source package, Lua 5.4 from the lua-src crate) and a
one-line edit to one `.c` file, it measures:

  plain     a plain `docker build` (classic builder, layer cache warm up to the source COPY;
            every edit is unique per run, so the cache never hits past the COPY);
  buildkit  what a savvy user would pick: BuildKit (Debian's 20.10 client, daemon-embedded
            BuildKit, built-in Dockerfile frontend: no `# syntax` line) with a cache mount that
            keeps the object files (`make` in the cache recompiles only what changed); the
            Dockerfile is generated outside the build context and passed with -f;
  naive     the seed proof of concept: `docker cp` of the whole project folder into a running
            container, `docker exec` of the build command, `docker commit` (each part timed);
  cli       `docker-rebuilder build --json DIR` (whole process; its per-stage split);
  floor     the build command alone in a running container (`docker exec`, wall time and the
            command's own in-container time) plus a `docker commit` of the same diff alone;
            the changed file is put in place first by an untimed `docker cp` of that one file;
            done for the clean edit and for an edit that breaks the build;
  lsp       through `docker-rebuilder lsp` over stdio: save -> first diagnostic (breaking
            edit), save -> committed image (the fix), and the idle server's RSS;
  long      (first project only) --long-edits consecutive edits through the CLI rotating over
            five files: every stage, the commit time, the committed layer's size, the builder's
            diff size per edit.

Alternatives are interleaved per edit (cli, naive, floor, plain, buildkit) so the machine's state
is the same for all, after one unmeasured warm-up edit (the first `make` after an image build
does one-time work); the LSP runs as its own block afterwards (its file watcher would otherwise
react to the other alternatives' edits, and it shares the builder with the CLI). Medians are
reported. Everything the run creates (project folders, containers, tags, images, BuildKit cache
records) is removed at the end, even on failure; the layer cache below the source COPY stays.

Usage:
    python3 bench/compare.py                       # redis,lua; 5 edits, 3 slow edits, 50 long edits
    python3 bench/compare.py --projects lua --quick  # smoke run (edits 2, slow 1, long 3)
    python3 bench/compare.py --skip plain,buildkit --edits 10
    python3 bench/compare.py --from-json bench/results/compare-DATE.json  # re-render a report

Flags: --projects, --edits, --slow-edits, --long-edits, --binary, --out, --skip (comma list of
plain,buildkit,naive,cli,floor,lsp,long), --quick, --workdir, --from-json.

Output: a Markdown report (printed, and written to --out, default
bench/results/compare-<date>.md), the raw numbers beside it (.json), and per long-run project a
plot (phases-<project>.png beside the report; matplotlib from a venv under
${XDG_CACHE_HOME:-~/.cache}/docker-rebuilder-bench/venv, created on first use from
bench/requirements.txt). Needs a running engine, debian:bookworm-slim, and /usr/bin/docker
(the Debian 20.10 client: the /usr/local/bin 28.x client has no buildx and fails with BuildKit).
Python 3.11, stdlib only.
"""

import argparse
import contextlib
import datetime
import http.client
import json
import os
import queue
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
from rebuild import Lsp, uri  # noqa: E402  (the existing harness's LSP client, reused)

# Debian's 20.10 client drives the daemon-embedded BuildKit; the 28.x one in /usr/local/bin
# needs buildx for BuildKit. The same client is used for everything, for consistency.
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else (shutil.which("docker") or "docker")
LABEL_PROJECT = "dev.docker-rebuilder.project"
LABEL_ROLE = "dev.docker-rebuilder.role"


# Per project: how to assemble it, the file and anchor of the single-file comparisons, the files
# and anchors the long run rotates over (each anchor a top-level definition's first line), and
# the artefacts the BuildKit variant copies out of its cache into the image (what CMD runs).
PROJECTS = {
    "redis": {
        "fetch": os.path.join(HERE, "redis/fetch.sh"),
        "file": "src/server.c",
        "anchor": "int main(int argc, char **argv) {",
        "long": [
            ("src/server.c", "int main(int argc, char **argv) {"),
            ("src/networking.c", "client *createClient(connection *conn) {"),
            ("src/t_string.c", "void setCommand(client *c) {"),
            ("src/db.c", "robj *lookupKey(redisDb *db, robj *key, int flags) {"),
            ("src/object.c", "robj *createObject(int type, void *ptr) {"),
        ],
        "artefacts": ["src/redis-server", "src/redis-cli"],
    },
    "lua": {
        "fetch": os.path.join(HERE, "lua/fetch.sh"),
        "file": "src/lapi.c",
        "anchor": "const char lua_ident[] =",
        "long": [
            ("src/lapi.c", "const char lua_ident[] ="),
            ("src/lvm.c", "void luaV_execute (lua_State *L, CallInfo *ci) {"),
            ("src/lstring.c", "void luaS_init (lua_State *L) {"),
            ("src/ltable.c", "Table *luaH_new (lua_State *L) {"),
            ("src/ldo.c", "void luaD_call (lua_State *L, StkId func, int nResults) {"),
        ],
        "artefacts": ["lua"],
    },
}

ALTERNATIVES = ("cli", "naive", "floor", "plain", "buildkit", "lsp", "long")
# The stage names docker-rebuilder reports: `stages_ms` (new) or `phases_ms` (older builds).
STAGES = ("detect", "archive", "upload", "exec_start", "build", "commit", "prune", "rebase")
PHASES = ("detect", "sync", "exec", "commit", "prune")
LONG_ROWS = (1, 10, 20, 30, 40, 50)
# Idle time before each LSP edit (the previous cycle's status already received).
LSP_IDLE_S = 1.0


class BenchError(Exception):
    """An alternative (or a step of it) failed: reported as failed, the rest goes on."""


def run(cmd, timeout=600, check=True, env=None, input=None):
    """Runs a command, captures its output; on failure raises BenchError with its output's tail."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, input=input)
    except subprocess.TimeoutExpired:
        raise BenchError("timed out after %ds: %s" % (timeout, shlex.join(cmd)))
    except OSError as e:
        raise BenchError("%s: %s" % (shlex.join(cmd), e))
    if check and p.returncode != 0:
        tail = (p.stderr.strip() or p.stdout.strip())[-1500:]
        raise BenchError("exit %d: %s\n%s" % (p.returncode, shlex.join(cmd)[:300], tail))
    return p


def timed(cmd, **kw):
    """(wall milliseconds, CompletedProcess)."""
    t = time.monotonic()
    p = run(cmd, **kw)
    return (time.monotonic() - t) * 1000, p


def docker(*args, **kw):
    return run([DOCKER, *args], **kw)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


# ---------------------------------------------------------------------------------------------
# Project files: the Dockerfile's build command, edits.


def parse_dockerfile(path):
    """Instructions as (keyword, arguments, original text joined on one line), continuations
    joined, comments and blank lines dropped (enough for the benchmark projects' Dockerfiles)."""
    out, cur = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                cur += line.rstrip()[:-1] + " "
                continue
            cur += line
            kw, _, rest = cur.strip().partition(" ")
            out.append((kw.upper(), rest.strip(), cur.strip()))
            cur = ""
    return out


def build_command(instructions):
    """(index of the last RUN, its shell command, the WORKDIR it runs in)."""
    last = max((i for i, ins in enumerate(instructions) if ins[0] == "RUN"), default=None)
    if last is None:
        raise BenchError("the Dockerfile has no RUN")
    args = instructions[last][1]
    while args.startswith("--"):  # RUN flags (--mount=..., --network=...)
        args = args.split(None, 1)[1] if " " in args else ""
    if args.startswith("["):
        args = shlex.join(json.loads(args))
    workdir = "/"
    for kw, rest, _ in instructions[:last]:
        if kw == "WORKDIR":
            workdir = rest if rest.startswith("/") else os.path.join(workdir, rest)
    return last, args, workdir


def anchor_re(anchor):
    return re.compile(r"^" + re.escape(anchor), re.M)


def check_anchor(path, anchor):
    with open(path) as f:
        if not anchor_re(anchor).search(f.read()):
            raise BenchError("anchor %r not found at a line start in %s" % (anchor, path))


def with_line(text, anchor, line):
    """`text` with `line` inserted before the first line starting with `anchor`."""
    m = anchor_re(anchor).search(text)
    if not m:
        raise BenchError("anchor %r not found" % anchor)
    return text[: m.start()] + line + "\n" + text[m.start():]


def insert_line(path, anchor, line):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(with_line(text, anchor, line))


def replace_once(path, old, new):
    with open(path) as f:
        text = f.read()
    if old not in text:
        raise BenchError("%r not in %s" % (old, path))
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


# ---------------------------------------------------------------------------------------------
# What the run creates, and its removal.


def engine_api(path):
    """GET on the engine's API through its socket (for BuildKit's cache records)."""

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").replace("unix://", ""))

    c = Conn("localhost", timeout=60)
    c.request("GET", path)
    return json.loads(c.getresponse().read())


def parse_ts(s):
    """Engine timestamps (RFC 3339 with nanoseconds) as epoch seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s or "")
    if not m:
        return None
    frac = float(m.group(2) or 0)
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.datetime.fromisoformat(m.group(1) + tz).timestamp() + frac


class Registry:
    """Everything the run creates, so that `cleanup` removes exactly that."""

    def __init__(self):
        # Images present before the run are never touched.
        self.images_before = set(docker("images", "-a", "-q", "--no-trunc").stdout.split())
        self.containers = []  # names
        self.tags = []
        self.image_ids = []  # image ids the run produced (builds, commits)
        self.labels = []  # docker-rebuilder project paths (label values)
        self.buildkit_windows = []  # (start, end) epoch seconds of our BuildKit builds
        self.buildkit_marker = None
        self.marker_files = []  # (path in the image, text only this run's copy of it holds)
        self.dirs = []

    def add_image(self, image_id):
        if image_id and image_id not in self.image_ids:
            self.image_ids.append(image_id)

    def cleanup(self):
        """Removes containers, tags, the images the run created above the source COPY (the
        layer cache below it stays), BuildKit records of our builds, folders. Never prunes."""
        notes = []
        for label in self.labels:
            ids = docker("ps", "-aq", "--filter", "label=%s=%s" % (LABEL_PROJECT, label), check=False).stdout.split()
            for cid in ids:
                docker("rm", "-f", cid, check=False)
            imgs = docker("images", "-aq", "--no-trunc", "--filter", "label=%s=%s" % (LABEL_PROJECT, label), check=False)
            for i in imgs.stdout.split():
                self.add_image(i)
        for name in self.containers:
            docker("rm", "-f", name, check=False)
        for tag in self.tags:
            p = docker("image", "inspect", "--format", "{{.Id}}", tag, check=False)
            if p.returncode == 0:
                self.add_image(p.stdout.strip())
        # Each image's parent chain down to its first source COPY/ADD: those layers are the
        # run's own (its sources are unique per run); what is below (apt...) is the cache.
        # Walked before anything is removed (a removed child hides its parents).
        doomed = []
        for top in self.image_ids:
            chain, cur = [], top
            while cur and len(chain) < 200:
                p = docker("image", "inspect", "--format", "{{.Parent}}|{{json .ContainerConfig.Cmd}}", cur, check=False)
                if p.returncode != 0:
                    break
                parent, _, cmd = p.stdout.strip().partition("|")
                chain.append((cur, "#(nop) COPY" in cmd or "#(nop) ADD" in cmd))
                cur = parent
            copies = [i for i, (_, is_copy) in enumerate(chain) if is_copy]
            keep_from = (copies[-1] + 1) if copies else 1
            for image_id, _ in chain[:keep_from]:
                if image_id not in self.images_before and image_id not in doomed:
                    doomed.append(image_id)
        for i in self.sweep_marked():
            if i not in doomed:
                doomed.append(i)
        for tag in self.tags:
            docker("rmi", "--no-prune", tag, check=False)
        # Children before parents: retry until nothing more goes (never -f, never prune).
        for _ in range(10):
            left = [i for i in doomed if docker("rmi", "--no-prune", i, check=False).returncode != 0
                    and docker("image", "inspect", i, check=False).returncode == 0]
            if not left or len(left) == len(doomed):
                doomed = left
                break
            doomed = left
        if doomed:
            notes.append("images left (in use by others?): %s" % " ".join(i[7:19] for i in doomed))
        notes += self.cleanup_buildkit()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        return notes

    def sweep_marked(self):
        """Images created since the start whose own layer holds this run's marked file (on the
        engine's overlay2 storage: the layer's diff folder), and their descendants: what failed
        builds leave behind. Other engines' storage: nothing found, nothing removed."""
        if not self.marker_files:
            return []
        new = [i for i in docker("images", "-a", "-q", "--no-trunc", check=False).stdout.split()
               if i not in self.images_before]
        if not new:
            return []
        p = docker("image", "inspect", "--format", "{{.Id}}|{{.Parent}}|{{.GraphDriver.Data.UpperDir}}", *new, check=False)
        parent, marked = {}, set()
        for line in p.stdout.splitlines():
            image_id, par, upper = (line.split("|") + ["", ""])[:3]
            parent[image_id] = par
            for rel, text in self.marker_files:
                try:
                    with open(os.path.join(upper, rel), errors="replace") as f:
                        if text in f.read():
                            marked.add(image_id)
                except OSError:
                    pass

        def ours(i, depth=0):
            return i in marked or (i in parent and depth < 200 and ours(parent[i], depth + 1))

        return [i for i in parent if ours(i)]

    def cleanup_buildkit(self):
        """BuildKit cache records created during our BuildKit builds (the cache mount, the
        context, our layers), except other steps' layers (`mount / from exec` without our
        marker: the apt layer, the cache a later run reuses)."""
        if not self.buildkit_windows:
            return []
        try:
            records = engine_api("/system/df").get("BuildCache") or []
        except (OSError, ValueError) as e:
            return ["BuildKit cache records not listed: %s" % e]
        ours = []
        for r in records:
            t = parse_ts(r.get("CreatedAt"))
            if t is None or not any(a - 1 <= t <= b + 1 for a, b in self.buildkit_windows):
                continue
            desc = r.get("Description") or ""
            if desc.startswith("mount / from exec") and self.buildkit_marker not in desc:
                continue
            ours.append(r["ID"])
        for _ in range(6):  # records with dependants go once those are gone
            left = [i for i in ours
                    if i not in docker("builder", "prune", "-f", "--filter", "id=" + i, check=False).stdout]
            if len(left) == len(ours):
                break
            ours = left
        return ["BuildKit cache records left: %d" % len(ours)] if ours else []


# ---------------------------------------------------------------------------------------------
# One project's benchmark.


class ProjectBench:
    def __init__(self, name, args, reg, run_id, workroot):
        self.name, self.args, self.reg, self.run_id = name, args, reg, run_id
        self.spec = PROJECTS[name]
        self.pid = os.getpid()
        self.dir = os.path.join(workroot, "%s-bench-%d" % (name, self.pid))
        self.image = os.path.basename(self.dir) + ":latest"
        self.base = os.path.basename(self.dir)
        self.target = os.path.join(self.dir, self.spec["file"])
        self.anchor = self.spec["anchor"]
        self.res = {"dir": self.dir, "image": self.image, "file": self.spec["file"], "anchor": self.anchor,
                    "first_build": {}, "alternatives": {}, "long": None}
        self.errors = {}  # alternative -> first error (it is not run again)

    # -- bookkeeping

    def alt(self, name):
        return self.res["alternatives"].setdefault(name, {"samples": [], "error": None})

    def enabled(self, name):
        return name not in self.args.skip and name not in self.errors

    def attempt(self, name, fn, *a):
        """Runs one sample of an alternative; a failure marks the alternative failed."""
        if not self.enabled(name):
            return None
        try:
            return fn(*a)
        except Exception as e:  # noqa: BLE001 - any failure is reported, the rest goes on
            msg = "%s: %s" % (type(e).__name__, e) if not isinstance(e, BenchError) else str(e)
            self.errors[name] = msg
            self.alt(name)["error"] = msg
            log("  %s FAILED: %s" % (name, msg.splitlines()[0] if msg else msg))
            if not isinstance(e, BenchError):
                traceback.print_exc()
            return None

    # -- setup

    def setup(self):
        self.reg.dirs.append(self.dir)
        # Scratch files (the BuildKit Dockerfile, iid files, the LSP's log): outside the context.
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="%s-tmp-" % self.base, dir=os.path.dirname(self.dir))
        self.reg.dirs.append(self.tmp)
        run(["bash", self.spec["fetch"], self.dir], timeout=1800)
        self.reg.labels.append(self.dir)
        self.reg.tags.append(self.image)
        check_anchor(self.target, self.anchor)
        for f, a in self.spec["long"]:
            check_anchor(os.path.join(self.dir, f), a)
        self.instructions = parse_dockerfile(os.path.join(self.dir, "Dockerfile"))
        self.run_index, self.cmd, self.workdir = build_command(self.instructions)
        self.res.update(build_command=self.cmd, workdir=self.workdir)
        # Unique per run from the first build on: no layer cache of an earlier run (or of anyone
        # else's build of the same tree) can ever hit past the source COPY.
        marker = "/* docker-rebuilder bench run %s */" % self.run_id
        with open(self.target, "a") as f:
            f.write(marker + "\n")
        # The cleanup recognises the run's image layers by this file (failed builds leave
        # intermediate images that no tag or id of ours points to).
        self.reg.marker_files.append((os.path.join(self.workdir, self.spec["file"]).lstrip("/"), marker))

    def cli_build(self):
        """`docker-rebuilder build --json DIR`: its JSON object."""
        p = run([self.args.binary, "build", "--json", self.dir], timeout=3600, check=False)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise BenchError("docker-rebuilder build exited %d without JSON: %s" % (p.returncode, (p.stderr or p.stdout)[-1500:]))
        v = json.loads(lines[-1])
        if v.get("outcome") == "error":  # docker-rebuilder could not do its job: cause and fix
            raise BenchError("docker-rebuilder: %s (fix: %s)" % (v.get("error"), v.get("fix")))
        if v.get("image_id"):
            self.reg.add_image(v["image_id"])
        return v

    def first_build(self):
        t = time.monotonic()
        v = self.cli_build()
        ms = (time.monotonic() - t) * 1000
        if v.get("outcome") != "image_built":
            raise BenchError("first build: outcome %r: %s" % (v.get("outcome"), (v.get("output") or "")[-1500:]))
        self.res["first_build"]["cli_ms"] = ms
        log("  first build (docker-rebuilder): %.1f s" % (ms / 1000))
        inspect = json.loads(docker("image", "inspect", self.image).stdout)[0]
        self.config = inspect["Config"]

    # -- the alternatives, one sample each

    def cli_edit(self, i):
        t = time.monotonic()
        v = self.cli_build()
        wall = (time.monotonic() - t) * 1000
        if v.get("outcome") != "succeeded":
            raise BenchError("outcome %r: %s" % (v.get("outcome"), (v.get("output") or "")[-1500:]))
        stages = v.get("stages_ms") or v.get("phases_ms") or {}
        s = {"edit": i, "total_ms": wall, "reported_total_ms": v.get("total_ms"),
             "stages": stages, "stage_source": "stages_ms" if v.get("stages_ms") else "phases_ms"}
        self.alt("cli")["samples"].append(s)
        return s

    def start_container(self, suffix):
        """A container from the image, kept running (`sleep infinity` in place of its CMD)."""
        name = "%s-%s" % (self.base, suffix)
        self.reg.containers.append(name)
        if self.config.get("Entrypoint"):
            docker("run", "-d", "--name", name, "--entrypoint", "sleep", self.image, "infinity")
        else:
            docker("run", "-d", "--name", name, self.image, "sleep", "infinity")
        return name

    def commit_changes(self):
        """--change options restoring the image's CMD (and ENTRYPOINT) in a commit."""
        ch = ["--change", "CMD " + json.dumps(self.config.get("Cmd") or [])]
        if self.config.get("Entrypoint"):
            ch += ["--change", "ENTRYPOINT " + json.dumps(self.config["Entrypoint"])]
        return ch

    def naive_setup(self):
        self.naive_c = self.start_container("naive")
        self.naive_tag = "%s-naive:latest" % self.base
        self.reg.tags.append(self.naive_tag)
        self.naive_prev = None

    def naive_edit(self, i):
        cp, _ = timed([DOCKER, "cp", self.dir + "/.", "%s:%s" % (self.naive_c, self.workdir)])
        ex, _ = timed([DOCKER, "exec", "-w", self.workdir, self.naive_c, "sh", "-c", self.cmd], timeout=3600)
        cm, p = timed([DOCKER, "commit", *self.commit_changes(), self.naive_c, self.naive_tag])
        new = p.stdout.strip()
        self.reg.add_image(new)
        if self.naive_prev and self.naive_prev != new:  # the previous commit, now untagged
            docker("rmi", "--no-prune", self.naive_prev, check=False)
        self.naive_prev = new
        s = {"edit": i, "cp_ms": cp, "exec_ms": ex, "commit_ms": cm, "total_ms": cp + ex + cm}
        self.alt("naive")["samples"].append(s)
        return s

    def floor_setup(self):
        self.floor_c = self.start_container("floor")
        self.floor_tag = "%s-floor-tmp:latest" % self.base
        self.reg.tags.append(self.floor_tag)

    def floor_make(self):
        """The build command in the floor container: (docker exec wall ms, in-container ms, rc)."""
        script = ('start=$(date +%%s%%N); %s; rc=$?; end=$(date +%%s%%N); '
                  'echo FLOOR_NS $((end-start)) >&2; exit $rc' % self.cmd)
        ms, p = timed([DOCKER, "exec", "-w", self.workdir, self.floor_c, "sh", "-c", script], timeout=3600, check=False)
        m = re.search(r"FLOOR_NS (\d+)", p.stderr)
        if not m:
            raise BenchError("no FLOOR_NS in the exec's output (exit %d): %s" % (p.returncode, p.stderr[-800:]))
        return ms, int(m.group(1)) / 1e6, p.returncode

    def floor_put(self, text):
        """Puts the edited file in the floor container (untimed): one `docker cp` of that file."""
        path = os.path.join(self.tmp, os.path.basename(self.target))
        with open(path, "w") as f:
            f.write(text)
        docker("cp", path, "%s:%s" % (self.floor_c, os.path.join(self.workdir, self.spec["file"])))

    def floor_edit(self, i):
        with open(self.target) as f:
            clean = f.read()
        # The breaking edit (for save -> diagnostics): the failing build's own time.
        self.floor_put(with_line(clean, self.anchor, "int bench_floor_%s_%d(void) { return undefined_%d; }" % (self.run_id, i, i)))
        fail_ex, fail_in, fail_rc = self.floor_make()
        if fail_rc == 0:
            raise BenchError("the breaking edit built cleanly in the floor container")
        # The clean edit (for save -> committed image): the build, then a commit of the diff.
        self.floor_put(clean)
        ok_ex, ok_in, ok_rc = self.floor_make()
        if ok_rc != 0:
            raise BenchError("the clean edit failed to build in the floor container (exit %d)" % ok_rc)
        cm, p = timed([DOCKER, "commit", self.floor_c, self.floor_tag])
        docker("rmi", "--no-prune", p.stdout.strip(), check=False)
        s = {"edit": i, "exec_ms": ok_ex, "inside_ms": ok_in, "commit_ms": cm, "total_ms": ok_ex + cm,
             "fail_exec_ms": fail_ex, "fail_inside_ms": fail_in, "fail_rc": fail_rc}
        self.alt("floor")["samples"].append(s)
        return s

    def plain_setup(self):
        """The first plain build: warms the classic layer cache up to the source COPY for the
        measured ones (reported apart: what it reuses of docker-rebuilder's build depends on the
        engine; on 20.10 the apt layer is reused, the source COPY is not)."""
        self.plain_tag = "%s-plain:latest" % self.base
        self.reg.tags.append(self.plain_tag)
        ms = self.plain_build()
        self.res["first_build"]["plain_warmup_ms"] = ms
        log("  plain docker build, first (warms the classic cache): %.1f s" % (ms / 1000))

    def plain_build(self):
        iid = os.path.join(self.tmp, "plain.iid")
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        ms, _ = timed([DOCKER, "build", "-q", "--iidfile", iid, "-t", self.plain_tag, self.dir], env=env, timeout=3600)
        with open(iid) as f:
            self.reg.add_image(f.read().strip())
        return ms

    def plain_edit(self, i):
        s = {"edit": i, "total_ms": self.plain_build()}
        self.alt("plain")["samples"].append(s)
        return s

    def buildkit_setup(self):
        """Writes the BuildKit Dockerfile outside the context (docker-rebuilder never sees it)
        and builds it once (cold: its cache mount is unique to this run)."""
        marker = "bench_%s_%s" % (self.name, self.run_id)
        self.reg.buildkit_marker = marker
        lines = [ins[2] for ins in self.instructions[: self.run_index]]
        art = " && ".join("cp -a /cache/tree/%s %s" % (a, os.path.join(self.workdir, a)) for a in self.spec["artefacts"])
        lines.append("RUN --mount=type=cache,id=%s,target=/cache : %s && mkdir -p /cache/tree"
                     " && cp -a %s/. /cache/tree/ && cd /cache/tree && %s && %s"
                     % (marker, marker, self.workdir.rstrip("/"), self.cmd, art))
        lines += [ins[2] for ins in self.instructions[self.run_index + 1:]]
        bkdir = os.path.join(self.tmp, "buildkit")  # outside the build context
        os.makedirs(bkdir, exist_ok=True)
        self.bk_dockerfile = os.path.join(bkdir, "Dockerfile")
        with open(self.bk_dockerfile, "w") as f:
            f.write("# Generated by bench/compare.py: the savvy BuildKit variant (cache mount for the objects).\n")
            f.write("\n".join(lines) + "\n")
        self.res["buildkit_dockerfile"] = "\n".join(lines)
        self.bk_tag = "%s-buildkit:latest" % self.base
        self.reg.tags.append(self.bk_tag)
        self.bk_prev = None
        ms = self.buildkit_build()
        self.res["first_build"]["buildkit_cold_ms"] = ms
        self.alt("buildkit")["cold_ms"] = ms
        log("  BuildKit first build (cold): %.1f s" % (ms / 1000))

    def buildkit_build(self):
        iid = os.path.join(os.path.dirname(self.bk_dockerfile), "iid")
        env = dict(os.environ, DOCKER_BUILDKIT="1")
        start = time.time()
        try:
            ms, _ = timed([DOCKER, "build", "-q", "--iidfile", iid, "-f", self.bk_dockerfile, "-t", self.bk_tag, self.dir],
                          env=env, timeout=3600)
        finally:
            self.reg.buildkit_windows.append((start, time.time()))
        with open(iid) as f:
            new = f.read().strip()
        self.reg.add_image(new)
        if self.bk_prev and self.bk_prev != new:
            docker("rmi", "--no-prune", self.bk_prev, check=False)
        self.bk_prev = new
        return ms

    def buildkit_edit(self, i):
        s = {"edit": i, "total_ms": self.buildkit_build()}
        self.alt("buildkit")["samples"].append(s)
        return s

    # -- the interleaved single-file comparison

    def compare(self):
        a = self.args
        log("[%s] setup: containers, plain warm-up, BuildKit cold build" % self.name)
        if self.enabled("naive"):
            self.attempt("naive", self.naive_setup)
        if self.enabled("floor"):
            self.attempt("floor", self.floor_setup)
        if self.enabled("plain"):
            self.attempt("plain", self.plain_setup)
        if self.enabled("buildkit"):
            self.attempt("buildkit", self.buildkit_setup)
        # Edit 0 is a warm-up, not measured: the first `make` after an image build does one-time
        # work in a fresh container or cache (Redis: ~1.5 s more), which would skew small medians.
        # Plain `docker build` needs none (every one of its builds starts from the source COPY).
        for i in range(max(a.edits, a.slow_edits) + 1):
            line = "int bench_%s_%d(void) { return %d; }" % (self.run_id, i, i)
            insert_line(self.target, self.anchor, line)
            done = []
            for name, fn, n in (("cli", self.cli_edit, a.edits), ("naive", self.naive_edit, a.edits),
                                ("floor", self.floor_edit, a.edits), ("plain", self.plain_edit, a.slow_edits),
                                ("buildkit", self.buildkit_edit, a.slow_edits)):
                if (i <= n and (i > 0 or name != "plain")) and self.enabled(name):
                    s = self.attempt(name, fn, i)
                    if s:
                        done.append("%s %s" % (name, fmt_ms(s["total_ms"])))
                        if i == 0:  # kept apart from the measured samples
                            self.alt(name)["warmup"] = self.alt(name)["samples"].pop()
            log("[%s] %s: %s" % (self.name, "warm-up edit" if i == 0 else "edit %d" % i, ", ".join(done)))

    # -- the LSP

    def lsp(self):
        a = self.args
        # The builder up to date first (the plain/BuildKit-only edits were never built by it).
        self.cli_build()
        res = self.alt("lsp")
        with bench_lsp(a.binary, os.path.join(self.tmp, "lsp-stderr.log")) as lsp:
            self._lsp_session(lsp, res, a.edits)

    def _lsp_session(self, lsp, res, edits):
        lsp.request_timeout("initialize", {
            "processId": os.getpid(), "rootUri": None,
            "capabilities": {"window": {"workDoneProgress": True}},
            "workspaceFolders": [{"uri": uri(self.dir), "name": self.name}]}, 120)
        lsp.notify("initialized", {})
        target_uri = uri(self.target)

        def is_status(*states):
            return lambda m: m.get("method") == "docker-rebuilder/status" and m["params"].get("state") in states

        def is_timings(m):
            return m.get("method") == "window/logMessage" and m["params"]["message"].startswith("timings:")

        # The first cycle (up to date): its timings, then its status.
        lsp.wait(is_timings, 600)
        lsp.wait(is_status("succeeded", "failed"), 120)
        time.sleep(2.0)
        res["rss_kb_first"] = rss_kb(lsp.p.pid)
        for i in range(edits):
            # Break the build: save -> first non-empty diagnostics for that file.
            line = "int bench_lsp_%s_%d(void) { return undefined_%d; }" % (self.run_id, i, i)
            # A person's saves come a while after the last cycle ended: by then the server has
            # started the next step ahead (tens of ms after a cycle). Edit and save at once.
            time.sleep(LSP_IDLE_S)
            insert_line(self.target, self.anchor, line)
            t0 = time.monotonic()
            lsp.notify("textDocument/didSave", {"textDocument": {"uri": target_uri}})
            t1, _ = lsp.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                             and m["params"]["uri"] == target_uri and m["params"]["diagnostics"], 600)
            _, tm = lsp.wait(is_timings, 600)
            _, st = lsp.wait(is_status("failed", "succeeded"), 120)
            if st["params"]["state"] != "failed":
                raise BenchError("the breaking edit did not fail: %s" % st["params"])
            fail_timings = parse_timings(tm["params"]["message"])
            # The fix: save -> the timings log written right after the commit.
            time.sleep(LSP_IDLE_S)
            replace_once(self.target, line, line.replace("return undefined_%d;" % i, "return %d;" % i))
            t2 = time.monotonic()
            lsp.notify("textDocument/didSave", {"textDocument": {"uri": target_uri}})
            t3, tm = lsp.wait(is_timings, 600)
            _, st = lsp.wait(is_status("failed", "succeeded"), 120)
            if st["params"]["state"] != "succeeded":
                raise BenchError("the fix did not build: %s" % st["params"])
            ok_timings = parse_timings(tm["params"]["message"])
            if "commit" not in ok_timings:
                raise BenchError("no commit in the fix's timings: %s" % tm["params"]["message"])
            s = {"edit": i, "diag_ms": (t1 - t0) * 1000, "fail_timings": fail_timings,
                 "total_ms": (t3 - t2) * 1000, "ok_timings": ok_timings}
            res["samples"].append(s)
            log("[%s] lsp edit %d: save->diagnostics %s, save->committed %s"
                % (self.name, i + 1, fmt_ms(s["diag_ms"]), fmt_ms(s["total_ms"])))
        time.sleep(2.0)
        res["rss_kb_end"] = rss_kb(lsp.p.pid)

    # -- the long run

    def long_run(self, n):
        res = {"samples": [], "error": None}
        self.res["long"] = res
        try:
            for i in range(n):
                f, anchor = self.spec["long"][i % len(self.spec["long"])]
                insert_line(os.path.join(self.dir, f), anchor,
                            "int bench_long_%s_%d(void) { return %d; }" % (self.run_id, i + 1, i + 1))
                t = time.monotonic()
                v = self.cli_build()
                wall = (time.monotonic() - t) * 1000
                if v.get("outcome") != "succeeded":
                    raise BenchError("edit %d: outcome %r: %s" % (i + 1, v.get("outcome"), (v.get("output") or "")[-1000:]))
                stages = v.get("stages_ms") or v.get("phases_ms") or {}
                layer = docker("history", "-H=false", "--format", "{{.Size}}", self.image).stdout.split()
                s = {"edit": i + 1, "file": f, "total_ms": wall, "reported_total_ms": v.get("total_ms"),
                     "stages": stages, "commit_ms": stages.get("commit"),
                     "layer_bytes": int(layer[0]) if layer and layer[0].isdigit() else None}
                # The builder's diff. Containers inherit the image's labels (the naive and
                # floor ones carry the project label too): the role label tells the builder.
                t = time.monotonic()
                ids = docker("ps", "-aq", "--filter", "label=%s=%s" % (LABEL_PROJECT, self.dir),
                             "--filter", "label=%s=builder" % LABEL_ROLE).stdout.split()
                if ids:
                    p = docker("inspect", "--size", "--format", "{{.SizeRw}}", ids[0], check=False)
                    if p.returncode == 0 and p.stdout.strip().lstrip("-").isdigit():
                        s["builder_diff_bytes"] = int(p.stdout.strip())
                        s["builder_diff_probe_ms"] = (time.monotonic() - t) * 1000
                res["samples"].append(s)
                if (i + 1) % 10 == 0 or i + 1 == n or i < 3:
                    log("[%s] long edit %d/%d: total %s, commit %s, layer %s" % (
                        self.name, i + 1, n, fmt_ms(wall), fmt_ms(s["commit_ms"]), fmt_bytes(s["layer_bytes"])))
        except Exception as e:  # noqa: BLE001
            res["error"] = str(e) if isinstance(e, BenchError) else "%s: %s" % (type(e).__name__, e)
            log("  long run FAILED: %s" % res["error"].splitlines()[0])


class BenchLsp(Lsp):
    """rebuild.py's client, with the server's stderr to a log file, bounded requests, and
    optionally its own folder and environment (compose's interpolation needs the run's)."""

    def __init__(self, binary, errlog, cwd=None, env=None):  # noqa: super().__init__ would inherit stderr
        self.p = subprocess.Popen([binary, "lsp"], cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=errlog)
        self.q = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def drain(self, into):
        """Every message queued so far into `into` as (arrival, message); server requests answered."""
        while True:
            try:
                t, m = self.q.get_nowait()
            except queue.Empty:
                return
            if "method" in m and "id" in m:  # a server request (progress create): accept
                self.send({"jsonrpc": "2.0", "id": m["id"], "result": None})
                continue
            into.append((t, m))

    def close(self):
        """shutdown and exit, as an editor closes; killed if it does not go."""
        try:
            self.request_timeout("shutdown", None, 30)
            self.notify("exit", None)
            self.p.wait(timeout=30)
        except Exception:  # noqa: BLE001 - the server is killed below anyway
            pass
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


    def request_timeout(self, method, params, timeout):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == i and "method" not in m, timeout)[1]

    def wait(self, pred, timeout):
        try:
            return super().wait(pred, timeout)
        except queue.Empty:
            raise BenchError("LSP: nothing expected within %ds (server %s)" % (
                timeout, "exited %s" % self.p.returncode if self.p.poll() is not None else "running"))


@contextlib.contextmanager
def bench_lsp(binary, log_path, cwd=None, env=None):
    """A BenchLsp with its stderr in `log_path`: a BenchError inside carries the server's last
    words; the server is closed on the way out."""
    with open(log_path, "w") as errlog:
        lsp = BenchLsp(binary, errlog, cwd=cwd, env=env)
        try:
            yield lsp
        except BenchError as e:
            with open(log_path) as f:
                tail = f.read()[-800:]
            raise BenchError("%s%s" % (e, "\nserver stderr: " + tail if tail else "")) from None
        finally:
            lsp.close()


def parse_timings(message):
    """`timings: detect=1ms sync=74ms ... total=1200ms` -> {name: ms}, whatever the names."""
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)ms", message)}


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


# ---------------------------------------------------------------------------------------------
# Report.


def fmt_ms(ms):
    if ms is None:
        return "–"
    return "%.1f s" % (ms / 1000) if ms >= 10000 else "%.0f ms" % ms


def fmt_x(r):
    return "–" if r is None else "%.1f×" % r


def fmt_bytes(b):
    if b is None:
        return "–"
    if b >= 1 << 20:
        return "%.1f MB" % (b / (1 << 20))
    if b >= 1 << 10:
        return "%.1f kB" % (b / 1024)
    return "%d B" % b


def samples(proj, alt):
    return (proj["alternatives"].get(alt) or {}).get("samples") or []


def med(proj, alt, key="total_ms"):
    return median([s.get(key) for s in samples(proj, alt)])


def stage_keys(stage_dicts):
    """The stage names seen, in docker-rebuilder's order, unknown ones after."""
    seen = []
    for d in stage_dicts:
        for k in d:
            if k not in seen:
                seen.append(k)
    order = [k for k in STAGES + PHASES if k in seen]
    return list(dict.fromkeys(order + [k for k in seen if k not in order]))


def build_stage(keys):
    """The stage that is the build command's own run (`build`; `exec` in older builds)."""
    return "build" if "build" in keys else ("exec" if "exec" in keys else None)


def report_project(name, p, settings):
    out = []
    w = out.append
    w("## %s\n" % name)
    if p.get("error"):
        w("**Failed** (what was measured before is below): %s\n" % p["error"].replace("\n", " ")[:2000])
    w("Project `%s`, image `%s`; edit: one line added to `%s` (before `%s`); build command `%s` in `%s`.\n"
      % (p["dir"], p["image"], p["file"], p["anchor"], p.get("build_command", "?"), p.get("workdir", "?")))
    fb = p.get("first_build") or {}
    if fb:
        parts = []
        for key, text in (("cli_ms", "docker-rebuilder %s (image + builder)"),
                          ("buildkit_cold_ms", "BuildKit %s (its cache mount is new, unique per run; the layers before "
                           "the source COPY may come from BuildKit's cache of an earlier run)"),
                          ("plain_warmup_ms", "plain `docker build` %s (right after docker-rebuilder's; it reuses the "
                           "classic cache below the source COPY, not docker-rebuilder's COPY layers: its context "
                           "archive hashes differently)")):
            if fb.get(key) is not None:
                parts.append(text % ("%.1f s" % (fb[key] / 1000)))
        w("First builds: %s.\n" % "; ".join(parts))
    if p.get("buildkit_dockerfile"):
        run_line = [l for l in p["buildkit_dockerfile"].splitlines() if l.startswith("RUN --mount")]
        if run_line:
            w("The BuildKit variant's Dockerfile is the project's with its last RUN replaced by:\n\n    %s\n" % run_line[0])

    warm = [(n, (p["alternatives"].get(n) or {}).get("warmup")) for n in ("cli", "naive", "floor", "buildkit")]
    warm = ["%s %s" % (n, fmt_ms(w_["total_ms"])) for n, w_ in warm if w_]
    if warm:
        w("Warm-up edit (not counted: the first `make` after an image build does one-time work): %s.\n" % ", ".join(warm))

    floor = med(p, "floor")
    ours = med(p, "cli")
    rows = [
        ("floor", "floor: build command (`docker exec`) + `docker commit` of the same diff", False),
        ("cli", "**ours**: `docker-rebuilder build` (CLI, whole process)", False),
        ("lsp", "**ours**: LSP save → committed image", False),
        ("naive", "naive: `docker cp` of the folder + `docker exec` + `docker commit`", True),
        ("buildkit", "BuildKit, cache mount for the objects (`docker build`)", True),
        ("plain", "plain `docker build` (classic, cache warm to the source COPY)", True),
    ]
    w("| alternative | n | median | × floor | × slower than ours (CLI) |")
    w("|---|---|---|---|---|")
    for alt, label, vs_ours in rows:
        a = p["alternatives"].get(alt)
        if a is None:
            w("| %s | – | %s | | |" % (label, "skipped" if alt in settings["settings"]["skip"] else "not run"))
            continue
        m = med(p, alt)
        err = a.get("error")
        cell = fmt_ms(m) + (" (then failed)" if err and m is not None else "")
        if m is None:
            cell = "failed: %s" % (err or "no data").splitlines()[0][:160].replace("|", "\\|")
        w("| %s | %d | %s | %s | %s |" % (label, len(a["samples"]), cell, fmt_x(ratio(m, floor)),
                                        fmt_x(ratio(m, ours)) if vs_ours else ""))
    w("")

    fs = samples(p, "floor")
    if fs:
        w("Floor split (medians of %d): `docker exec` wall %s, of which the build command's own run "
          "(in the container) %s, exec overhead %s; `docker commit` %s; build in the container + commit %s. "
          "The floor goes through the docker CLI (a client process per step, tens of ms each); "
          "docker-rebuilder talks to the Engine API itself, so it can come in under it.\n"
          % (len(fs), fmt_ms(med(p, "floor", "exec_ms")), fmt_ms(med(p, "floor", "inside_ms")),
             fmt_ms(median([s["exec_ms"] - s["inside_ms"] for s in fs])), fmt_ms(med(p, "floor", "commit_ms")),
             fmt_ms(median([s["inside_ms"] + s["commit_ms"] for s in fs]))))
    ns = samples(p, "naive")
    if ns:
        w("Naive split (medians of %d): `docker cp` %s, `docker exec` %s, `docker commit` %s.\n"
          % (len(ns), fmt_ms(med(p, "naive", "cp_ms")), fmt_ms(med(p, "naive", "exec_ms")),
             fmt_ms(med(p, "naive", "commit_ms"))))

    cs = samples(p, "cli")
    if cs:
        keys = stage_keys([s["stages"] for s in cs])
        src = cs[0].get("stage_source", "?")
        w("Our stages (CLI, medians of %d, from `%s`; the process's wall time %s, its own total %s):\n"
          % (len(cs), src, fmt_ms(ours), fmt_ms(med(p, "cli", "reported_total_ms"))))
        w("| stage | median |\n|---|---|")
        for k in keys:
            w("| %s | %s |" % (k, fmt_ms(median([s["stages"].get(k) for s in cs]))))
        b = build_stage(keys)
        if b:
            rest = median([sum(v for k, v in s["stages"].items() if k != b) for s in cs])
            w("| everything but `%s` (ours) | %s |" % (b, fmt_ms(rest)))
        w("")

    ls = samples(p, "lsp")
    la = p["alternatives"].get("lsp") or {}
    if ls or la:
        fail_in, fail_ex = med(p, "floor", "fail_inside_ms"), med(p, "floor", "fail_exec_ms")
        diag = med(p, "lsp", "diag_ms")
        keys = stage_keys([s["fail_timings"] for s in ls])
        b = build_stage(keys)
        srv_fail = median([s["fail_timings"].get(b) for s in ls]) if b else None
        w("LSP (%d edits%s):\n" % (len(ls), "; failed: %s" % la["error"].splitlines()[0] if la.get("error") else ""))
        w("| measure | median |\n|---|---|")
        w("| save → diagnostics (breaking edit) | %s |" % fmt_ms(diag))
        w("| the failing build's own run, in the container (floor) | %s |" % fmt_ms(fail_in))
        w("| the failing build through `docker exec` (floor) | %s |" % fmt_ms(fail_ex))
        w("| difference: save → diagnostics − in-container run | %s |" % fmt_ms(None if diag is None or fail_in is None else diag - fail_in))
        w("| difference: save → diagnostics − `docker exec` run | %s |" % fmt_ms(None if diag is None or fail_ex is None else diag - fail_ex))
        if srv_fail is not None:
            w("| the server's own `%s` stage in that cycle (its timings log) | %s |" % (b, fmt_ms(srv_fail)))
        commit = med(p, "lsp")
        w("| save → committed image (fix edit) | %s |" % fmt_ms(commit))
        w("| … vs the floor (make + commit) | %s |" % fmt_x(ratio(commit, floor)))
        okk = stage_keys([s["ok_timings"] for s in ls])
        if okk:
            w("| … its timings log (medians) | %s |" % ", ".join(
                "%s %s" % (k, fmt_ms(median([s["ok_timings"].get(k) for s in ls]))) for k in okk))
        w("| idle server RSS after the first cycle | %s |" % fmt_bytes((la.get("rss_kb_first") or 0) * 1024 or None))
        w("| idle server RSS after all edits | %s |" % fmt_bytes((la.get("rss_kb_end") or 0) * 1024 or None))
        w("")

    lr = p.get("long")
    if lr:
        ss = lr["samples"]
        w("### %d consecutive edits through the CLI (5 files in rotation)\n" % len(ss)
          + ("\nFailed: %s\n" % lr["error"].splitlines()[0] if lr.get("error") else ""))
        if ss:
            w("| edit | file | total | commit | committed layer | builder diff |")
            w("|---|---|---|---|---|---|")
            picks = sorted({e for e in LONG_ROWS if e <= len(ss)} | {len(ss)})
            for e in picks:
                s = ss[e - 1]
                w("| %d | %s | %s | %s | %s | %s |" % (e, s["file"], fmt_ms(s["total_ms"]), fmt_ms(s.get("commit_ms")),
                                                      fmt_bytes(s.get("layer_bytes")), fmt_bytes(s.get("builder_diff_bytes"))))
            w("")
            c1, cn = ss[0].get("commit_ms"), ss[-1].get("commit_ms")
            k = min(5, len(ss))
            h, t = median([s.get("commit_ms") for s in ss[:k]]), median([s.get("commit_ms") for s in ss[-k:]])
            w("commit@%d / commit@1: %s (%s / %s); median of edits %d–%d / of 1–%d: %s (%s / %s).\n"
              % (len(ss), fmt_x(ratio(cn, c1)), fmt_ms(cn), fmt_ms(c1), len(ss) - k + 1, len(ss), k,
                 fmt_x(ratio(t, h)), fmt_ms(t), fmt_ms(h)))
            keys = stage_keys([s["stages"] for s in ss])
            w("Stage medians over the %d edits: %s.\n" % (len(ss), ", ".join(
                "%s %s" % (k, fmt_ms(median([s["stages"].get(k) for s in ss]))) for k in keys)))
        plot = settings.get("plots", {}).get(name)
        if plot:
            w("Plot: `%s`\n" % plot)
    return out


def render(results):
    m = results["machine"]
    out = ["# docker-rebuilder vs the alternatives (%s)\n" % m["date"]]
    w = out.append
    w("Command: `%s`\n" % results["command"])
    w("Machine: %s cores, Docker engine %s (%s), client for builds `%s` %s, kernel %s; load average %s at the "
      "start, %s at the end; docker-rebuilder %s (git %s).\n"
      % (m["nproc"], m["engine"], m.get("driver", "?"), DOCKER, m.get("client", "?"), m.get("kernel", "?"),
         m.get("load_start", "?"), m.get("load_end", "?"), m.get("binary", "?"), m.get("git", "?")))
    s = results["settings"]
    w("Edits: %d (cli, naive, floor, lsp), %d (plain, buildkit), after one unmeasured warm-up edit; long run %d; "
      "skipped: %s. Medians; every edit is unique per run (no layer cache can hit past the source COPY); "
      "the alternatives take turns on each edit (cli, naive, floor, plain, buildkit), the LSP runs after them, "
      "each of its edits saved %.1f s after the previous cycle ended (as a person saves).\n"
      % (s["edits"], s["slow_edits"], s["long_edits"], ", ".join(s["skip"]) or "none", LSP_IDLE_S))
    if m.get("binary_changed"):
        w("**Warning: the docker-rebuilder binary changed during the run** (rebuilt by someone else?).\n")
    for name, p in results["projects"].items():
        out += report_project(name, p, results)
    if results.get("cleanup_notes"):
        w("Cleanup: %s\n" % "; ".join(results["cleanup_notes"]))
    for name, err in (results.get("plot_errors") or {}).items():
        w("Plot for %s failed: %s\n" % (name, err))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Plot (matplotlib in a venv of its own; its failure never loses the report).


def venv_python():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    venv = os.path.join(cache, "docker-rebuilder-bench", "venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        run([sys.executable, "-m", "venv", venv], timeout=300)
    if run([py, "-c", "import matplotlib"], check=False).returncode != 0:
        log("installing matplotlib into %s" % venv)
        run([py, "-m", "pip", "install", "-q", "-r", os.path.join(HERE, "requirements.txt")], timeout=900)
    return py


def plot(json_path, results, out_dir):
    plots, errors = {}, {}
    todo = [n for n, p in results["projects"].items() if p.get("long") and p["long"]["samples"]]
    if not todo:
        return plots, errors
    try:
        py = venv_python()
    except BenchError as e:
        return plots, {n: "no matplotlib: %s" % e for n in todo}
    for name in todo:
        png = os.path.join(out_dir, "phases-%s.png" % name)
        try:
            run([py, os.path.join(HERE, "plot_phases.py"), json_path, name, png], timeout=300)
            plots[name] = os.path.relpath(png, ROOT) if png.startswith(ROOT) else png
        except BenchError as e:
            errors[name] = str(e)
    return plots, errors


# ---------------------------------------------------------------------------------------------


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def machine_info(binary):
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
        "driver": q([DOCKER, "info", "--format", "{{.Driver}}"]),
        "kernel": os.uname().release,
        "load_start": "%.2f" % os.getloadavg()[0],
        "git": q(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
        "binary": binary,
        "binary_mtime": os.path.getmtime(binary) if os.path.exists(binary) else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", default="redis,lua")
    ap.add_argument("--edits", type=int, default=5, help="edits for cli, naive, floor, lsp (default 5)")
    ap.add_argument("--slow-edits", type=int, default=3, help="edits for plain and buildkit (default 3)")
    ap.add_argument("--long-edits", type=int, default=50, help="consecutive CLI edits on the first project (default 50)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/docker-rebuilder"))
    ap.add_argument("--out", default=None, help="the report (default bench/results/compare-<date>.md)")
    ap.add_argument("--skip", default="", help="comma list among " + ",".join(ALTERNATIVES))
    ap.add_argument("--quick", action="store_true", help="smoke run: edits 2, slow-edits 1, long-edits 3")
    ap.add_argument("--workdir", default=None, help="where project folders go (default: a new folder in /tmp)")
    ap.add_argument("--from-json", default=None, help="only re-render the report of an earlier run's JSON")
    args = ap.parse_args()
    if args.quick:
        args.edits, args.slow_edits, args.long_edits = 2, 1, 3
    args.skip = [s for s in args.skip.split(",") if s]
    unknown = [s for s in args.skip if s not in ALTERNATIVES]
    projects = [p for p in args.projects.split(",") if p]
    if unknown or any(p not in PROJECTS for p in projects):
        ap.error("unknown alternative or project: %s" % ", ".join(unknown + [p for p in projects if p not in PROJECTS]))
    if args.from_json:
        with open(args.from_json) as f:
            print(render(json.load(f)))
        return 0
    out = args.out or os.path.join(HERE, "results", "compare-%s.md" % time.strftime("%Y-%m-%d"))
    out = os.path.abspath(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json_path = os.path.splitext(out)[0] + ".json"
    args.binary = os.path.abspath(args.binary)
    if not os.path.exists(args.binary):
        log("building %s (cargo build --release)" % args.binary)
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)

    results = {
        "command": "python3 " + shlex.join([os.path.relpath(sys.argv[0], ROOT) if sys.argv[0].startswith(ROOT) else sys.argv[0]] + sys.argv[1:]),
        "machine": machine_info(args.binary),
        "settings": {"projects": projects, "edits": args.edits, "slow_edits": args.slow_edits,
                     "long_edits": args.long_edits, "skip": args.skip, "docker": DOCKER},
        "projects": {},
    }
    run_id = "%d_%x" % (os.getpid(), int(time.time() * 1000))
    workroot = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="compare-")
    os.makedirs(workroot, exist_ok=True)
    reg = Registry()
    notes = []
    try:
        for n, name in enumerate(projects):
            pb = ProjectBench(name, args, reg, run_id, workroot)
            results["projects"][name] = pb.res
            log("[%s] fetching into %s" % (name, pb.dir))
            try:
                pb.setup()
                pb.first_build()
                pb.compare()
                if "lsp" not in args.skip:
                    pb.attempt("lsp", pb.lsp)
                if n == 0 and "long" not in args.skip and args.long_edits > 0:
                    pb.long_run(args.long_edits)
            except Exception as e:  # noqa: BLE001 - the other projects still run
                pb.res["error"] = str(e) if isinstance(e, BenchError) else "%s: %s" % (type(e).__name__, e)
                log("[%s] FAILED: %s" % (name, pb.res["error"]))
                if not isinstance(e, BenchError):
                    traceback.print_exc()
            finally:
                # Per project, so disk and containers do not pile up (notes kept for the report).
                notes += reg.cleanup()
                reg.containers, reg.tags, reg.image_ids, reg.labels, reg.buildkit_windows, reg.dirs = [], [], [], [], [], []
                reg.marker_files = []
    finally:
        notes += reg.cleanup()
        results["cleanup_notes"] = notes
        if not args.workdir:
            shutil.rmtree(workroot, ignore_errors=True)
    m = results["machine"]
    m["load_end"] = "%.2f" % os.getloadavg()[0]
    m["binary_changed"] = os.path.exists(args.binary) and os.path.getmtime(args.binary) != m["binary_mtime"]
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    plots, errors = plot(json_path, results, os.path.dirname(out))
    results["plots"], results["plot_errors"] = plots, errors
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


def failures(results):
    """Every project, alternative, long run or plot that failed: a run with any is not clean
    (CI's smoke run relies on this exit status; the numbers themselves are never asserted)."""
    out = []
    for name, p in results["projects"].items():
        if p.get("error"):
            out.append("%s: %s" % (name, p["error"].splitlines()[0] if p["error"] else "?"))
        for alt, a in (p.get("alternatives") or {}).items():
            if a and a.get("error"):
                out.append("%s/%s: %s" % (name, alt, a["error"].splitlines()[0]))
        if (p.get("long") or {}).get("error"):
            out.append("%s/long: %s" % (name, p["long"]["error"].splitlines()[0]))
    for name, err in (results.get("plot_errors") or {}).items():
        out.append("%s/plot: %s" % (name, err.splitlines()[0] if err else "?"))
    return out


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Go multi-stage (distroless final stage): a one-line edit -> the final image, against the
alternatives, in one run on one machine (issue 13's benchmark).

The project is bench/go-service (a stdlib-only Go HTTP JSON API) with its multi-stage
Dockerfile: a `dr-golang:1.19` stage runs `go build`, a `dr-distroless:static` stage (no shell)
gets the binary by `COPY --from=build`. Each run copies it to a new folder (unique image names)
and edits one line per edit: the version constant in internal/version/version.go, unique per
edit and per run, so no layer cache ever hits past the source COPY. Measured, for each edit:

  cli       `docker-rebuilder build --json DIR` (whole process; its per-stage split, `replay`
            and `commit` included);
  naive     the script a user would write: a running build-stage container; per edit
            `docker cp` of the project folder in, `docker exec` of the `go build`, `docker cp`
            of the binary out, `docker create` from the final stage's base, `docker cp` of the
            binary in, `docker commit --change ...` (the final stage's USER, EXPOSE,
            ENTRYPOINT...), `docker rm` (each part timed);
  floor     the `go build` alone in a running build-stage container (`docker exec` wall time
            and the command's own in-container time; the changed file put in place first by an
            untimed `docker cp` of that one file), plus making the final image from the new
            binary the cheapest way the CLI allows (`docker cp` out, `docker create`,
            `docker cp` in, `docker commit`; each timed); also the failing build's time for an
            edit that breaks the build (the floor of save -> diagnostics);
  plain     `docker build` (classic builder, layer cache warm up to the source COPY);
  buildkit  `DOCKER_BUILDKIT=1 docker build` (Debian's 20.10 client, daemon-embedded BuildKit)
            with a Dockerfile variant (written outside the context, passed with -f) whose
            `go build` RUN mounts caches at /root/.cache/go-build (GOCACHE) and /go/pkg/mod;
  lsp       through `docker-rebuilder lsp` over stdio: save -> first diagnostic for a compile
            error (`undefined: nope`), save -> committed image for the fix.

Every alternative's image is the final (distroless) one, tagged; after each edit
`docker run --rm IMAGE --version` must print the new version (untimed). Each alternative's
final image size is reported. Alternatives take turns on each edit (cli, naive, floor, plain,
buildkit) after one unmeasured warm-up edit; the LSP runs as its own block afterwards.
Medians. Everything the run creates (project folder, containers, tags, images, BuildKit cache
records, docker-rebuilder's builders and kept hashes) is removed at the end, even on failure;
the classic layer cache below the source COPY (go.mod, `go mod download`) stays.

Usage:
    python3 bench/multistage.py                  # 5 edits
    python3 bench/multistage.py --quick          # smoke run (2 edits)
    python3 bench/multistage.py --skip plain,buildkit --edits 10
    python3 bench/multistage.py --from-json bench/results/multistage-DATE.json

Flags: --edits, --binary, --out, --skip (comma list of cli,naive,floor,plain,buildkit,lsp),
--quick, --workdir, --from-json.

Output: a Markdown report (printed, and written to --out, default
bench/results/multistage-<date>.md) and the raw numbers beside it (.json). Needs a running
engine, the local images dr-golang:1.19 and dr-distroless:static, and /usr/bin/docker (the
Debian 20.10 client: the /usr/local/bin 28.x one has no buildx and fails with BuildKit).
Python 3.11, stdlib only; shares bench/compare.py's helpers (cleanup, LSP client, formatting).
"""

import argparse
import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ from the imports below
import compare  # noqa: E402  (bench/compare.py: a script, its helpers reused)
from compare import (  # noqa: E402
    DOCKER, LABEL_PROJECT, LABEL_ROLE, BenchError, Registry, bench_lsp, docker, fmt_bytes, fmt_ms, fmt_x, log,
    median, parse_timings, ratio, rss_kb, run, stage_keys, timed, uri)

PROJECT_SRC = os.path.join(HERE, "go-service")
VERSION_FILE = "internal/version/version.go"
VERSION_RE = re.compile(r'^const Version = "[^"]*"$', re.M)
VERSION_BASE = "1.4.2"
# What `server --version` prints: the name, a space, the version.
VERSION_LINE = "inventory %s"
REQUIRED_IMAGES = ("dr-golang:1.19", "dr-distroless:static")
ALTERNATIVES = ("cli", "naive", "floor", "plain", "buildkit", "lsp")
ORDER = ("cli", "naive", "floor", "plain", "buildkit")  # the turns on each edit
# Idle time before each LSP save (the previous cycle's status already received), as a person's.
LSP_IDLE_S = compare.LSP_IDLE_S
# The goals of issue 13.
GOAL_FLOOR_PLUS_MS = 300
GOAL_X_PLAIN = 5.0
GOAL_X_BUILDKIT = 3.0
# Final-stage instructions that `docker commit --change` can restore.
CHANGE_KEYWORDS = ("USER", "EXPOSE", "ENTRYPOINT", "CMD", "ENV", "WORKDIR", "LABEL", "STOPSIGNAL", "VOLUME")


# ---------------------------------------------------------------------------------------------
# The Dockerfile: stages, the build command, the final stage's copies and config.


def split_stages(instructions):
    """[(FROM arguments, name or None, [instructions after the FROM])] in order."""
    stages = []
    for ins in instructions:
        if ins[0] == "FROM":
            words = ins[1].split()
            words = [w for w in words if not w.startswith("--")]  # --platform
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append((words[0], name, []))
        elif stages:
            stages[-1][2].append(ins)
    return stages


def final_stage_plan(stage):
    """(the stage's COPY --from=... as (stage, src, dest), its `docker commit --change` list)."""
    copies, changes = [], []
    for kw, rest, text in stage[2]:
        if kw == "COPY" and "--from=" in rest:
            words = shlex.split(rest)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            if len(paths) != 2 or any(not f.startswith("--from=") for f in flags):
                raise BenchError("the final stage's %r is beyond this script (one source, no --chown/--chmod)" % text)
            copies.append((flags[0].split("=", 1)[1], paths[0], paths[1]))
        elif kw in CHANGE_KEYWORDS:
            changes += ["--change", text]
        elif kw in ("COPY", "ADD", "RUN"):
            raise BenchError("the final stage's %r is beyond this script (only COPY --from and config)" % text)
    if not copies:
        raise BenchError("the final stage copies nothing from the build stage")
    return copies, changes


def version_text(text, version):
    if not VERSION_RE.search(text):
        raise BenchError("no `const Version = \"...\"` line in %s" % VERSION_FILE)
    return VERSION_RE.sub('const Version = "%s"' % version, text, count=1)


def set_version(path, version):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(version_text(text, version))


def broken_text(text, version):
    """The version file with a compile error (`undefined: nope`) on the version's line."""
    if not VERSION_RE.search(text):
        raise BenchError("no `const Version = \"...\"` line in %s" % VERSION_FILE)
    return VERSION_RE.sub('const Version = "%s" + nope' % version, text, count=1)


class BenchRegistry(Registry):
    """compare.py's registry; BuildKit's records of the steps below the source COPY (the base
    image's layers, `WORKDIR`, `COPY go.mod`, `go mod download`) are kept as the cache a later
    run reuses, as compare.py keeps the apt layer, together with their parents."""

    def cleanup_buildkit(self):
        if not self.buildkit_windows:
            return []
        try:
            records = compare.engine_api("/system/df").get("BuildCache") or []
        except (OSError, ValueError) as e:
            return ["BuildKit cache records not listed: %s" % e]
        by_id = {r["ID"]: r for r in records}
        ours, keep = [], set()
        for r in records:
            t = compare.parse_ts(r.get("CreatedAt"))
            if t is None or not any(a - 1 <= t <= b + 1 for a, b in self.buildkit_windows):
                continue
            desc = r.get("Description") or ""
            if desc.startswith("mount / from exec") and self.buildkit_marker not in desc:
                cur = r
                while cur and cur["ID"] not in keep:  # a kept record keeps its parents
                    keep.add(cur["ID"])
                    cur = by_id.get(cur.get("Parent") or "")
                continue
            ours.append(r["ID"])
        ours = [i for i in ours if i not in keep]
        for _ in range(6):  # records with dependants go once those are gone
            left = [i for i in ours
                    if i not in docker("builder", "prune", "-f", "--filter", "id=" + i, check=False).stdout]
            if len(left) == len(ours):
                break
            ours = left
        return ["BuildKit cache records left: %d" % len(ours)] if ours else []


# ---------------------------------------------------------------------------------------------
# The benchmark.


class MultiStageBench:
    def __init__(self, args, reg, run_id, workroot):
        self.args, self.reg, self.run_id = args, reg, run_id
        self.pid = os.getpid()
        self.dir = os.path.join(workroot, "go-service-bench-%d" % self.pid)
        self.base = os.path.basename(self.dir)
        self.image = self.base + ":latest"  # docker-rebuilder's default: the folder's name
        self.target = os.path.join(self.dir, VERSION_FILE)
        self.res = {"dir": self.dir, "image": self.image, "file": VERSION_FILE, "first_build": {},
                    "alternatives": {}, "sizes": {}, "configs": {}, "checks": {}}
        self.errors = {}
        self.version = None

    # -- bookkeeping (as compare.ProjectBench)

    def alt(self, name):
        return self.res["alternatives"].setdefault(name, {"samples": [], "error": None})

    def enabled(self, name):
        return name not in self.args.skip and name not in self.errors

    def attempt(self, name, fn, *a):
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

    def version_for(self, i, tag="e"):
        return "%s-bench.%s.%s%d" % (VERSION_BASE, self.run_id, tag, i)

    def check_version(self, name, image, version):
        """`docker run --rm IMAGE --version` prints the new version (untimed)."""
        p = docker("run", "--rm", image, "--version", check=False, timeout=120)
        want = VERSION_LINE % version
        got = p.stdout.strip()
        c = self.res["checks"].setdefault(name, {"ok": 0, "failed": []})
        if p.returncode != 0 or got != want:
            c["failed"].append({"want": want, "got": got, "rc": p.returncode, "stderr": p.stderr.strip()[-300:]})
            raise BenchError("%s: `docker run --rm %s --version` printed %r (exit %d), not %r: stale or broken image"
                             % (name, image, got or p.stderr.strip()[-200:], p.returncode, want))
        c["ok"] += 1

    def record_image(self, name, image):
        """The final image's size and config (the last edit's), for the report."""
        p = docker("image", "inspect", image, check=False)
        if p.returncode != 0:
            return
        info = json.loads(p.stdout)[0]
        self.res["sizes"][name] = info.get("Size")
        self.res["configs"][name] = info.get("Config") or {}

    # -- setup

    def setup(self):
        missing = [i for i in REQUIRED_IMAGES if docker("image", "inspect", i, check=False).returncode != 0]
        if missing:
            raise BenchError("local image(s) missing: %s. They stand in for golang and distroless (no registry is "
                             "reachable); make them first (see .ci/engine.sh), then run again." % ", ".join(missing))
        self.reg.dirs.append(self.dir)
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        # Scratch files (the BuildKit Dockerfile, binaries, iid files, the LSP's log): outside
        # the build context.
        self.tmp = tempfile.mkdtemp(prefix="%s-tmp-" % self.base, dir=os.path.dirname(self.dir))
        self.reg.dirs.append(self.tmp)
        shutil.copytree(PROJECT_SRC, self.dir, ignore=shutil.ignore_patterns("*.md"))
        self.reg.labels.append(self.dir)
        self.reg.tags.append(self.image)
        self.instructions = compare.parse_dockerfile(os.path.join(self.dir, "Dockerfile"))
        self.stages = split_stages(self.instructions)
        if len(self.stages) < 2:
            raise BenchError("the Dockerfile has %d stage(s), not a multi-stage one" % len(self.stages))
        build_stages = [s for s in self.stages if s[1]]
        self.build_stage = build_stages[0]
        self.final_base = self.stages[-1][0]
        self.copies, self.changes = final_stage_plan(self.stages[-1])
        # The build command: the build stage's last RUN, where it runs.
        self.run_index, self.cmd, self.workdir = compare.build_command(self.build_stage[2])
        self.res.update(build_command=self.cmd, workdir=self.workdir, final_base=self.final_base,
                        copies=self.copies, changes=[c for c in self.changes if c != "--change"])
        # Unique per run from the first build on (no layer cache of another run can hit past the
        # source COPY); the cleanup recognises the run's image layers by this line.
        marker = "// docker-rebuilder bench run %s" % self.run_id
        with open(self.target, "a") as f:
            f.write(marker + "\n")
        self.reg.marker_files.append((os.path.join(self.workdir, VERSION_FILE).lstrip("/"), marker))
        self.version = self.version_for(0, "first")
        set_version(self.target, self.version)

    def cli_build(self):
        p = run([self.args.binary, "build", "--json", self.dir], timeout=3600, check=False)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise BenchError("docker-rebuilder build exited %d without JSON: %s" % (p.returncode, (p.stderr or p.stdout)[-1500:]))
        v = json.loads(lines[-1])
        if v.get("outcome") == "error":
            raise BenchError("docker-rebuilder: %s (fix: %s)" % (v.get("error"), v.get("fix")))
        if v.get("image_id"):
            self.reg.add_image(v["image_id"])
        return v

    def first_build(self):
        t = time.monotonic()
        v = self.cli_build()
        ms = (time.monotonic() - t) * 1000
        if v.get("outcome") != "image_built":
            raise BenchError("first build: outcome %r: %s" % (v.get("outcome"), (v.get("output") or v.get("message") or "")[-1500:]))
        self.res["first_build"]["cli_ms"] = ms
        self.res["first_build"]["cli_detail"] = v.get("detail")
        log("  first build (docker-rebuilder): %.1f s" % (ms / 1000))
        self.builders = self.builder_names()
        self.res["builders"] = self.builders
        self.check_version("cli", self.image, self.version)

    def builder_names(self):
        p = docker("ps", "-a", "--filter", "label=%s=%s" % (LABEL_PROJECT, self.dir),
                   "--filter", "label=%s=builder" % LABEL_ROLE, "--format", "{{.Names}}", check=False)
        return p.stdout.split()

    def build_stage_image(self):
        """The build stage as an image (`docker build --target`), for the naive and floor
        containers (classic builder: it reuses the cache below the source COPY)."""
        self.stage_tag = "%s-buildstage:latest" % self.base
        self.reg.tags.append(self.stage_tag)
        iid = os.path.join(self.tmp, "stage.iid")
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        ms, _ = timed([DOCKER, "build", "-q", "--iidfile", iid, "--target", self.build_stage[1], "-t", self.stage_tag, self.dir],
                      env=env, timeout=3600)
        with open(iid) as f:
            self.reg.add_image(f.read().strip())
        self.res["first_build"]["build_stage_ms"] = ms
        log("  build stage image (`docker build --target %s`): %.1f s" % (self.build_stage[1], ms / 1000))

    def start_container(self, suffix):
        name = "%s-%s" % (self.base, suffix)
        self.reg.containers.append(name)
        docker("run", "-d", "--name", name, "--entrypoint", "sleep", self.stage_tag, "infinity")
        return name

    # -- making the final image from a binary in a build container (naive and floor)

    def final_image(self, build_c, tag, who):
        """cp out, create, cp in, commit; rm. Each part's wall time (ms), the image id."""
        out = os.path.join(self.tmp, who)
        os.makedirs(out, exist_ok=True)
        parts = {"cp_out_ms": 0.0, "cp_in_ms": 0.0}
        name = "%s-%s-final" % (self.base, who)
        self.reg.containers.append(name)
        local = []
        for n, (_, src, _) in enumerate(self.copies):
            dst = os.path.join(out, "%d-%s" % (n, os.path.basename(src.rstrip("/"))))
            ms, _ = timed([DOCKER, "cp", "%s:%s" % (build_c, src), dst])
            parts["cp_out_ms"] += ms
            local.append(dst)
        # The base has no shell and no CMD: `docker create` needs a command, any.
        parts["create_ms"], _ = timed([DOCKER, "create", "--name", name, self.final_base, self.copies[0][2]])
        for dst, (_, _, dest) in zip(local, self.copies):
            ms, _ = timed([DOCKER, "cp", dst, "%s:%s" % (name, dest)])
            parts["cp_in_ms"] += ms
        parts["commit_ms"], p = timed([DOCKER, "commit", *self.changes, name, tag])
        parts["rm_ms"], _ = timed([DOCKER, "rm", name])
        new = p.stdout.strip()
        self.reg.add_image(new)
        return parts, new

    # -- the alternatives, one sample each

    def cli_edit(self, i):
        t = time.monotonic()
        v = self.cli_build()
        wall = (time.monotonic() - t) * 1000
        if v.get("outcome") != "succeeded":
            raise BenchError("outcome %r (%s): %s" % (v.get("outcome"), v.get("message"), (v.get("output") or "")[-1500:]))
        stages = v.get("stages_ms") or v.get("phases_ms") or {}
        s = {"edit": i, "total_ms": wall, "reported_total_ms": v.get("total_ms"), "stages": stages,
             "phases": v.get("phases_ms") or {}, "notes": v.get("notes") or []}
        self.check_version("cli", self.image, self.version)
        self.alt("cli")["samples"].append(s)
        return s

    def naive_setup(self):
        self.naive_c = self.start_container("naive")
        self.naive_tag = "%s-naive:latest" % self.base
        self.reg.tags.append(self.naive_tag)
        self.naive_prev = None

    def naive_edit(self, i):
        cp, _ = timed([DOCKER, "cp", self.dir + "/.", "%s:%s" % (self.naive_c, self.workdir)])
        ex, _ = timed([DOCKER, "exec", "-w", self.workdir, self.naive_c, "sh", "-c", self.cmd], timeout=3600)
        parts, new = self.final_image(self.naive_c, self.naive_tag, "naive")
        if self.naive_prev and self.naive_prev != new:  # the previous commit, now untagged
            docker("rmi", "--no-prune", self.naive_prev, check=False)
        self.naive_prev = new
        s = {"edit": i, "cp_ms": cp, "exec_ms": ex, **parts}
        s["total_ms"] = cp + ex + sum(parts.values())
        self.check_version("naive", self.naive_tag, self.version)
        self.alt("naive")["samples"].append(s)
        return s

    def floor_setup(self):
        self.floor_c = self.start_container("floor")
        self.floor_tag = "%s-floor:latest" % self.base
        self.reg.tags.append(self.floor_tag)
        self.floor_prev = None

    def floor_build(self):
        """The build command in the floor container: (docker exec wall ms, in-container ms, rc)."""
        script = ('start=$(date +%%s%%N); %s; rc=$?; end=$(date +%%s%%N); '
                  'echo FLOOR_NS $((end-start)) >&2; exit $rc' % self.cmd)
        ms, p = timed([DOCKER, "exec", "-w", self.workdir, self.floor_c, "sh", "-c", script], timeout=3600, check=False)
        m = re.search(r"FLOOR_NS (\d+)", p.stderr)
        if not m:
            raise BenchError("no FLOOR_NS in the exec's output (exit %d): %s" % (p.returncode, p.stderr[-800:]))
        return ms, int(m.group(1)) / 1e6, p.returncode, p.stderr

    def floor_put(self, text):
        """Puts the edited file in the floor container (untimed): one `docker cp` of that file."""
        path = os.path.join(self.tmp, os.path.basename(self.target))
        with open(path, "w") as f:
            f.write(text)
        docker("cp", path, "%s:%s" % (self.floor_c, os.path.join(self.workdir, VERSION_FILE)))

    def floor_edit(self, i):
        with open(self.target) as f:
            clean = f.read()
        # The breaking edit (the floor of save -> diagnostics): the failing build's own time.
        self.floor_put(broken_text(clean, self.version))
        fail_ex, fail_in, fail_rc, err = self.floor_build()
        if fail_rc == 0 or "undefined: nope" not in err:
            raise BenchError("the breaking edit did not fail with `undefined: nope` in the floor container (exit %d): %s"
                             % (fail_rc, err[-500:]))
        # The clean edit: the build, then the final image from the new binary.
        self.floor_put(clean)
        ok_ex, ok_in, ok_rc, err = self.floor_build()
        if ok_rc != 0:
            raise BenchError("the clean edit failed to build in the floor container (exit %d): %s" % (ok_rc, err[-800:]))
        parts, new = self.final_image(self.floor_c, self.floor_tag, "floor")
        make = parts["cp_out_ms"] + parts["create_ms"] + parts["cp_in_ms"] + parts["commit_ms"]
        s = {"edit": i, "exec_ms": ok_ex, "inside_ms": ok_in, **parts, "image_ms": make, "total_ms": ok_ex + make,
             "fail_exec_ms": fail_ex, "fail_inside_ms": fail_in, "fail_rc": fail_rc}
        self.check_version("floor", self.floor_tag, self.version)
        if self.floor_prev and self.floor_prev != new:
            docker("rmi", "--no-prune", self.floor_prev, check=False)
        self.floor_prev = new
        self.alt("floor")["samples"].append(s)
        return s

    def plain_setup(self):
        """The first plain build: warms the classic layer cache up to the source COPY."""
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
        self.check_version("plain", self.plain_tag, self.version)
        self.alt("plain")["samples"].append(s)
        return s

    def buildkit_setup(self):
        """The Dockerfile with cache mounts for the build cache and the module cache (ids unique
        to the run: its first build is cold, its records are removed at the end), written outside
        the context; built once (cold)."""
        marker = "bench_go_%s" % self.run_id
        self.reg.buildkit_marker = marker
        lines = []
        stage_no = -1
        for kw, rest, text in self.instructions:
            if kw == "FROM":
                stage_no += 1
            if kw == "RUN" and stage_no == self.stages.index(self.build_stage) and text == self.build_stage[2][self.run_index][2]:
                text = ("RUN --mount=type=cache,id=%s-gobuild,target=/root/.cache/go-build "
                        "--mount=type=cache,id=%s-gomod,target=/go/pkg/mod : %s && %s" % (marker, marker, marker, self.cmd))
            lines.append(text)
        if not any(l.startswith("RUN --mount") for l in lines):
            raise BenchError("the build stage's build command was not found for the BuildKit variant")
        bkdir = os.path.join(self.tmp, "buildkit")  # outside the build context
        os.makedirs(bkdir, exist_ok=True)
        self.bk_dockerfile = os.path.join(bkdir, "Dockerfile")
        with open(self.bk_dockerfile, "w") as f:
            f.write("# Generated by bench/multistage.py: BuildKit with cache mounts for GOCACHE and the module cache.\n")
            f.write("\n".join(lines) + "\n")
        self.res["buildkit_dockerfile"] = "\n".join(lines)
        self.bk_tag = "%s-buildkit:latest" % self.base
        self.reg.tags.append(self.bk_tag)
        self.bk_prev = None
        ms = self.buildkit_build()
        self.res["first_build"]["buildkit_cold_ms"] = ms
        log("  BuildKit first build (cold cache mounts): %.1f s" % (ms / 1000))

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
        self.check_version("buildkit", self.bk_tag, self.version)
        self.alt("buildkit")["samples"].append(s)
        return s

    # -- the interleaved comparison

    def compare(self):
        a = self.args
        log("setup: build-stage image and containers, plain warm-up, BuildKit cold build")
        if self.enabled("naive") or self.enabled("floor"):
            try:
                self.build_stage_image()
            except BenchError as e:
                for name in ("naive", "floor"):
                    if self.enabled(name):
                        self.errors[name] = self.alt(name)["error"] = "build stage image: %s" % e
        self.attempt("naive", self.naive_setup)
        self.attempt("floor", self.floor_setup)
        self.attempt("plain", self.plain_setup)
        self.attempt("buildkit", self.buildkit_setup)
        fns = {"cli": self.cli_edit, "naive": self.naive_edit, "floor": self.floor_edit,
               "plain": self.plain_edit, "buildkit": self.buildkit_edit}
        # Edit 0 is a warm-up, not measured (a fresh container's or cache's first build does
        # one-time work). Plain `docker build` needs none (its builds all start at the COPY).
        for i in range(a.edits + 1):
            self.version = self.version_for(i)
            set_version(self.target, self.version)
            done = []
            for name in ORDER:
                if (i > 0 or name != "plain") and self.enabled(name):
                    s = self.attempt(name, fns[name], i)
                    if s:
                        done.append("%s %s" % (name, fmt_ms(s["total_ms"])))
                        if i == 0:
                            self.alt(name)["warmup"] = self.alt(name)["samples"].pop()
            self.res.setdefault("edit_load", []).append(round(os.getloadavg()[0], 2))
            log("%s: %s (load %.2f)" % ("warm-up edit" if i == 0 else "edit %d" % i, ", ".join(done), os.getloadavg()[0]))
        for name, tag in (("cli", self.image), ("naive", getattr(self, "naive_tag", None)),
                          ("floor", getattr(self, "floor_tag", None)), ("plain", getattr(self, "plain_tag", None)),
                          ("buildkit", getattr(self, "bk_tag", None))):
            if tag and self.alt(name)["samples"]:
                self.record_image(name, tag)

    # -- the LSP (as compare.py's, on the version file)

    def lsp(self):
        # The builder up to date first (with what the other alternatives last built).
        v = self.cli_build()
        if v.get("outcome") not in ("succeeded", "up_to_date", "image_built"):
            raise BenchError("before the LSP: outcome %r" % v.get("outcome"))
        res = self.alt("lsp")
        with bench_lsp(self.args.binary, os.path.join(self.tmp, "lsp-stderr.log")) as lsp:
            self._lsp_session(lsp, res, self.args.edits)

    def _lsp_session(self, lsp, res, edits):
        lsp.request_timeout("initialize", {
            "processId": os.getpid(), "rootUri": None,
            "capabilities": {"window": {"workDoneProgress": True}},
            "workspaceFolders": [{"uri": uri(self.dir), "name": self.base}]}, 120)
        lsp.notify("initialized", {})
        target_uri = uri(self.target)

        def is_status(*states):
            return lambda m: m.get("method") == "docker-rebuilder/status" and m["params"].get("state") in states

        def is_timings(m):
            return m.get("method") == "window/logMessage" and m["params"]["message"].startswith("timings:")

        lsp.wait(is_timings, 600)
        lsp.wait(is_status("succeeded", "failed"), 120)
        res["extra_cycles"] = []
        self.settle(lsp, res, "after the first cycle")
        res["rss_kb_first"] = rss_kb(lsp.p.pid)
        for i in range(edits):
            # Break the build: save -> the first non-empty diagnostics.
            time.sleep(LSP_IDLE_S)
            with open(self.target) as f:
                clean = f.read()
            with open(self.target, "w") as f:
                f.write(broken_text(clean, self.version))
            t0 = time.monotonic()
            lsp.notify("textDocument/didSave", {"textDocument": {"uri": target_uri}})
            t1, dm = lsp.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                              and m["params"]["diagnostics"], 600)
            diag = dm["params"]["diagnostics"][0]
            _, tm = lsp.wait(is_timings, 600)
            _, st = lsp.wait(is_status("failed", "succeeded"), 120)
            if st["params"]["state"] != "failed":
                raise BenchError("the breaking edit did not fail: %s" % st["params"])
            if dm["params"]["uri"] != target_uri or "nope" not in diag.get("message", ""):
                raise BenchError("the first diagnostic is %s at %s, not `undefined: nope` at %s"
                                 % (json.dumps(diag)[:300], dm["params"]["uri"], target_uri))
            fail_timings = parse_timings(tm["params"]["message"])
            self.settle(lsp, res, "after breaking edit %d" % (i + 1))
            # The fix (a new version): save -> the timings line written right after the commit.
            time.sleep(LSP_IDLE_S)
            self.version = self.version_for(i + 1, "lsp")
            with open(self.target, "w") as f:
                f.write(version_text(clean, self.version))
            t2 = time.monotonic()
            lsp.notify("textDocument/didSave", {"textDocument": {"uri": target_uri}})
            t3, tm = lsp.wait(is_timings, 600)
            _, st = lsp.wait(is_status("failed", "succeeded"), 120)
            if st["params"]["state"] != "succeeded":
                raise BenchError("the fix did not build: %s" % st["params"])
            ok_timings = parse_timings(tm["params"]["message"])
            if "commit" not in ok_timings:
                raise BenchError("no commit in the fix's timings: %s" % tm["params"]["message"])
            self.check_version("lsp", self.image, self.version)
            s = {"edit": i, "diag_ms": (t1 - t0) * 1000, "diag_range": diag.get("range"),
                 "diag_message": diag.get("message"), "fail_timings": fail_timings,
                 "total_ms": (t3 - t2) * 1000, "ok_timings": ok_timings}
            res["samples"].append(s)
            log("lsp edit %d: save->diagnostics %s, save->committed %s"
                % (i + 1, fmt_ms(s["diag_ms"]), fmt_ms(s["total_ms"])))
            self.settle(lsp, res, "after fix %d" % (i + 1))
        time.sleep(2.0)
        res["rss_kb_end"] = rss_kb(lsp.p.pid)
        self.record_image("lsp", self.image)

    @staticmethod
    def settle(lsp, res, when, quiet_s=2.0, limit_s=120):
        """Reads the server's messages until it has been quiet for quiet_s, so that the next save
        meets an idle server (as a person's does); any cycle that ran meanwhile (a timings line)
        is recorded: nothing of ours started one."""
        seen, end = [], time.monotonic() + limit_s
        while time.monotonic() < end:
            try:
                _, m = lsp.q.get(timeout=quiet_s)
            except queue.Empty:
                break
            if "method" in m and "id" in m:  # server request (progress create): accept
                lsp.send({"jsonrpc": "2.0", "id": m["id"], "result": None})
                continue
            if m.get("method") == "window/logMessage":
                seen.append(m["params"]["message"].splitlines()[0][:200])
            elif m.get("method") == "docker-rebuilder/status" and m["params"].get("state") in ("failed", "succeeded"):
                seen.append("status %s" % m["params"]["state"])
        if any(x.startswith("timings:") for x in seen):
            res["extra_cycles"].append({"when": when, "messages": seen})
            log("  lsp: a cycle nobody asked for ran %s: %s" % (when, " | ".join(seen)))

    # -- removal of what docker-rebuilder keeps besides labelled objects

    def cleanup_product(self):
        notes = []
        names = set(getattr(self, "builders", []) or []) | set(self.builder_names() if os.path.isdir(self.dir) else [])
        if os.path.isdir(self.dir):
            p = run([self.args.binary, "clean", self.dir], check=False, timeout=300)
            if p.returncode != 0:
                notes.append("docker-rebuilder clean exited %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[-300:]))
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        for n in names:  # the builders' kept hashes (named as the builders)
            f = os.path.join(cache, "docker-rebuilder", "hashes", n)
            if os.path.exists(f):
                os.remove(f)
        return notes


# ---------------------------------------------------------------------------------------------
# Report.


def samples(p, alt):
    return (p["alternatives"].get(alt) or {}).get("samples") or []


def med(p, alt, key="total_ms"):
    return median([s.get(key) for s in samples(p, alt)])


# The image config a Dockerfile sets (the rest, Hostname, Image, Attach*..., is bookkeeping).
CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "WorkingDir", "Labels", "Volumes", "StopSignal",
               "Healthcheck", "OnBuild", "Shell")


def config_diff(ref, other):
    """The config keys a Dockerfile sets whose values differ (docker-rebuilder's labels aside)."""
    keys = [k for k in CONFIG_KEYS if k in ref or k in other]
    out = []
    for k in keys:
        a, b = ref.get(k), other.get(k)
        if k == "Labels":
            a = {x: y for x, y in (a or {}).items() if not x.startswith("dev.docker-rebuilder.")} or None
            b = {x: y for x, y in (b or {}).items() if not x.startswith("dev.docker-rebuilder.")} or None
        if (a or None) != (b or None):
            out.append("%s %s (plain: %s)" % (k, json.dumps(b), json.dumps(a)))
    return out


def goal(ok):
    return "–" if ok is None else ("met" if ok else "**not met**")


def render(results):
    m = results["machine"]
    p = results["project"]
    s = results["settings"]
    out = ["# Go multi-stage (distroless): docker-rebuilder vs the alternatives (%s)\n" % m["date"]]
    w = out.append
    w("Command: `%s`\n" % results["command"])
    w("Machine: %s cores, Docker engine %s (%s), client for builds `%s` %s, kernel %s; load average %s at the start, "
      "%s at the end; %s other container(s) running on the engine at the start; docker-rebuilder %s (git %s).\n"
      % (m["nproc"], m["engine"], m.get("driver", "?"), DOCKER, m.get("client", "?"), m.get("kernel", "?"),
         m.get("load_start", "?"), m.get("load_end", "?"), m.get("other_containers", "?"), m.get("binary", "?"),
         m.get("git", "?")))
    if m.get("binary_changed"):
        w("**Warning: the docker-rebuilder binary changed during the run** (rebuilt by someone else?).\n")
    w("Edits: %d per alternative after one unmeasured warm-up edit; skipped: %s. Medians; every edit is unique "
      "per run (no layer cache can hit past the source COPY); the alternatives take turns on each edit (%s); "
      "the LSP runs after them, each save %.1f s after the previous cycle ended. Correctness (untimed): "
      "after every edit, `docker run --rm IMAGE --version` must print the new version: %s.\n"
      % (s["edits"], ", ".join(s["skip"]) or "none", ", ".join(ORDER), LSP_IDLE_S,
         ", ".join("%s %d/%d" % (n, c["ok"], c["ok"] + len(c["failed"])) for n, c in (p.get("checks") or {}).items())
         or "none ran"))
    if p.get("error"):
        w("**Failed** (what was measured before is below): %s\n" % p["error"].replace("\n", " ")[:2000])
    w("Project: bench/go-service (%s Go lines) copied to `%s`; edit: the version constant in `%s`; build "
      "command `%s` in `%s` (build stage), final stage `FROM %s` with `COPY --from` %s and %s.\n"
      % (results.get("go_lines", "?"), p["dir"], p["file"], p.get("build_command", "?"), p.get("workdir", "?"),
         p.get("final_base", "?"), ", ".join("%s:%s → %s" % tuple(c) for c in p.get("copies", [])),
         ", ".join("`%s`" % c for c in p.get("changes", []))))
    fb = p.get("first_build") or {}
    parts = []
    for key, text in (("cli_ms", "docker-rebuilder %s (image + builder)"),
                      ("build_stage_ms", "the build stage for the naive and floor containers %s"),
                      ("plain_warmup_ms", "plain `docker build` %s"),
                      ("buildkit_cold_ms", "BuildKit %s (cold cache mounts)")):
        if fb.get(key) is not None:
            parts.append(text % fmt_ms(fb[key]))
    if parts:
        w("First builds: %s.\n" % "; ".join(parts))
    warm = [(n, (p["alternatives"].get(n) or {}).get("warmup")) for n in ORDER]
    warm = ["%s %s" % (n, fmt_ms(x["total_ms"])) for n, x in warm if x]
    if warm:
        w("Warm-up edit (not counted): %s.\n" % ", ".join(warm))

    floor, ours = med(p, "floor"), med(p, "cli")
    plain, bk = med(p, "plain"), med(p, "buildkit")
    sizes = p.get("sizes") or {}
    rows = [
        ("floor", "floor: `go build` (`docker exec`) + final image (cp out, create, cp in, commit)"),
        ("cli", "**ours**: `docker-rebuilder build` (CLI, whole process)"),
        ("lsp", "**ours**: LSP save → committed image"),
        ("naive", "naive: cp folder in, exec `go build`, cp out, create, cp in, commit, rm"),
        ("buildkit", "BuildKit, cache mounts for GOCACHE and /go/pkg/mod"),
        ("plain", "plain `docker build` (classic, cache warm to the source COPY)"),
    ]
    w("| alternative | n | median | − floor | × floor | plain ÷ it | BuildKit ÷ it | final image |")
    w("|---|---|---|---|---|---|---|---|")
    for alt, label in rows:
        a = p["alternatives"].get(alt)
        if a is None:
            w("| %s | – | %s | | | | | |" % (label, "skipped" if alt in s["skip"] else "not run"))
            continue
        x = med(p, alt)
        err = a.get("error")
        cell = fmt_ms(x) + (" (then failed)" if err and x is not None else "")
        if x is None:
            cell = "failed: %s" % (err or "no data").splitlines()[0][:160].replace("|", "\\|")
        size = sizes.get(alt)
        w("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
            label, len(a["samples"]), cell,
            "" if x is None or floor is None or alt == "floor" else "%+.0f ms" % (x - floor),
            fmt_x(ratio(x, floor)), fmt_x(ratio(plain, x)), fmt_x(ratio(bk, x)),
            "%s (%s B)" % (fmt_bytes(size), "{:,}".format(size)) if size else "–"))
    w("")
    lsp_ok = med(p, "lsp")
    w("Goals (issue 13): ≤ floor + %d ms: CLI %s (%s), LSP %s (%s); ≥ %.0f× plain: CLI %s (%s), LSP %s (%s); "
      "≥ %.0f× BuildKit: CLI %s (%s), LSP %s (%s).\n" % (
          GOAL_FLOOR_PLUS_MS,
          goal(None if ours is None or floor is None else ours <= floor + GOAL_FLOOR_PLUS_MS),
          "%+.0f ms" % (ours - floor) if ours is not None and floor is not None else "–",
          goal(None if lsp_ok is None or floor is None else lsp_ok <= floor + GOAL_FLOOR_PLUS_MS),
          "%+.0f ms" % (lsp_ok - floor) if lsp_ok is not None and floor is not None else "–",
          GOAL_X_PLAIN, goal(None if ratio(plain, ours) is None else ratio(plain, ours) >= GOAL_X_PLAIN), fmt_x(ratio(plain, ours)),
          goal(None if ratio(plain, lsp_ok) is None else ratio(plain, lsp_ok) >= GOAL_X_PLAIN), fmt_x(ratio(plain, lsp_ok)),
          GOAL_X_BUILDKIT, goal(None if ratio(bk, ours) is None else ratio(bk, ours) >= GOAL_X_BUILDKIT), fmt_x(ratio(bk, ours)),
          goal(None if ratio(bk, lsp_ok) is None else ratio(bk, lsp_ok) >= GOAL_X_BUILDKIT), fmt_x(ratio(bk, lsp_ok))))

    # Compared edits are numbered 1..N (0 is the warm-up); the LSP's own edits 0..N-1.
    per = [(alt, {x["edit"] + (alt == "lsp"): x["total_ms"] for x in samples(p, alt)}) for alt in ORDER + ("lsp",)]
    per = [(alt, d) for alt, d in per if d]
    if per:
        loads = p.get("edit_load") or []
        w("Per edit (ms; the LSP's edits are its own, after the others; load: 1-minute load average after the edit):\n")
        w("| edit | %s | load |" % " | ".join(alt for alt, _ in per))
        w("|---|%s---|" % ("---|" * len(per)))
        for e in sorted({e for _, d in per for e in d}):
            w("| %d | %s | %s |" % (e, " | ".join("%.0f" % d[e] if e in d else "–" for _, d in per),
                                   "%.2f" % loads[e] if e < len(loads) else "–"))
        w("")

    configs = p.get("configs") or {}
    if sizes.get("plain") and configs.get("plain"):
        notes = []
        for alt in ("cli", "lsp", "naive", "floor", "buildkit"):
            if alt in sizes and alt in configs:
                d = config_diff(configs["plain"], configs[alt])
                notes.append("%s %s (%+.1f %%)%s" % (alt, fmt_bytes(sizes[alt]), 100.0 * (sizes[alt] - sizes["plain"]) / sizes["plain"],
                                                  ", config differs: " + "; ".join(d) if d else ", same config"))
        w("Final images against plain `docker build`'s (%s; config compared without docker-rebuilder's labels): %s.\n"
          % (fmt_bytes(sizes["plain"]), "; ".join(notes)))

    fs = samples(p, "floor")
    if fs:
        w("Floor split (medians of %d): `go build` through `docker exec` %s, of which its own run in the container %s; "
          "final image %s = `docker cp` out %s + `docker create` %s + `docker cp` in %s + `docker commit` %s "
          "(`docker rm` after, not counted, %s). `go build` in the container + commit alone: %s. The floor goes "
          "through the docker CLI (a client process per step); docker-rebuilder talks to the Engine API itself.\n"
          % (len(fs), fmt_ms(med(p, "floor", "exec_ms")), fmt_ms(med(p, "floor", "inside_ms")),
             fmt_ms(med(p, "floor", "image_ms")), fmt_ms(med(p, "floor", "cp_out_ms")), fmt_ms(med(p, "floor", "create_ms")),
             fmt_ms(med(p, "floor", "cp_in_ms")), fmt_ms(med(p, "floor", "commit_ms")), fmt_ms(med(p, "floor", "rm_ms")),
             fmt_ms(median([x["inside_ms"] + x["commit_ms"] for x in fs]))))
    ns = samples(p, "naive")
    if ns:
        w("Naive split (medians of %d): `docker cp` of the folder %s, `docker exec` %s, `docker cp` out %s, "
          "`docker create` %s, `docker cp` in %s, `docker commit` %s, `docker rm` %s.\n"
          % (len(ns), fmt_ms(med(p, "naive", "cp_ms")), fmt_ms(med(p, "naive", "exec_ms")), fmt_ms(med(p, "naive", "cp_out_ms")),
             fmt_ms(med(p, "naive", "create_ms")), fmt_ms(med(p, "naive", "cp_in_ms")), fmt_ms(med(p, "naive", "commit_ms")),
             fmt_ms(med(p, "naive", "rm_ms"))))
    cs = samples(p, "cli")
    if cs:
        keys = stage_keys([x["stages"] for x in cs])
        w("Our stages (CLI, `stages_ms`, medians of %d; the process's wall time %s, its own total %s):\n"
          % (len(cs), fmt_ms(ours), fmt_ms(med(p, "cli", "reported_total_ms"))))
        w("| stage | median |\n|---|---|")
        for k in keys:
            w("| %s | %s |" % (k, fmt_ms(median([x["stages"].get(k) for x in cs]))))
        rest = median([sum(v for k, v in x["stages"].items() if k != "build") for x in cs])
        w("| everything but `build` (ours) | %s |" % fmt_ms(rest))
        w("")

    ls = samples(p, "lsp")
    la = p["alternatives"].get("lsp") or {}
    if ls or la:
        fail_in, fail_ex = med(p, "floor", "fail_inside_ms"), med(p, "floor", "fail_exec_ms")
        diag = med(p, "lsp", "diag_ms")
        w("LSP (%d edits%s):\n" % (len(ls), "; failed: %s" % la["error"].splitlines()[0] if la.get("error") else ""))
        w("| measure | median |\n|---|---|")
        w("| save → first diagnostic (`undefined: nope`) | %s |" % fmt_ms(diag))
        w("| the failing `go build`'s own run, in the container (floor) | %s |" % fmt_ms(fail_in))
        w("| the failing `go build` through `docker exec` (floor) | %s |" % fmt_ms(fail_ex))
        w("| save → diagnostics − the `docker exec` run | %s |" % fmt_ms(None if diag is None or fail_ex is None else diag - fail_ex))
        fk = stage_keys([x["fail_timings"] for x in ls])
        if fk:
            w("| … the failing cycle's timings line | %s |" % ", ".join(
                "%s %s" % (k, fmt_ms(median([x["fail_timings"].get(k) for x in ls]))) for k in fk))
        w("| save → committed image (the fix) | %s |" % fmt_ms(lsp_ok))
        w("| … vs the floor | %s (%s) |" % (fmt_x(ratio(lsp_ok, floor)), "%+.0f ms" % (lsp_ok - floor) if lsp_ok is not None and floor is not None else "–"))
        okk = stage_keys([x["ok_timings"] for x in ls])
        if okk:
            w("| … its timings line | %s |" % ", ".join(
                "%s %s" % (k, fmt_ms(median([x["ok_timings"].get(k) for x in ls]))) for k in okk))
        extra = la.get("extra_cycles") or []
        def cycle(x):
            tim = [m for m in x["messages"] if m.startswith("timings:")]
            total = parse_timings(tim[0]).get("total") if tim else None
            return "%s: “%s” (%s)" % (x["when"], x["messages"][0], fmt_ms(total))

        w("| cycles nobody asked for (seen while the harness waited for a quiet server before the next save) | %d%s |" % (
            len(extra), ": " + "; ".join(cycle(x) for x in extra).replace("|", "\\|") if extra else ""))
        if ls:
            r = ls[0].get("diag_range") or {}
            st = r.get("start") or {}
            w("| the diagnostic | `%s` at %s:%s:%s |" % (ls[0].get("diag_message"), p["file"], st.get("line", -1) + 1,
                                                        st.get("character", -1) + 1))
        w("| idle server RSS after the first cycle / after all edits | %s / %s |" % (
            fmt_bytes((la.get("rss_kb_first") or 0) * 1024 or None), fmt_bytes((la.get("rss_kb_end") or 0) * 1024 or None)))
        w("")
    if p.get("buildkit_dockerfile"):
        run_line = [l for l in p["buildkit_dockerfile"].splitlines() if l.startswith("RUN --mount")]
        if run_line:
            w("The BuildKit variant's build RUN (the rest of the Dockerfile unchanged):\n\n    %s\n" % run_line[0])
    if results.get("cleanup_notes"):
        w("Cleanup: %s\n" % "; ".join(results["cleanup_notes"]))
    return "\n".join(out)


def failures(results):
    out = []
    p = results["project"]
    if p.get("error"):
        out.append(p["error"].splitlines()[0])
    for alt, a in (p.get("alternatives") or {}).items():
        if a and a.get("error"):
            out.append("%s: %s" % (alt, a["error"].splitlines()[0]))
    return out


# ---------------------------------------------------------------------------------------------


def default_binary():
    """target/release, then target/debug, under the repository and under $CARGO_TARGET_DIR."""
    roots = [os.path.join(ROOT, "target")]
    if os.environ.get("CARGO_TARGET_DIR"):
        roots.insert(0, os.path.abspath(os.environ["CARGO_TARGET_DIR"]))
    for profile in ("release", "debug"):
        for r in roots:
            b = os.path.join(r, profile, "docker-rebuilder")
            if os.path.exists(b):
                return b
    return os.path.join(roots[0], "release", "docker-rebuilder")


def go_lines():
    n = 0
    for d, _, files in os.walk(PROJECT_SRC):
        for f in files:
            if f.endswith(".go"):
                with open(os.path.join(d, f)) as fh:
                    n += sum(1 for _ in fh)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=5, help="measured edits per alternative (default 5)")
    ap.add_argument("--binary", default=None, help="docker-rebuilder (default: target/release, else target/debug)")
    ap.add_argument("--out", default=None, help="the report (default bench/results/multistage-<date>.md)")
    ap.add_argument("--skip", default="", help="comma list among " + ",".join(ALTERNATIVES))
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 edits")
    ap.add_argument("--workdir", default=None, help="where the project folder goes (default: a new folder in /tmp)")
    ap.add_argument("--from-json", default=None, help="only re-render the report of an earlier run's JSON")
    args = ap.parse_args()
    if args.quick:
        args.edits = 2
    args.skip = [x for x in args.skip.split(",") if x]
    unknown = [x for x in args.skip if x not in ALTERNATIVES]
    if unknown:
        ap.error("unknown alternative: %s" % ", ".join(unknown))
    if args.from_json:
        with open(args.from_json) as f:
            print(render(json.load(f)))
        return 0
    out = os.path.abspath(args.out or os.path.join(HERE, "results", "multistage-%s.md" % time.strftime("%Y-%m-%d")))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json_path = os.path.splitext(out)[0] + ".json"
    args.binary = os.path.abspath(args.binary or default_binary())
    if not os.path.exists(args.binary):
        log("building %s (cargo build --release)" % args.binary)
        subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path", os.path.join(ROOT, "server/Cargo.toml")],
                       cwd=ROOT, check=True)
        args.binary = default_binary()

    machine = compare.machine_info(args.binary)
    machine["other_containers"] = len(docker("ps", "-q", check=False).stdout.split())
    results = {
        "command": "python3 " + shlex.join([os.path.relpath(sys.argv[0], ROOT) if os.path.abspath(sys.argv[0]).startswith(ROOT) else sys.argv[0]] + sys.argv[1:]),
        "machine": machine,
        "settings": {"edits": args.edits, "skip": args.skip, "docker": DOCKER},
        "go_lines": go_lines(),
        "project": {},
    }
    run_id = "%d_%x" % (os.getpid(), int(time.time() * 1000))
    workroot = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="multistage-")
    os.makedirs(workroot, exist_ok=True)
    reg = BenchRegistry()
    notes = []
    bench = MultiStageBench(args, reg, run_id, workroot)
    results["project"] = bench.res
    try:
        log("project: %s" % bench.dir)
        bench.setup()
        # docker-rebuilder's first build (the CLI's and the LSP's starting point): its failure
        # fails those two, the others still run.
        first = "cli" if "cli" not in args.skip else "lsp"
        bench.attempt(first, bench.first_build)
        if first in bench.errors:
            for name in ("cli", "lsp"):
                if bench.enabled(name):
                    bench.errors[name] = bench.alt(name)["error"] = "the first build failed: " + bench.errors[first]
        bench.compare()
        if "lsp" not in args.skip:
            bench.attempt("lsp", bench.lsp)
    except Exception as e:  # noqa: BLE001 - the report still goes out
        bench.res["error"] = str(e) if isinstance(e, BenchError) else "%s: %s" % (type(e).__name__, e)
        log("FAILED: %s" % bench.res["error"])
        if not isinstance(e, BenchError):
            traceback.print_exc()
    finally:
        try:
            notes += bench.cleanup_product()
        except Exception as e:  # noqa: BLE001 - the engine-side cleanup still runs
            notes.append("docker-rebuilder clean: %s" % e)
        notes += reg.cleanup()
        results["cleanup_notes"] = notes
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

#!/usr/bin/env python3
"""Go multi-stage with BuildKit cache mounts: a one-line edit -> the final image when the
project's own Dockerfile needs BuildKit, and the first (full) build through BuildKit against the
classic builder, in one run on one machine (issue 14's benchmark).

The project is bench/go-service, copied twice (each copy its own marker line in the version
file, so no layer cache is shared between them):

  A  its Dockerfile replaced by the cache-mount variant: the build stage's `go build` RUN
     becomes `RUN --mount=type=cache,id=<run>-ours-gobuild,target=/root/.cache/go-build
     --mount=type=cache,id=<run>-ours-gomod,target=/go/pkg/mod : <run> && <the build>`
     (ids unique per run: BuildKit's first build has cold cache mounts; the `:` no-op marks
     BuildKit's records of the run for the cleanup). docker-rebuilder builds it through BuildKit
     and its builder mounts the two caches as volumes;
  B  the original Dockerfile, built by docker-rebuilder with the classic builder
     (`DOCKER_BUILDKIT=0`, honoured as docker honours it).

Measured, for each edit (the version constant, unique per edit and run, set in both copies):

  cli       ours on A: `docker-rebuilder build --json A` (whole process);
  classic   ours on B: the same on the original Dockerfile (the control: the edit loop without
            cache volumes);
  floor     as bench/multistage.py: `go build` alone in a running build-stage container plus the
            final image through the docker CLI (cp out, create, cp in, commit);
  plain     `DOCKER_BUILDKIT=0 docker build` of A's sources with the original Dockerfile
            (`-f`, outside the context), the classic layer cache warm up to the source COPY;
  buildkit  `DOCKER_BUILDKIT=1 docker build` of B's sources with the cache-mount variant (`-f`;
            cache ids of its own, warm after its first build);
  lsp       ours on A through `docker-rebuilder lsp` (save -> first diagnostic, save ->
            committed image), as bench/multistage.py's.

First (full) builds, one each, back to back before the edits, in this order: ours on A
(BuildKit), `docker build` BuildKit on B (cold cache mounts), ours on B (classic), `docker
build` classic on A. Fair as far as the four can be: every one starts with the layer cache
below the source COPY warm for its builder (base image, WORKDIR, `COPY go.mod`, `go mod
download`: made sure of by untimed builds of that prefix with each builder first), misses from
the source COPY on (a context no earlier build had), and compiles with an empty GOCACHE (the
classic image's layers hold none: `go mod download` compiles nothing; BuildKit's cache mounts
are new). Ours also makes its builder (and, through BuildKit, the stage images by targeted
builds, from its cache); `docker build` makes the image only.

Every image is checked after every build (`docker run --rm IMAGE --version` prints the new
version, untimed); sizes are reported. Medians of --edits edits after one unmeasured warm-up
edit. Everything the run creates is removed at the end, even on failure: folders, containers,
tags, images, BuildKit records, docker-rebuilder's builders, kept hashes and cache volumes;
the layer cache below the source COPY stays (as bench/multistage.py leaves it).

Usage:
    python3 bench/buildkit.py                 # 5 edits
    python3 bench/buildkit.py --quick         # smoke run (2 edits)
    python3 bench/buildkit.py --from-json bench/results/buildkit-DATE.json

Flags: --edits, --binary, --out, --skip (comma list of cli,classic,floor,plain,buildkit,lsp),
--quick, --workdir, --from-json. Output: bench/results/buildkit-<date>.md and .json. Needs
what bench/multistage.py needs (a running engine with BuildKit, dr-golang:1.19,
dr-distroless:static, /usr/bin/docker). Python 3.11, stdlib only.
"""

import argparse
import json
import os
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
sys.dont_write_bytecode = True
import compare  # noqa: E402
import multistage  # noqa: E402
from compare import (  # noqa: E402
    DOCKER, LABEL_PROJECT, LABEL_ROLE, BenchError, docker, fmt_bytes, fmt_ms, fmt_x, log, median, ratio,
    run, stage_keys, timed)
from multistage import PROJECT_SRC, VERSION_FILE, med, samples, set_version  # noqa: E402

ALTERNATIVES = ("cli", "classic", "floor", "plain", "buildkit", "lsp")
ORDER = ("cli", "classic", "floor", "plain", "buildkit")  # the turns on each edit


class Registry(multistage.BenchRegistry):
    """multistage.py's registry, and docker-rebuilder's volumes (its cache mounts) by project."""

    def cleanup(self):
        notes = super().cleanup()  # containers first: a volume in use cannot go
        for label in self.labels:
            p = docker("volume", "ls", "-q", "--filter", "label=%s=%s" % (LABEL_PROJECT, label), check=False)
            for v in p.stdout.split():
                r = docker("volume", "rm", v, check=False)
                if r.returncode != 0:
                    notes.append("volume %s left: %s" % (v, r.stderr.strip()[-200:]))
        return notes


class BuildKitBench(multistage.MultiStageBench):
    def __init__(self, args, reg, run_id, workroot):
        super().__init__(args, reg, run_id, workroot)
        self.cdir = os.path.join(workroot, "go-service-classic-%d" % self.pid)
        self.cimage = os.path.basename(self.cdir) + ":latest"
        self.ctarget = os.path.join(self.cdir, VERSION_FILE)
        self.bk_marker = "bench_go_%s" % run_id
        self.res.update(classic_dir=self.cdir, classic_image=self.cimage, first_builds={}, first_sizes={})
        self.builders_of = {}

    # -- setup: the two copies, the Dockerfiles, the layer cache below the source COPY

    def setup(self):
        super().setup()  # A: copied, marked, version set; the original Dockerfile parsed
        self.reg.buildkit_marker = self.bk_marker
        self.reg.dirs.append(self.cdir)
        shutil.copytree(PROJECT_SRC, self.cdir, ignore=shutil.ignore_patterns("*.md"))
        self.reg.labels.append(self.cdir)
        self.reg.tags.append(self.cimage)
        with open(self.ctarget, "a") as f:  # the run's marker (the cleanup's), and B's own line
            f.write("%s\n// the classic copy\n" % self.reg.marker_files[0][1])
        set_version(self.ctarget, self.version)
        # The original Dockerfile outside the contexts (plain's -f), A's replaced.
        odir = os.path.join(self.tmp, "classic")
        os.makedirs(odir)
        self.orig_dockerfile = os.path.join(odir, "Dockerfile")
        shutil.copy(os.path.join(self.dir, "Dockerfile"), self.orig_dockerfile)
        text = "\n".join(self.bk_lines(self.bk_marker + "-ours")) + "\n"
        with open(os.path.join(self.dir, "Dockerfile"), "w") as f:
            f.write(text)
        self.res["ours_dockerfile"] = text
        self.warm_prefix()

    def bk_lines(self, id_prefix):
        """The original Dockerfile, its build RUN with the two cache mounts (as multistage.py's
        `buildkit` alternative writes it)."""
        lines, stage_no, found = [], -1, False
        build_no = self.stages.index(self.build_stage)
        for kw, rest, text in self.instructions:
            if kw == "FROM":
                stage_no += 1
            if kw == "RUN" and stage_no == build_no and text == self.build_stage[2][self.run_index][2]:
                text = ("RUN --mount=type=cache,id=%s-gobuild,target=/root/.cache/go-build "
                        "--mount=type=cache,id=%s-gomod,target=/go/pkg/mod : %s && %s"
                        % (id_prefix, id_prefix, self.bk_marker, self.cmd))
                found = True
            lines.append(text)
        if not found:
            raise BenchError("the build stage's build command was not found for the BuildKit variant")
        return lines

    def warm_prefix(self):
        """Untimed: the build stage up to (not including) the source COPY, with each builder, so
        that every first build below finds that much in its cache and nothing more."""
        pdir = os.path.join(self.tmp, "prefix")
        os.makedirs(pdir)
        prefix, stage_no = [], -1
        build_no = self.stages.index(self.build_stage)
        for kw, rest, text in self.instructions:
            if kw == "FROM":
                stage_no += 1
            if stage_no < build_no:
                continue
            if stage_no > build_no or (kw in ("COPY", "ADD") and [w for w in rest.split() if not w.startswith("--")][0]
                                       in (".", "./")):
                break
            prefix.append(text)
        with open(os.path.join(pdir, "Dockerfile"), "w") as f:
            f.write("\n".join(prefix) + "\n")
        shutil.copy(os.path.join(self.dir, "go.mod"), pdir)
        self.res["prefix"] = prefix
        for bk in ("0", "1"):
            start = time.time()
            try:
                ms, _ = timed([DOCKER, "build", "-q", pdir], env=dict(os.environ, DOCKER_BUILDKIT=bk), timeout=1800)
            finally:
                if bk == "1":
                    self.reg.buildkit_windows.append((start, time.time()))
            self.res["first_builds"]["prefix_%s_ms" % ("buildkit" if bk == "1" else "classic")] = ms

    # -- docker-rebuilder, on either copy

    def ours(self, d):
        start = time.time()
        # B is the classic builder's case: docker-rebuilder honours DOCKER_BUILDKIT=0 as docker does.
        env = dict(os.environ, DOCKER_BUILDKIT="0") if d == self.cdir else None
        p = run([self.args.binary, "build", "--json", d], timeout=3600, check=False, env=env)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if not lines or json.loads(lines[-1]).get("outcome") not in ("succeeded", "up_to_date"):
            # A full build (or a failed run): any BuildKit records made meanwhile are the run's.
            self.reg.buildkit_windows.append((start, time.time()))
        if not lines:
            raise BenchError("docker-rebuilder build exited %d without JSON: %s" % (p.returncode, (p.stderr or p.stdout)[-1500:]))
        v = json.loads(lines[-1])
        if v.get("outcome") == "error":
            raise BenchError("docker-rebuilder: %s (fix: %s)" % (v.get("error"), v.get("fix")))
        if v.get("image_id"):
            self.reg.add_image(v["image_id"])
        return v

    def cli_build(self):  # multistage.py's edits and LSP call this one: copy A
        return self.ours(self.dir)

    def builders_in(self, d):
        p = docker("ps", "-a", "--filter", "label=%s=%s" % (LABEL_PROJECT, d),
                   "--filter", "label=%s=builder" % LABEL_ROLE, "--format", "{{.Names}}", check=False)
        return p.stdout.split()

    def builder_names(self):
        return self.builders_in(self.dir)

    def size_of(self, image):
        p = docker("image", "inspect", "--format", "{{.Size}}", image, check=False)
        return int(p.stdout.strip()) if p.returncode == 0 and p.stdout.strip().isdigit() else None

    def ours_first(self, name, d, image):
        t = time.monotonic()
        v = self.ours(d)
        ms = (time.monotonic() - t) * 1000
        if v.get("outcome") != "image_built":
            raise BenchError("first build: outcome %r: %s" % (v.get("outcome"), (v.get("output") or v.get("message") or "")[-1500:]))
        self.res["first_builds"][name] = {
            "wall_ms": ms, "total_ms": v.get("total_ms"), "detail": v.get("detail"), "notes": v.get("notes"),
            "phases": v.get("phases_ms") or {}, "stages": v.get("stages_ms") or {}}
        self.builders_of[d] = self.builders_in(d)
        self.res.setdefault("builders", {})[d] = self.builders_of[d]
        self.res["first_sizes"][name] = self.size_of(image)
        self.res.setdefault("volumes", {})[d] = docker(
            "volume", "ls", "-q", "--filter", "label=%s=%s" % (LABEL_PROJECT, d), check=False).stdout.split()
        log("  first build, %s: %.1f s (its total_ms %s)" % (name, ms / 1000, v.get("total_ms")))
        self.check_version(name, image, self.version)

    def first_builds(self):
        """The four first builds, back to back: BuildKit (ours, docker), classic (ours, docker)."""
        self.attempt("cli", self.ours_first, "cli", self.dir, self.image)
        self.attempt("buildkit", self.buildkit_setup)  # multistage.py's: cold cache mounts
        if self.enabled("buildkit"):
            self.res["first_sizes"]["buildkit"] = self.size_of(self.bk_tag)
        self.attempt("classic", self.ours_first, "classic", self.cdir, self.cimage)
        self.attempt("plain", self.plain_setup)
        if self.enabled("plain"):
            self.res["first_sizes"]["plain"] = self.size_of(self.plain_tag)
            self.check_version("plain", self.plain_tag, self.version)
        if self.enabled("buildkit"):
            self.check_version("buildkit", self.bk_tag, self.version)

    # -- the alternatives' builds, on the copy each reads (see the docstring)

    def build_stage_image(self):
        """The floor's container image: `docker build --target` of B, classic."""
        self.stage_tag = "%s-buildstage:latest" % self.base
        self.reg.tags.append(self.stage_tag)
        iid = os.path.join(self.tmp, "stage.iid")
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        ms, _ = timed([DOCKER, "build", "-q", "--iidfile", iid, "--target", self.build_stage[1], "-t", self.stage_tag,
                       self.cdir], env=env, timeout=3600)
        with open(iid) as f:
            self.reg.add_image(f.read().strip())
        self.res["first_build"]["build_stage_ms"] = ms

    def plain_build(self):
        iid = os.path.join(self.tmp, "plain.iid")
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        ms, _ = timed([DOCKER, "build", "-q", "--iidfile", iid, "-f", self.orig_dockerfile, "-t", self.plain_tag, self.dir],
                      env=env, timeout=3600)
        with open(iid) as f:
            self.reg.add_image(f.read().strip())
        return ms

    def buildkit_build(self):
        iid = os.path.join(os.path.dirname(self.bk_dockerfile), "iid")
        env = dict(os.environ, DOCKER_BUILDKIT="1")
        start = time.time()
        try:
            ms, _ = timed([DOCKER, "build", "-q", "--iidfile", iid, "-f", self.bk_dockerfile, "-t", self.bk_tag, self.cdir],
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

    def classic_edit(self, i):
        t = time.monotonic()
        v = self.ours(self.cdir)
        wall = (time.monotonic() - t) * 1000
        if v.get("outcome") != "succeeded":
            raise BenchError("outcome %r (%s): %s" % (v.get("outcome"), v.get("message"), (v.get("output") or "")[-1500:]))
        s = {"edit": i, "total_ms": wall, "reported_total_ms": v.get("total_ms"), "stages": v.get("stages_ms") or {},
             "phases": v.get("phases_ms") or {}, "notes": v.get("notes") or []}
        self.check_version("classic", self.cimage, self.version)
        self.alt("classic")["samples"].append(s)
        return s

    # -- the interleaved comparison

    def compare(self):
        a = self.args
        log("first builds: ours (BuildKit), docker BuildKit, ours (classic), docker classic")
        self.first_builds()
        if self.enabled("floor"):
            try:
                self.build_stage_image()
            except BenchError as e:
                self.errors["floor"] = self.alt("floor")["error"] = "build stage image: %s" % e
        self.attempt("floor", self.floor_setup)
        fns = {"cli": self.cli_edit, "classic": self.classic_edit, "floor": self.floor_edit,
               "plain": self.plain_edit, "buildkit": self.buildkit_edit}
        for i in range(a.edits + 1):  # edit 0: the warm-up, not measured
            self.version = self.version_for(i)
            set_version(self.target, self.version)
            set_version(self.ctarget, self.version)
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
        for name, tag in (("cli", self.image), ("classic", self.cimage), ("floor", getattr(self, "floor_tag", None)),
                          ("plain", getattr(self, "plain_tag", None)), ("buildkit", getattr(self, "bk_tag", None))):
            if tag and self.alt(name)["samples"]:
                self.record_image(name, tag)

    # -- removal of what docker-rebuilder keeps besides labelled objects (both copies)

    def cleanup_product(self):
        notes = []
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        for d in (self.dir, self.cdir):
            names = set(self.builders_of.get(d, [])) | set(self.builders_in(d) if os.path.isdir(d) else [])
            if os.path.isdir(d):
                p = run([self.args.binary, "clean", d], check=False, timeout=300)
                if p.returncode != 0:
                    notes.append("docker-rebuilder clean %s exited %d: %s"
                                 % (os.path.basename(d), p.returncode, (p.stderr or p.stdout).strip()[-300:]))
            for n in names:
                f = os.path.join(cache, "docker-rebuilder", "hashes", n)
                if os.path.exists(f):
                    os.remove(f)
        return notes


# ---------------------------------------------------------------------------------------------
# Report.


def render(results):
    m, p, s = results["machine"], results["project"], results["settings"]
    out = ["# Go multi-stage with BuildKit cache mounts: docker-rebuilder vs the alternatives (%s)\n" % m["date"]]
    w = out.append
    w("Command: `%s`\n" % results["command"])
    w("Machine: %s cores, Docker engine %s (%s), client for builds `%s` %s, kernel %s; load average %s at the start, "
      "%s at the end; %s other container(s) running at the start; docker-rebuilder %s (git %s).\n"
      % (m["nproc"], m["engine"], m.get("driver", "?"), DOCKER, m.get("client", "?"), m.get("kernel", "?"),
         m.get("load_start", "?"), m.get("load_end", "?"), m.get("other_containers", "?"), m.get("binary", "?"),
         m.get("git", "?")))
    if m.get("binary_changed"):
        w("**Warning: the docker-rebuilder binary changed during the run.**\n")
    checks = p.get("checks") or {}
    w("Edits: %d per alternative after one unmeasured warm-up edit; skipped: %s; turns on each edit: %s; the LSP after "
      "them. Correctness (untimed, after every build, first builds included): `docker run --rm IMAGE --version` printed "
      "the new version: %s.\n" % (s["edits"], ", ".join(s["skip"]) or "none", ", ".join(ORDER),
                                  ", ".join("%s %d/%d" % (n, c["ok"], c["ok"] + len(c["failed"])) for n, c in checks.items())
                                  or "none ran"))
    if p.get("error"):
        w("**Failed** (what was measured before is below): %s\n" % p["error"].replace("\n", " ")[:2000])
    run_line = [l for l in (p.get("ours_dockerfile") or "").splitlines() if l.startswith("RUN --mount")]
    w("Project: bench/go-service (%s Go lines), edit: the version constant in `%s`. Copy A `%s` has the cache-mount "
      "Dockerfile as its own (`%s`); copy B `%s` the original (`%s` in `%s`).\n"
      % (results.get("go_lines", "?"), p["file"], p["dir"], run_line[0] if run_line else "?", p.get("classic_dir"),
         p.get("build_command", "?"), p.get("workdir", "?")))

    fb, fs = p.get("first_builds") or {}, p.get("first_sizes") or {}
    fb1 = p.get("first_build") or {}

    def size(x):
        return "%s (%s B)" % (fmt_bytes(x), "{:,}".format(x)) if x else "–"

    w("## First (full) build\n")
    w("Each one sample, back to back in this order; the layer cache below the source COPY warm for each builder "
      "(untimed prefix builds: classic %s, BuildKit %s), everything from the source COPY on a miss, GOCACHE empty.\n"
      % (fmt_ms(fb.get("prefix_classic_ms")), fmt_ms(fb.get("prefix_buildkit_ms"))))
    w("| build | builder | wall | its total_ms | image |\n|---|---|---|---|---|")
    rows = [("**ours** on A (cache-mount Dockerfile): image + stage images + builder", "BuildKit", fb.get("cli") or {}, fs.get("cli")),
            ("`docker build`, cache-mount Dockerfile, cold cache mounts", "BuildKit", {"wall_ms": fb1.get("buildkit_cold_ms")}, fs.get("buildkit")),
            ("**ours** on B (original Dockerfile): image + builder", "classic", fb.get("classic") or {}, fs.get("classic")),
            ("`docker build`, original Dockerfile", "classic", {"wall_ms": fb1.get("plain_warmup_ms")}, fs.get("plain"))]
    for label, builder, x, sz in rows:
        w("| %s | %s | %s | %s | %s |" % (label, builder, fmt_ms(x.get("wall_ms")), fmt_ms(x.get("total_ms")), size(sz)))
    ob, oc = (fb.get("cli") or {}).get("total_ms"), (fb.get("classic") or {}).get("total_ms")
    db, dc = fb1.get("buildkit_cold_ms"), fb1.get("plain_warmup_ms")
    w("\nBuildKit ÷ classic: ours %s (%s − %s = %s), `docker build` %s. Ours − `docker build` (the builder and, through "
      "BuildKit, the stage images): BuildKit %s, classic %s.\n"
      % (fmt_x(ratio(ob, oc)), fmt_ms(ob), fmt_ms(oc), "%+.0f ms" % (ob - oc) if ob and oc else "–", fmt_x(ratio(db, dc)),
         "%+.0f ms" % (ob - db) if ob and db else "–", "%+.0f ms" % (oc - dc) if oc and dc else "–"))
    for name in ("cli", "classic"):
        x = fb.get(name) or {}
        if x.get("phases") or x.get("stages") or x.get("notes"):
            w("Ours, first build on %s: phases %s; stages %s; notes: %s.\n" % (
                "A" if name == "cli" else "B", json.dumps(x.get("phases")), json.dumps(x.get("stages")),
                "; ".join(x.get("notes") or []) or "none"))
    vols = p.get("volumes") or {}
    if vols:
        w("docker-rebuilder's volumes after the first builds: %s.\n" % "; ".join(
            "%s: %s" % (os.path.basename(d), ", ".join(v) or "none") for d, v in vols.items()))

    w("## One-line edit → final image\n")
    warm = [(n, (p["alternatives"].get(n) or {}).get("warmup")) for n in ORDER]
    warm = ["%s %s" % (n, fmt_ms(x["total_ms"])) for n, x in warm if x]
    if warm:
        w("Warm-up edit (not counted; the first after the first builds): %s.\n" % ", ".join(warm))
    floor, plain, bk = med(p, "floor"), med(p, "plain"), med(p, "buildkit")
    sizes = p.get("sizes") or {}
    rows = [("floor", "floor: `go build` (`docker exec`) + final image (cp out, create, cp in, commit)"),
            ("cli", "**ours**, cache-mount Dockerfile, CLI `docker-rebuilder build`"),
            ("lsp", "**ours**, cache-mount Dockerfile, LSP save → committed image"),
            ("classic", "ours, original Dockerfile, CLI (control)"),
            ("buildkit", "`DOCKER_BUILDKIT=1 docker build`, cache mounts warm"),
            ("plain", "plain `docker build` (classic, cache warm to the source COPY)")]
    w("| alternative | n | median | × floor | plain ÷ it | BuildKit ÷ it | final image |\n|---|---|---|---|---|---|---|")
    for alt, label in rows:
        a = p["alternatives"].get(alt)
        if a is None:
            w("| %s | – | %s | | | | |" % (label, "skipped" if alt in s["skip"] else "not run"))
            continue
        x = med(p, alt)
        cell = fmt_ms(x) + (" (then failed)" if a.get("error") and x is not None else "")
        if x is None:
            cell = "failed: %s" % (a.get("error") or "no data").splitlines()[0][:160].replace("|", "\\|")
        xf = "" if x is None or floor is None or alt == "floor" else " (%+.0f ms)" % (x - floor)
        w("| %s | %d | %s | %s%s | %s | %s | %s |" % (label, len(a["samples"]), cell, fmt_x(ratio(x, floor)), xf,
                                                  fmt_x(ratio(plain, x)), fmt_x(ratio(bk, x)), size(sizes.get(alt))))
    w("")
    per = [(alt, {x["edit"] + (alt == "lsp"): x["total_ms"] for x in samples(p, alt)}) for alt in ORDER + ("lsp",)]
    per = [(alt, d) for alt, d in per if d]
    if per:
        loads = p.get("edit_load") or []
        w("Per edit (ms; the LSP's edits are its own, after the others; load: 1-minute load average after the edit):\n")
        w("| edit | %s | load |\n|---|%s---|" % (" | ".join(alt for alt, _ in per), "---|" * len(per)))
        for e in sorted({e for _, d in per for e in d}):
            w("| %d | %s | %s |" % (e, " | ".join("%.0f" % d[e] if e in d else "–" for _, d in per),
                                   "%.2f" % loads[e] if e < len(loads) else "–"))
        w("")
    configs = p.get("configs") or {}
    if sizes.get("plain") and configs.get("plain"):
        notes = []
        for alt in ("cli", "lsp", "classic", "floor", "buildkit"):
            if alt in sizes and alt in configs:
                d = multistage.config_diff(configs["plain"], configs[alt])
                notes.append("%s %s%s" % (alt, fmt_bytes(sizes[alt]), ", config differs: " + "; ".join(d) if d else ", same config"))
        w("Final images against plain `docker build`'s (%s): %s.\n" % (fmt_bytes(sizes["plain"]), "; ".join(notes)))

    cs, cc = samples(p, "cli"), samples(p, "classic")
    if cs or cc:
        keys = stage_keys([x["stages"] for x in cs + cc])
        w("Our stages (`stages_ms`, medians) — cache-mount Dockerfile (A, %d edits) vs original (B, %d edits):\n" % (len(cs), len(cc)))
        w("| stage | A (BuildKit Dockerfile) | B (original) |\n|---|---|---|")
        for k in keys:
            w("| %s | %s | %s |" % (k, fmt_ms(median([x["stages"].get(k) for x in cs])), fmt_ms(median([x["stages"].get(k) for x in cc]))))
        w("| the process's own total_ms | %s | %s |" % (fmt_ms(med(p, "cli", "reported_total_ms")), fmt_ms(med(p, "classic", "reported_total_ms"))))
        w("| wall (the whole process) | %s | %s |" % (fmt_ms(med(p, "cli")), fmt_ms(med(p, "classic"))))
        w("")
    fls = samples(p, "floor")
    if fls:
        w("Floor split (medians): `go build` through `docker exec` %s (its own run %s); final image %s (cp out %s, create %s, "
          "cp in %s, commit %s).\n" % (fmt_ms(med(p, "floor", "exec_ms")), fmt_ms(med(p, "floor", "inside_ms")),
                                       fmt_ms(med(p, "floor", "image_ms")), fmt_ms(med(p, "floor", "cp_out_ms")),
                                       fmt_ms(med(p, "floor", "create_ms")), fmt_ms(med(p, "floor", "cp_in_ms")),
                                       fmt_ms(med(p, "floor", "commit_ms"))))
    ls, la = samples(p, "lsp"), p["alternatives"].get("lsp") or {}
    if ls or la:
        w("LSP on A (%d edits%s): save → first diagnostic (`undefined: nope`) %s (the failing `go build` through "
          "`docker exec`, floor: %s); save → committed image %s; its timings line: %s; cycles nobody asked for: %d%s.\n"
          % (len(ls), "; failed: %s" % la["error"].splitlines()[0] if la.get("error") else "", fmt_ms(med(p, "lsp", "diag_ms")),
             fmt_ms(med(p, "floor", "fail_exec_ms")), fmt_ms(med(p, "lsp")),
             ", ".join("%s %s" % (k, fmt_ms(median([x["ok_timings"].get(k) for x in ls])))
                       for k in stage_keys([x["ok_timings"] for x in ls])) or "–",
             len(la.get("extra_cycles") or []),
             " (" + "; ".join("%s: %s" % (x["when"], " | ".join(x["messages"])[:200]) for x in la["extra_cycles"]) + ")"
             if la.get("extra_cycles") else ""))
    if results.get("cleanup_notes"):
        w("Cleanup: %s\n" % "; ".join(results["cleanup_notes"]))
    if results.get("left_after"):
        w("Left after the cleanup: %s\n" % results["left_after"])
    return "\n".join(out)


def left_after(reg, dirs):
    """What the cleanup missed: labelled containers, images and volumes of either copy."""
    left = []
    for d in dirs:
        f = "label=%s=%s" % (LABEL_PROJECT, d)
        for what, cmd in (("containers", ["ps", "-aq", "--filter", f]), ("images", ["images", "-aq", "--filter", f]),
                          ("volumes", ["volume", "ls", "-q", "--filter", f])):
            n = docker(*cmd, check=False).stdout.split()
            if n:
                left.append("%d %s of %s" % (len(n), what, os.path.basename(d)))
    return "; ".join(left) or "nothing labelled"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=5, help="measured edits per alternative (default 5)")
    ap.add_argument("--binary", default=None, help="docker-rebuilder (default: target/release, else target/debug)")
    ap.add_argument("--out", default=None, help="the report (default bench/results/buildkit-<date>.md)")
    ap.add_argument("--skip", default="", help="comma list among " + ",".join(ALTERNATIVES))
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 edits")
    ap.add_argument("--workdir", default=None, help="where the project folders go (default: a new folder in /tmp)")
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
    out = os.path.abspath(args.out or os.path.join(HERE, "results", "buildkit-%s.md" % time.strftime("%Y-%m-%d")))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json_path = os.path.splitext(out)[0] + ".json"
    args.binary = os.path.abspath(args.binary or multistage.default_binary())
    if not os.path.exists(args.binary):
        log("building %s (cargo build --release)" % args.binary)
        subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path", os.path.join(ROOT, "server/Cargo.toml")],
                       cwd=ROOT, check=True)
        args.binary = multistage.default_binary()
    machine = compare.machine_info(args.binary)
    machine["other_containers"] = len(docker("ps", "-q", check=False).stdout.split())
    results = {"command": "python3 " + shlex.join(["bench/buildkit.py"] + sys.argv[1:]), "machine": machine,
               "settings": {"edits": args.edits, "skip": args.skip, "docker": DOCKER},
               "go_lines": multistage.go_lines(), "project": {}}
    run_id = "%d_%x" % (os.getpid(), int(time.time() * 1000))
    workroot = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="bkbench-")
    os.makedirs(workroot, exist_ok=True)
    reg = Registry()
    notes = []
    bench = BuildKitBench(args, reg, run_id, workroot)
    results["project"] = bench.res
    try:
        log("project: %s (cache-mount Dockerfile), %s (original)" % (bench.dir, bench.cdir))
        bench.setup()
        bench.compare()
        if "lsp" not in args.skip and "cli" not in bench.errors:
            bench.attempt("lsp", bench.lsp)
    except Exception as e:  # noqa: BLE001 - the report still goes out
        bench.res["error"] = str(e) if isinstance(e, BenchError) else "%s: %s" % (type(e).__name__, e)
        log("FAILED: %s" % bench.res["error"])
        if not isinstance(e, BenchError):
            traceback.print_exc()
    finally:
        try:
            notes += bench.cleanup_product()
        except Exception as e:  # noqa: BLE001
            notes.append("docker-rebuilder clean: %s" % e)
        notes += reg.cleanup()
        results["cleanup_notes"] = notes
        results["left_after"] = left_after(reg, (bench.dir, bench.cdir))
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
    failed = multistage.failures(results)
    for f in failed:
        log("FAILED: " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

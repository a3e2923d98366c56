#!/usr/bin/env python3
"""A `develop.watch` sync rule: save -> the running service serves the new file, docker-rebuilder
against Compose Watch (`docker compose watch`), the peer users compare us with for this shape.

The project: a compose service built from a Dockerfile that copies a static site (`COPY www /www`)
and serves it with busybox httpd, published on a loopback port, with Compose Watch's rule
`action: sync, path: ./www, target: /www` (what an app that reloads its own files declares: a
Flask app under its debug server, a Vite dev server). The edit rewrites `www/index.html`; the
answer is `GET /index.html` with the new text. Alternatives, blocks in one run on one machine,
each with a project of its own (one unmeasured warm-up edit, then --edits measured), repeated
--rounds times in turn:

  ours      `docker-rebuilder watch` of --binary: the file synced into the builder, the image
            committed, the file copied into the running container (beside the commit).
  compose   `docker compose watch` (compose v2, Debian's plugin from .ci/engine.sh): the file
            copied into the running container; no image is made.

Timer: from right after the write to the first answer with the new text (a new connection every
3 ms). Cleanup per block: the watch stopped, `docker compose down -t 1 --rmi local`,
`docker-rebuilder clean`, then the images of ours that the run made (by label) and the service's
image.

Usage: python3 bench/compose_watch.py --binary target/release/docker-rebuilder [--edits 5]
           [--rounds 3] [--out FILE.md]
Needs a running engine, compose v2's plugin and busybox:local (.ci/engine.sh makes both).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from compare import BenchError, docker, log, machine_info, median  # noqa: E402
from compose import COMPOSE_V2_PLUGIN, free_port  # noqa: E402

DOCKERFILE = 'FROM busybox:local\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
COMPOSE_FILE = """services:
  web:
    build: .
    init: true
    ports: ["127.0.0.1:%d:8080"]
    develop:
      watch:
        - action: sync
          path: ./www
          target: /www
"""
ANSWER_TIMEOUT = 30.0


def fetch(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/index.html" % port, timeout=1) as r:
            return r.read().decode(errors="replace")
    except Exception:
        return ""


class Block:
    """One alternative's project: made, brought up by compose, watched, edited, removed."""

    def __init__(self, args, alt, n):
        self.args, self.alt = args, alt
        self.dir = tempfile.mkdtemp(prefix="composewatch-")
        self.name = "composewatch%d%s%d" % (os.getpid(), alt, n)
        self.port = free_port()
        self.config = os.path.join(self.dir, ".docker")
        os.makedirs(os.path.join(self.config, "cli-plugins"))
        os.symlink(COMPOSE_V2_PLUGIN, os.path.join(self.config, "cli-plugins", "docker-compose"))
        self.env = dict(os.environ, DOCKER_CONFIG=self.config, XDG_CACHE_HOME=os.path.join(self.dir, ".cache"))
        os.makedirs(os.path.join(self.dir, "www"))
        self.write("www/index.html", "version 0\n")
        self.write("Dockerfile", DOCKERFILE)
        self.write("compose.yaml", COMPOSE_FILE % self.port)
        self.watch = None

    def write(self, rel, text):
        with open(os.path.join(self.dir, rel), "w") as f:
            f.write(text)

    def compose(self, *words):
        out = subprocess.run([COMPOSE_V2_PLUGIN, "-p", self.name, *words], cwd=self.dir, env=self.env,
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise BenchError("docker compose %s: %s" % (" ".join(words), (out.stdout + out.stderr)[-2000:]))

    def start(self):
        self.compose("up", "-d", "--build", "--wait")
        if self.alt == "compose":
            cmd = [COMPOSE_V2_PLUGIN, "-p", self.name, "watch"]
            ready = "Watch enabled"
        else:
            cmd = [self.args.binary, "watch", "--json", "-p", self.name]
            ready = '"cycle"'
        self.watch = subprocess.Popen(cmd, cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = self.watch.stdout.readline()
            if not line:
                raise BenchError("%s ended before it was ready" % " ".join(cmd))
            if ready in line:
                break
        # Its output goes on being read, so that no pipe fills.
        self.drain = subprocess.Popen(["cat"], stdin=self.watch.stdout, stdout=subprocess.DEVNULL)

    def edit(self, token):
        time.sleep(0.5)
        started = time.monotonic()
        self.write("www/index.html", token + "\n")
        while token not in fetch(self.port):
            if time.monotonic() - started > ANSWER_TIMEOUT:
                raise BenchError("%s: no answer with %r in %.0f s" % (self.alt, token, ANSWER_TIMEOUT))
            time.sleep(0.003)
        return (time.monotonic() - started) * 1000

    def cleanup(self):
        if self.watch is not None:
            try:
                os.killpg(self.watch.pid, signal.SIGINT)
                self.watch.wait(timeout=15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.watch.pid, signal.SIGKILL)
                self.watch.wait()
            self.drain.wait()
        subprocess.run([COMPOSE_V2_PLUGIN, "-p", self.name, "down", "-t", "1", "--rmi", "local"], cwd=self.dir,
                       env=self.env, capture_output=True)
        if self.alt == "ours":
            subprocess.run([self.args.binary, "clean", "-p", self.name, self.dir], cwd=self.dir, env=self.env,
                           capture_output=True)
        # The image `clean` keeps (ours: the deployable image) and our untagged ones, by label.
        label = "label=dev.docker-rebuilder.project=%s#web" % os.path.realpath(self.dir)
        ours = docker("images", "-q", "--filter", label, check=False).stdout.split()
        docker("rmi", "-f", "%s-web" % self.name, *ours, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--edits", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one round of 2 edits: proves it runs")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.quick:
        args.edits, args.rounds = 2, 1
    args.binary = os.path.abspath(args.binary)
    if not os.path.isfile(COMPOSE_V2_PLUGIN):
        raise SystemExit("compose v2 is not at %s (.ci/engine.sh installs it)" % COMPOSE_V2_PLUGIN)
    alts = ["ours", "compose"]
    times = {alt: [] for alt in alts}
    warm = {alt: [] for alt in alts}
    for rnd in range(args.rounds):
        for alt in alts:
            block = Block(args, alt, rnd)
            try:
                block.start()
                for i in range(args.edits + 1):
                    took = block.edit("%s round %d edit %d %f" % (alt, rnd, i, time.time()))
                    (warm if i == 0 else times)[alt].append(took)
                    log("%s round %d edit %d: %.0f ms" % (alt, rnd, i, took))
            finally:
                block.cleanup()
    ours, compose = median(times["ours"]), median(times["compose"])
    lines = [
        "# develop.watch sync: save -> the new file served, docker-rebuilder vs `docker compose watch` (%s)"
        % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "",
        "Command: `python3 bench/compose_watch.py %s`" % " ".join(sys.argv[1:]),
        "",
        "Machine: {nproc} cores, Docker engine {engine} ({driver}), kernel {kernel}, load average {load_start} at "
        "the start; docker-rebuilder `{binary}` (git {git}); compose v2: `{compose}`.".format(
            compose=COMPOSE_V2_PLUGIN, **machine_info(args.binary)),
        "",
        "A busybox httpd serving `www/` (`COPY www /www`), Compose Watch's rule `sync ./www -> /www`; each "
        "alternative a project of its own per round, %d round(s) in turn, one unmeasured warm-up edit each, "
        "then %d measured. Timer: the write to the first answer with the new text." % (args.rounds, args.edits),
        "",
        "| alternative | n | median | min–max | ÷ ours |",
        "|---|---|---|---|---|",
    ]
    for alt, what in (("ours", "`docker-rebuilder watch` (image committed too)"),
                      ("compose", "`docker compose watch` (no image)")):
        xs = times[alt]
        lines.append("| %s | %d | %.0f ms | %.0f–%.0f ms | %s |" % (
            what, len(xs), median(xs), min(xs), max(xs),
            "" if alt == "ours" else "%.1f×" % (median(xs) / ours)))
    lines += ["", "Warm-up edits (not counted): " + ", ".join(
        "%s %s" % (alt, " / ".join("%.0f ms" % w for w in warm[alt])) for alt in alts), ""]
    report = "\n".join(lines)
    print(report)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(report)
    log("ours %.0f ms, compose watch %.0f ms: %.1f×" % (ours, compose, compose / ours))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmarks docker-rebuilder on real code (Lua 5.4 from the lua-src crate), in one run:

  * CLI: first build; one-line edits through `docker-rebuilder build` (per-phase split);
    the same edit through a plain `docker build` (layer cache warm up to the source COPY);
  * LSP: save -> diagnostics for an edit that breaks the build, and save -> committed image
    for the fix, through the real server over stdio; how much of it is ours (everything but
    the build command's own run in the container); the idle server's memory.

Usage: python3 bench/rebuild.py [--edits N] [--binary PATH]
Needs a running engine and debian:bookworm-slim (bash .ci/engine.sh). Prints a Markdown report.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import queue
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def median(xs):
    return statistics.median(xs) if xs else float("nan")


class Lsp:
    """A tiny LSP client over the server's stdio."""

    def __init__(self, binary):
        self.p = subprocess.Popen([binary, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.q = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.p.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode().strip()
                if not line:
                    break
                k, v = line.split(":", 1)
                headers[k.lower()] = v.strip()
            body = out.read(int(headers["content-length"]))
            self.q.put((time.monotonic(), json.loads(body)))

    def send(self, msg):
        data = json.dumps(msg).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.p.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == i and "method" not in m, 600)[1]

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            t, m = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            if "method" in m and "id" in m:  # server request (progress create): accept
                self.send({"jsonrpc": "2.0", "id": m["id"], "result": None})
                continue
            if pred(m):
                return t, m


def uri(path):
    return "file://" + path


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text, (path, old)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--cli-edits", type=int, default=5)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/docker-rebuilder"))
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)

    work = tempfile.mkdtemp(prefix="bench-")
    project = os.path.join(work, "lua54-bench-%d" % os.getpid())
    sh("bash", os.path.join(HERE, "lua/fetch.sh"), project)
    image = os.path.basename(project) + ":latest"
    # A one-line edit in real Lua code: a function added before lua_ident in lapi.c.
    target = os.path.join(project, "src/lapi.c")
    anchor = "const char lua_ident[] ="
    # Unique per run: the layer cache must never have seen an edit before (it would make a
    # plain `docker build` look instant).
    run = "%x" % int(time.time() * 1000)
    report = []

    def cli_build():
        t = time.monotonic()
        out = subprocess.run([args.binary, "build", "--json", project], capture_output=True, text=True)
        return time.monotonic() - t, json.loads(out.stdout)

    try:
        # The first build compiles everything (the apt layer may come from the cache).
        with open(os.path.join(project, "src/main.c"), "a") as f:
            f.write("/* run %s */\n" % run)
        first, v = cli_build()
        assert v["outcome"] == "image_built", v
        report.append(("first build (docker build + builder)", first))

        phases = {}
        totals = []
        for i in range(args.cli_edits):
            edit(target, anchor, "int bench_cli_%s_%d(void) { return %d; }\n" % (run, i, i) + anchor)
            t, v = cli_build()
            assert v["outcome"] == "succeeded", v
            totals.append(t)
            for k, ms in v["phases_ms"].items():
                phases.setdefault(k, []).append(ms / 1000)

        plain = []
        plain_tag = os.path.basename(project) + "-plain"
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        subprocess.run(["docker", "build", "-q", "-t", plain_tag, project], check=True, env=env, capture_output=True)
        for i in range(min(3, args.cli_edits)):
            edit(target, anchor, "int bench_plain_%s_%d(void) { return %d; }\n" % (run, i, i) + anchor)
            t = time.monotonic()
            subprocess.run(["docker", "build", "-q", "-t", plain_tag, project], check=True, env=env, capture_output=True)
            plain.append(time.monotonic() - t)
        subprocess.run(["docker", "rmi", "-f", "--no-prune", plain_tag], capture_output=True)
        # Bring the builder up to date with those edits before measuring the LSP.
        cli_build()

        # LSP: error edits and their fixes.
        lsp = Lsp(args.binary)
        lsp.request("initialize", {"processId": os.getpid(), "rootUri": None,
                                   "capabilities": {"window": {"workDoneProgress": True}},
                                   "workspaceFolders": [{"uri": uri(project), "name": "lua"}]})
        lsp.notify("initialized", {})
        is_status = lambda s: (lambda m: m.get("method") == "docker-rebuilder/status" and m["params"]["state"] == s)
        is_timings = lambda m: m.get("method") == "window/logMessage" and m["params"]["message"].startswith("timings:")
        # The cycle's timings are logged just before its final status.
        lsp.wait(is_timings, 600)
        lsp.wait(is_status("succeeded"), 60)
        time.sleep(1.0)
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%d/status" % lsp.p.pid).read()).group(1))

        to_diag, to_diag_ours, to_commit, to_commit_ours, exec_fail, exec_ok = [], [], [], [], [], []
        for i in range(args.edits):
            line = "int bench_lsp_%s_%d(void) { return undefined_%d; }" % (run, i, i)
            edit(target, anchor, line + "\n" + anchor)
            t0 = time.monotonic()
            lsp.notify("textDocument/didSave", {"textDocument": {"uri": uri(target)}})
            t1, _ = lsp.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                             and m["params"]["uri"] == uri(target) and m["params"]["diagnostics"], 300)
            _, timings = lsp.wait(is_timings, 300)
            ex = float(re.search(r"exec=(\d+)ms", timings["params"]["message"]).group(1)) / 1000
            to_diag.append(t1 - t0)
            exec_fail.append(ex)
            to_diag_ours.append(t1 - t0 - ex)
            lsp.wait(is_status("failed"), 60)

            edit(target, "return undefined_%d;" % i, "return %d;" % i)
            t0 = time.monotonic()
            lsp.notify("textDocument/didSave", {"textDocument": {"uri": uri(target)}})
            _, timings = lsp.wait(is_timings, 300)
            t1 = time.monotonic()
            msg = timings["params"]["message"]
            ex = float(re.search(r"exec=(\d+)ms", msg).group(1)) / 1000
            assert "commit=" in msg, msg
            to_commit.append(t1 - t0)
            exec_ok.append(ex)
            to_commit_ours.append(t1 - t0 - ex)
        lsp.request("shutdown", None)
        lsp.notify("exit", None)

        ms = lambda s: "%.0f ms" % (s * 1000)
        print("## docker-rebuilder on Lua 5.4 (%s)\n" % time.strftime("%Y-%m-%d"))
        print("| what | median |\n|---|---|")
        print("| first build (docker build + builder) | %.1f s |" % first)
        print("| one-line edit, `docker-rebuilder build` (CLI, whole process) | %s |" % ms(median(totals)))
        for k in ("detect", "sync", "exec", "commit", "prune"):
            if k in phases:
                print("| &nbsp;&nbsp;%s | %s |" % (k, ms(median(phases[k]))))
        print("| same edit, plain `docker build` (cache warm to COPY) | %.1f s |" % median(plain))
        print("| LSP save → diagnostics (error edit), %d edits | %s |" % (len(to_diag), ms(median(to_diag))))
        print("| &nbsp;&nbsp;of which the build command's own run | %s |" % ms(median(exec_fail)))
        print("| &nbsp;&nbsp;of which ours | %s |" % ms(median(to_diag_ours)))
        print("| LSP save → committed image (fix edit) | %s |" % ms(median(to_commit)))
        print("| &nbsp;&nbsp;of which the build command's own run | %s |" % ms(median(exec_ok)))
        print("| &nbsp;&nbsp;of which ours (detect, sync, exec start, commit, prune) | %s |" % ms(median(to_commit_ours)))
        print("| idle LSP server RSS | %.1f MB |" % (rss_kb / 1024))
        print("\nplain docker build / CLI rebuild: %.1fx" % (median(plain) / median(totals)))
    finally:
        for cid in sh("docker", "ps", "-aq", "--filter", "label=dev.docker-rebuilder.project=" + project).split():
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", "--no-prune", image], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

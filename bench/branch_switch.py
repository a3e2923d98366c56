#!/usr/bin/env python3
"""Measures a branch switch under `docker-rebuilder watch`: 1,000 files of real projects (the
Rust crates in cargo's registry on this machine: source no one on the team wrote) change in one
`git checkout`; the time from the checkout's start until the watch loop's cycle has mirrored
them (sync phase) and finished (a trivial build command), against `docker cp` of the same tree
into a running container. Also the watch process's CPU while idle, and its memory.

Usage: python3 bench/branch_switch.py [--files 1000] [--switches 6] [--binary PATH]
Needs a running engine and busybox:local (bash .ci/engine.sh). Prints a Markdown report.
"""

import argparse
import glob
import json
import os
import queue
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def real_files(count):
    """2 × count source files (< 64 KiB) from cargo's registry, in a stable order."""
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    found = sorted(
        f
        for f in glob.glob(os.path.join(home, "registry/src/*/*/**/*.rs"), recursive=True)
        if os.path.getsize(f) < 64 * 1024
    )
    if len(found) < 2 * count:
        raise SystemExit(f"only {len(found)} source files in cargo's registry; build the project first")
    return found[: 2 * count]


def git(project, *args):
    return sh("git", "-C", project, *args)


def make_project(root, count):
    project = os.path.join(root, "switch")
    os.makedirs(os.path.join(project, "src"))
    with open(os.path.join(project, "Dockerfile"), "w") as f:
        f.write("FROM busybox:local\nWORKDIR /app\nCOPY src ./src\nRUN find src -type f | wc -l > /tmp/count\n")
    files = real_files(count)
    names = [f"src/m{i // 100:02d}/f{i:04d}.rs" for i in range(count)]
    for name, source in zip(names, files[:count]):
        os.makedirs(os.path.dirname(os.path.join(project, name)), exist_ok=True)
        shutil.copyfile(source, os.path.join(project, name))
    git(project, "init", "-q", "-b", "main")
    git(project, "-c", "user.email=b@e", "-c", "user.name=bench", "add", "-A")
    git(project, "-c", "user.email=b@e", "-c", "user.name=bench", "commit", "-qm", "one")
    git(project, "checkout", "-qb", "other")
    # The other branch: every file holds another real file's content.
    for name, source in zip(names, files[count:]):
        shutil.copyfile(source, os.path.join(project, name))
    git(project, "-c", "user.email=b@e", "-c", "user.name=bench", "commit", "-qam", "two")
    git(project, "checkout", "-q", "main")
    return project


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--switches", type=int, default=6)
    ap.add_argument("--idle-seconds", type=int, default=30)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/docker-rebuilder"))
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="dr-bench-switch-")
    project = make_project(root, args.files)
    proc = subprocess.Popen([args.binary, "watch", "--json", project], stdout=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put((time.monotonic(), l)) for l in proc.stdout], daemon=True).start()
    try:
        first = json.loads(lines.get(timeout=600)[1])
        assert first["outcome"] in ("image_built", "succeeded", "up_to_date"), first
        builder = json.loads(sh(args.binary, "status", "--json", project))["builder"]
        rows = []
        for i in range(args.switches):
            branch = "other" if i % 2 == 0 else "main"
            time.sleep(1)
            start = time.monotonic()
            git(project, "checkout", "-q", branch)
            checkout = time.monotonic() - start
            arrived, line = lines.get(timeout=120)
            cycle = json.loads(line)
            extra = []
            try:
                extra.append(lines.get(timeout=3))
            except queue.Empty:
                pass
            rows.append(
                {
                    "checkout": checkout,
                    "until_done": arrived - start,
                    "sync": cycle["phases_ms"].get("sync", 0) / 1000,
                    "detect": cycle["phases_ms"].get("detect", 0) / 1000,
                    "uploaded": cycle["uploaded"],
                    "cycles": 1 + len(extra),
                    "outcome": cycle["outcome"],
                }
            )
        # docker cp of the same tree into the same running container, for comparison.
        cps = []
        for _ in range(args.switches):
            start = time.monotonic()
            sh("docker", "cp", os.path.join(project, "src") + "/.", f"{builder}:/tmp/cp-target")
            cps.append(time.monotonic() - start)
            sh("docker", "exec", builder, "rm", "-rf", "/tmp/cp-target")
        time.sleep(3)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        rss = rss_mb(proc.pid)
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run([args.binary, "clean", project], capture_output=True)
        image = os.path.basename(project)
        subprocess.run(["docker", "rmi", "-f", "--no-prune", f"{image}:latest"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

    med = lambda key: statistics.median(r[key] for r in rows)
    print(f"### Branch switch: {args.files} real source files changed by one `git checkout` ({args.switches} switches, medians)\n")
    print("| measure | time |")
    print("|---|---|")
    print(f"| `git checkout` itself | {med('checkout') * 1000:.0f} ms |")
    print(f"| docker-rebuilder: detect (hash what changed) | {med('detect') * 1000:.0f} ms |")
    print(f"| docker-rebuilder: sync (one archive, {int(med('uploaded'))} files) | {med('sync') * 1000:.0f} ms |")
    print(f"| docker-rebuilder: checkout start → cycle done (incl. trivial build + commit) | {med('until_done') * 1000:.0f} ms |")
    print(f"| `docker cp` of the same tree | {statistics.median(cps) * 1000:.0f} ms |")
    print(f"| ratio docker cp / our sync | {statistics.median(cps) / med('sync'):.1f}× |")
    print(f"\nCycles per switch: {sorted(set(r['cycles'] for r in rows))}; outcomes: {sorted(set(r['outcome'] for r in rows))}.")
    print(f"Watch process while idle: {idle_cpu:.2f} % CPU over {args.idle_seconds} s, {rss:.1f} MB RSS.")


if __name__ == "__main__":
    main()

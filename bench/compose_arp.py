#!/usr/bin/env python3
"""Why a service alone on its compose network answers up to 1 s after its recreate: measures the
engine artifact bench/compose.py's projects avoid with a second service.

A compose project with one service (busybox httpd on a published loopback port) is recreated by
`docker-compose up -d --no-deps --force-recreate web` (no build, no docker-rebuilder: only the
engine's recreate), while a prober opens a new connection every 20 ms, each on its own thread.
Measured per recreate: when the command exited and when the first answer with the new text came
(ms from the command's start). Then the same with a second service (`side`, busybox sleeping) on
the network, and once with the prober starting only after the command exited.

On engines before moby 28 (which sends unsolicited ARPs when an endpoint comes up): with the
container alone, the bridge loses its carrier while the container is down and the kernel flushes
its ARP entries; a probe then leaves the address unresolved until the kernel's next try, 1 s
later, and every connection in between waits for it. With a second container, or with no probe
during the recreate, the answer comes as the command exits.

Usage: python3 bench/compose_arp.py [--recreates N] [--out FILE.md]
Needs a running engine, docker-compose and busybox:local (.ci/engine.sh). Removes what it made.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

POLL_S = 0.020
WEB = """services:
  web:
    image: busybox:local
    command: ["sh", "-c", "mkdir -p /w && echo $$TEXT > /w/index.html && exec httpd -f -p 8080 -h /w"]
    environment:
      TEXT: "${TEXT:-first}"
    stop_signal: SIGKILL
    ports: ["127.0.0.1:${PORT}:8080"]
"""
SIDE = """  side:
    image: busybox:local
    command: ["sleep", "1000000"]
    stop_signal: SIGKILL
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                b = s.recv(4096)
                if not b:
                    return data.decode("utf-8", "replace")
                data += b
    except OSError:
        return ""


def recreate(folder, env, text, probe_during):
    """(ms the command took, ms to the first answer holding `text`), both from the command's start."""
    env = dict(env, TEXT=text)
    t0 = time.monotonic()
    first = []
    lock = threading.Lock()
    answered = threading.Event()
    exited = threading.Event()

    def one():
        if text in get(int(env["PORT"])):
            with lock:
                if not first:
                    first.append(time.monotonic() - t0)
            answered.set()

    def prober():
        if not probe_during:
            exited.wait()
        while not answered.is_set() and time.monotonic() - t0 < 30:
            threading.Thread(target=one, daemon=True).start()
            time.sleep(POLL_S)

    th = threading.Thread(target=prober)
    th.start()
    subprocess.run(["docker-compose", "up", "-d", "--no-deps", "--force-recreate", "web"], cwd=folder, env=env,
                   check=True, capture_output=True)
    took = time.monotonic() - t0
    exited.set()
    th.join()
    if not first:
        raise SystemExit("compose_arp: the service never answered %r" % text)
    return took * 1000, first[0] * 1000


def shape(name, with_side, probe_during, n):
    folder = tempfile.mkdtemp(prefix="composearp_")
    with open(os.path.join(folder, "docker-compose.yml"), "w") as f:
        f.write(WEB + (SIDE if with_side else ""))
    env = dict(os.environ, PORT=str(free_port()), COMPOSE_PROJECT_NAME=os.path.basename(folder))
    try:
        subprocess.run(["docker-compose", "up", "-d"], cwd=folder, env=env, check=True, capture_output=True)
        recreate(folder, env, "warmup", probe_during)
        rows = [recreate(folder, env, "%s-%d" % (name, i), probe_during) for i in range(n)]
    finally:
        subprocess.run(["docker-compose", "down", "-t", "0", "-v"], cwd=folder, env=env, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recreates", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    shapes = [("alone", False, True, "the service alone on its network, probed during the recreate"),
              ("with-side", True, True, "a second service on the network, probed during the recreate"),
              ("alone-late", False, False, "the service alone, probed only after the command exited")]
    lines = ["| shape | n | command exited (median) | first new answer (median) | answer − exit (median, min–max) |",
             "|---|---|---|---|---|"]
    for name, side, during, what in shapes:
        rows = shape(name, side, during, args.recreates)
        gaps = [a - c for c, a in rows]
        lines.append("| %s | %d | %.0f ms | %.0f ms | %+.0f ms (%+.0f – %+.0f) |" % (
            what, len(rows), median([c for c, _ in rows]), median([a for _, a in rows]), median(gaps),
            min(gaps), max(gaps)))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

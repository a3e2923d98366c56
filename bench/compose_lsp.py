"""bench/compose.py's `lsp` alternative: the same edit saved through `docker-rebuilder lsp` over
stdio, as an editor saves (the file written, then `textDocument/didSave`), timed to the service's
first answer with the new code. Unlike `watch`, an editor's save needs no file-system watcher to
settle first: this is the path a person in an editor gets.

The server runs in the compose folder with the run's environment (API_PORT for compose's
interpolation when it recreates the service, XDG_CACHE_HOME, DOCKER_BUILDKIT=0, the PATH with the
20.10 `docker`), its workspace folder the compose folder; its first cycle (untimed) finds the
builder `watch` left and the service on our image. Per edit: the cycle's `timings:` log line
(`stages_ms`: build, replay, commit...) and its `docker-rebuilder/status` (`succeeded`, naming the
service) are kept. Its stderr goes to the run's log folder."""

import os
import time

from compare import BenchError, bench_lsp, log, parse_timings  # noqa: E402

LSP_FIRST_CYCLE_S = 600


def is_status(m, *states):
    return m.get("method") == "docker-rebuilder/status" and m["params"].get("state") in states


def is_timings(m):
    return m.get("method") == "window/logMessage" and m["params"]["message"].startswith("timings:")


def lsp_block(bench):
    """The `lsp` alternative of `bench` (a compose.ComposeBench): one warm-up edit, then
    --edits measured ones."""
    a = bench.alt("lsp")
    log("lsp: docker-rebuilder lsp in %s (didSave after each write)" % bench.dir)
    with bench_lsp(bench.args.binary, os.path.join(bench.logs, "lsp-stderr.log"), cwd=bench.dir, env=bench.env) as lsp:
        session(bench, lsp, a)
    bench.check("lsp", bench.last)


def session(bench, lsp, a):
    lsp.request_timeout("initialize", {
        "processId": os.getpid(), "rootUri": None, "capabilities": {"window": {"workDoneProgress": True}},
        "workspaceFolders": [{"uri": "file://" + bench.dir, "name": os.path.basename(bench.dir)}]}, 120)
    lsp.notify("initialized", {})
    # The first cycle: the builder `watch` left, found up to date (or brought up to date).
    t = time.monotonic()
    _, first = lsp.wait(lambda m: is_status(m, "succeeded", "failed"), LSP_FIRST_CYCLE_S)
    bench.res["setup"]["lsp_first_cycle"] = {"state": first["params"].get("state"),
                                             "message": first["params"].get("message"),
                                             "wall_ms": (time.monotonic() - t) * 1000}
    if first["params"].get("state") != "succeeded":
        raise BenchError("the LSP's first cycle: %s" % first["params"])
    bench.wait_answer(bench.last, time.monotonic(), 120)
    a["warmup"] = edit(bench, lsp, 0)
    for i in range(1, bench.args.edits + 1):
        a["samples"].append(edit(bench, lsp, i))


def edit(bench, lsp, i):
    s = bench.string_for("lsp", i)
    time.sleep(1.0)
    seen = []
    lsp.drain(seen)
    extra_before = [m["params"]["message"] for _, m in seen if is_timings(m)]
    seen = []
    t0 = bench.write_edit(s)
    lsp.notify("textDocument/didSave", {"textDocument": {"uri": "file://" + bench.path}})

    def done():
        lsp.drain(seen)
        for t, m in seen:
            if is_status(m, "failed"):
                return False, t, "the cycle failed: %s" % m["params"]
            if is_status(m, "succeeded"):
                return True, t, None
        if lsp.p.poll() is not None:
            return False, time.monotonic(), "docker-rebuilder lsp exited %s" % lsp.p.returncode
        return None

    ms, polls, prev = bench.wait_answer(s, t0, bench.p.answer_s["ours"], done)
    # The cycle's end (its service phase's compose may finish just after the answer).
    deadline = time.monotonic() + 120
    while not any(is_status(m, "succeeded", "failed") for _, m in seen):
        if time.monotonic() > deadline:
            raise BenchError("no status from the LSP server within 120 s of the answer")
        time.sleep(0.02)
        lsp.drain(seen)
    t_status, st = next((t, m) for t, m in seen if is_status(m, "succeeded", "failed"))
    if st["params"]["state"] != "succeeded":
        raise BenchError("the cycle: %s" % st["params"])
    timings = next((parse_timings(m["params"]["message"]) for _, m in seen if is_timings(m)), {})
    bench.last = s
    sample = {"edit": i, "string": s, "total_ms": ms, "polls": polls, "answered_before": prev["answer"],
              "old_answer_ms": prev["at_ms"], "down_ms": ms - prev["at_ms"] if prev["at_ms"] is not None else None,
              "started_ms": bench.started_ms(), "status_ms": (t_status - t0) * 1000, "status": st["params"].get("message"), "stages": timings,
              "build_ms": timings.get("build"),
              "over_build_ms": ms - timings["build"] if timings.get("build") is not None else None,
              "extra_cycles_before": extra_before}
    log("  lsp %s: %.0f ms to the answer (build %s ms; status at %.0f ms)"
        % ("warm-up" if i == 0 else "edit %d" % i, ms, timings.get("build"), sample["status_ms"]))
    return sample

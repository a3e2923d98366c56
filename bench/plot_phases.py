#!/usr/bin/env python3
"""Plots the long run of bench/compare.py: per edit, docker-rebuilder's stages stacked (the build
command's own run at the bottom, apart from ours above it), and, below, the commit time and the
committed layer's size per edit.

Usage (compare.py runs it with matplotlib from its venv):
    python plot_phases.py RESULTS.json PROJECT OUT.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# docker-rebuilder's stage names (`stages_ms`), then the older `phases_ms` ones.
ORDER = ("build", "exec", "detect", "archive", "upload", "sync", "exec_start", "commit", "prune", "rebase")
COLORS = {
    "build": "#9e9e9e", "exec": "#9e9e9e", "detect": "#1f77b4", "archive": "#17becf", "upload": "#2ca02c",
    "sync": "#2ca02c", "exec_start": "#bcbd22", "commit": "#d62728", "prune": "#9467bd", "rebase": "#ff7f0e",
}


def main():
    json_path, project, out = sys.argv[1:4]
    with open(json_path) as f:
        results = json.load(f)
    long = results["projects"][project]["long"]
    samples = long["samples"]
    edits = [s["edit"] for s in samples]
    seen = []
    for s in samples:
        seen += [k for k in s["stages"] if k not in seen]
    keys = [k for k in ORDER if k in seen] + [k for k in seen if k not in ORDER]

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 8), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    base = [0.0] * len(samples)
    for k in keys:
        vals = [float(s["stages"].get(k) or 0) for s in samples]
        ours = k not in ("build", "exec")
        top.bar(edits, vals, bottom=base, label=k + ("" if ours else " (the build command: not ours)"),
                color=COLORS.get(k), hatch=None if ours else "//", edgecolor="white" if ours else "#616161",
                linewidth=0.3)
        base = [b + v for b, v in zip(base, vals)]
    top.plot(edits, [s["total_ms"] for s in samples], "k.", markersize=4, label="CLI wall time (whole process)")
    top.set_ylabel("ms")
    top.set_title("%s: %d consecutive edits through `docker-rebuilder build` (5 files in rotation)" % (project, len(samples)))
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    top.grid(axis="y", alpha=0.3)

    commit = [s.get("commit_ms") for s in samples]
    bottom.plot(edits, [c if c is not None else float("nan") for c in commit], "-o", color=COLORS["commit"],
                markersize=3, label="commit (ms)")
    bottom.set_ylabel("commit ms", color=COLORS["commit"])
    bottom.set_ylim(0, max([c for c in commit if c is not None] or [1]) * 1.15 or 1)
    bottom.set_xlabel("edit")
    bottom.grid(axis="y", alpha=0.3)
    right = bottom.twinx()
    mb = lambda b: b / 1048576 if b is not None else float("nan")  # noqa: E731
    right.bar(edits, [mb(s.get("layer_bytes")) for s in samples], alpha=0.3, color="#1f77b4", label="committed layer (MB)")
    if any(s.get("builder_diff_bytes") is not None for s in samples):
        right.plot(edits, [mb(s.get("builder_diff_bytes")) for s in samples], "--", color="#1f77b4",
                   label="builder diff (MB)")
    right.set_ylabel("MB", color="#1f77b4")
    sizes = [mb(s.get(k)) for s in samples for k in ("layer_bytes", "builder_diff_bytes") if s.get(k) is not None]
    right.set_ylim(0, max(sizes or [1]) * 1.15 or 1)
    lines = bottom.get_legend_handles_labels()
    rlines = right.get_legend_handles_labels()
    bottom.legend(lines[0] + rlines[0], lines[1] + rlines[1], fontsize=8, loc="upper left", bbox_to_anchor=(1.06, 1.0))
    # The commit line above the size bars (the twin axis is drawn on top otherwise).
    bottom.set_zorder(right.get_zorder() + 1)
    bottom.patch.set_visible(False)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()

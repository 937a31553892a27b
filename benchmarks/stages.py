#!/usr/bin/env python
"""Where a quick preset's wall time goes: `toymodels reproduce <toy> --preset quick` for every
toy, each in a fresh process (so each compile is a first call, as a user meets it) and a fresh
run directory, with the stage seconds its report.json records: compile (the training chunk's
first call), train (compile included), analyse and figures, beside the process's whole wall time
(imports and writing included).

    PYTHONPATH=. python benchmarks/stages.py                         # every toy
    PYTHONPATH=. python benchmarks/stages.py --toys grokking,saes    # some
    PYTHONPATH=. python benchmarks/stages.py --quick                 # tiny configs, a smoke run

--repeats is not used: each preset is run once (minutes each on a 2-core CPU).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, environment, finish, parser, rounded

TOYS = ("grokking", "superposition", "universality", "memorisation", "saes")
# Small enough to run in seconds (--quick): the first few items of each toy's tiny test config.
TINY = {
    "grokking": ("p=11", "d_model=16", "n_heads=2", "d_head=8", "d_mlp=32", "steps=40", "eval_every=10"),
    "superposition": ("steps=40", "eval_every=20", "batch=64", "geometry_n=16", "geometry_m=4", "phase_points=3"),
    "universality": ("group=S3", "d_embed=16", "d_hidden=16", "steps=40", "eval_every=10", "log_checkpoints=4"),
    "memorisation": ("n=6,10", "width=2,4", "d=8", "max_n=16", "max_width=4", "steps=60", "eval_every=20"),
    "saes": ("n_features=8", "d=4", "dict_size=4,8", "max_dict_size=8", "steps=40", "eval_every=20", "batch=64"),
}


def stage_times(toy: str, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "toymodels.cli", "reproduce", toy, "--preset", "quick", "--out", f"{tmp}/run",
               "--no-progress"]
        if quick:
            cmd += [a for item in TINY[toy] for a in ("--set", item)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1):  # 1: a claim failed, which is not this benchmark's business
            raise SystemExit(f"{toy}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
        report = json.loads((Path(tmp) / "run" / "report.json").read_text())
    t = report["timings"]
    row = {"compile_s": t.get("compile_s", 0.0), "train_s": t["train_s"],
           "train_excl_compile_s": rounded(t["train_s"] - t.get("compile_s", 0.0)),
           "analyse_s": t["analyse_s"], "figures_s": t["figures_s"], "process_wall_s": rounded(wall),
           "instances": len(report["instances"])}
    row["outside_stages_s"] = rounded(wall - t["train_s"] - t["analyse_s"] - t["figures_s"])  # imports, writing
    stages = {k: row[k] for k in ("compile_s", "train_excl_compile_s", "analyse_s", "figures_s", "outside_stages_s")}
    row["largest_stage"] = max(stages, key=stages.get)
    row["after_training_share"] = rounded((t["analyse_s"] + t["figures_s"]) / wall, 3)
    return row


def main(argv=None) -> dict:
    ap = parser(__doc__, repeats=1)
    ap.add_argument("--toys", default=",".join(TOYS), help="comma list of toys (default: all)")
    args = ap.parse_args(argv)
    rows = {}
    for toy in args.toys.split(","):
        if not args.silent:
            print(f"{toy} quick ...", file=sys.stderr, flush=True)
        rows[toy] = stage_times(toy, args.quick)
    result = {"benchmark": "quick presets, seconds per stage" + (" [quick smoke]" if args.quick else ""),
              **environment(), "presets": rows,
              "note": "one run per toy, each in its own process; compile_s is inside train_s"}
    finish(result, args, "stages")
    return result


if __name__ == "__main__":
    main()

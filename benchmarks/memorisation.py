#!/usr/bin/env python
"""Speed benchmark of the fact-lookup memoriser: instance-steps per second of the engine's own
compiled training chunk, for each preset's grid (all instances in one program, padded) and for
one instance of the largest size alone, measured side by side in one process.

    PYTHONPATH=. python benchmarks/memorisation.py              # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/memorisation.py --quick      # tiny smoke run
    PYTHONPATH=. python benchmarks/memorisation.py --out r.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jax  # noqa: E402

from toymodels import engine  # noqa: E402
from toymodels.memorisation import recipe as E  # noqa: E402
from toymodels.pipeline import engine_inputs, resolve  # noqa: E402
from write_result import write_result  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

TINY = ("n=6,8", "width=2,4", "structured=0,1", "d=8", "max_n=16", "max_width=4")


def measure(preset: str, sets: tuple, steps: int, repeats: int, seeds: int | None = None) -> dict:
    exp, cfg, spec = resolve("memorisation", preset, seeds, sets)
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    data = E.make_data(cfg, insts)
    task = E.task(cfg)
    sharding = engine.instance_sharding(len(insts))
    keys, hp, data = jax.device_put((keys, hp, data), sharding)
    state = engine.init_state(task, keys, hp)
    t0 = time.perf_counter()
    chunk = engine.make_chunk(task, steps).lower(state, hp, data).compile()
    compile_s = time.perf_counter() - t0
    box = {"s": state}

    def run():
        box["s"], m = chunk(box["s"], hp, data)
        jax.block_until_ready((box["s"], m))

    run()
    secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        secs.append(time.perf_counter() - t0)
    med = statistics.median(secs)
    n = len(insts)
    return {"instances": n, "pairs_padded": int(data["labels"].shape[1]), "width_padded": int(data["hidden_mask"].shape[1]),
            "d": cfg.d, "chunk_steps": steps, "chunk_s_median": round(med, 4), "chunk_s": [round(s, 4) for s in secs],
            "ms_per_step": round(med / steps * 1e3, 3), "instance_steps_per_s": round(n * steps / med, 1),
            "compile_s": round(compile_s, 2),
            "est_train_s_for_preset_steps": round(med / steps * cfg.steps, 1)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    res = {"device": jax.devices()[0].platform, "n_devices": len(jax.devices()), "machine": platform.machine(),
           "jax": jax.__version__, "note": "medians over repeats after a warm-up call; metrics evaluation included"}
    if args.quick:
        res["tiny_grid"] = measure("quick", TINY, 5, 2)
    else:
        for preset in ("quick", "paper"):
            grid = measure(preset, E.PRESET_SETS[preset], 50, args.repeats)
            cfg_n = max(int(v) for v in E.PRESET_SETS[preset][0][2:].split(","))
            cfg_w = max(int(v) for v in E.PRESET_SETS[preset][1][6:].split(","))
            one = measure(preset, (f"n={cfg_n}", f"width={cfg_w}"), 50, args.repeats, seeds=1)
            res[preset] = {"grid": grid, "largest_instance_alone": one,
                           "grid_vs_largest_alone_instance_steps_ratio":
                               round(grid["instance_steps_per_s"] / one["instance_steps_per_s"], 2)}
    write_result(res, args.out, None if args.quick else f"memorisation_{res['device']}")
    return res


if __name__ == "__main__":
    main()

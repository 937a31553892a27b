#!/usr/bin/env python
"""Speed of the universality experiment's S5 MLP (paper preset: frac 0.4, full batch) under the
engine: epochs (= full-batch steps) per second for 1, 10 and 50 seeds trained at once as ONE
compiled program (the engine's own chunk), on whatever platform JAX has.

    PYTHONPATH=. python benchmarks/universality.py               # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/universality.py --quick       # tiny smoke run

Medians over --repeats timed chunks after a compile/warm-up call, block_until_ready. The chunk's
end-of-chunk metric evaluation is included (one per chunk, as in training). Also extrapolates
the paper run (250k epochs x 50 seeds) from the 50-seed rate.
"""

from __future__ import annotations

import argparse
import platform as _platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jax  # noqa: E402

from toymodels import engine  # noqa: E402
from toymodels.universality import recipe as exp  # noqa: E402
from toymodels.pipeline import engine_inputs, resolve  # noqa: E402
from write_result import write_result  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def measure(n_seeds: int, chunk: int, repeats: int, sets: tuple[str, ...]) -> dict:
    _, cfg, spec = resolve("universality", "paper", n_seeds, sets)
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    task = exp.task(cfg)
    data = exp.make_data(cfg, insts)
    sharding = engine.instance_sharding(len(insts))
    keys, hp, data = jax.device_put((keys, hp, data), sharding)
    state = engine.init_state(task, keys, hp)
    run = engine.make_chunk(task, chunk)
    t0 = time.perf_counter()
    state, m = run(state, hp, data)
    jax.block_until_ready(m)
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state, m = run(state, hp, data)
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times) / chunk
    return {"seeds": n_seeds, "chunk_epochs": chunk, "ms_per_epoch": 1e3 * sec, "epochs_per_s": 1 / sec,
            "seed_epochs_per_s": n_seeds / sec, "first_call_s": compile_s}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    sets = ("group=S3", "d_embed=16", "d_hidden=16") if args.quick else ()
    seeds = (1, 2) if args.quick else (1, 10, 50)
    chunks = {1: 20, 10: 5, 50: 2} if not args.quick else {1: 2, 2: 2}
    rows = [measure(n, chunks[n], args.repeats, sets) for n in seeds]
    rate50 = rows[-1]["epochs_per_s"]
    result = {"benchmark": "universality S5 MLP (paper preset)" + (" [quick smoke]" if args.quick else ""),
              "platform": jax.devices()[0].platform, "device": str(jax.devices()[0]), "machine": _platform.machine(),
              "jax": jax.__version__, "by_seeds": rows,
              "paper_run_hours_at_measured_rate": 250_000 / rate50 / 3600,
              "note": "epochs are full-batch steps over the 5760 train pairs; medians of --repeats chunks"}
    write_result(result, args.out, None if args.quick else f"universality-{result['platform']}")
    return result


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Speed benchmark of the SAE toy: instance-steps per second of the engine's compiled training
chunk for one ReLU SAE alone and for 64 of them (seeds) as one program, and for the quick
preset's mixed grid (every variant computed for every instance, see toymodels.saes.model),
measured side by side in one process; beside them the analytic FLOPs of a step and a float32
matmul peak of the same run. With --saelens-python PATH (a scratch venv with torch and
sae-lens), the same SAE (d=16, 32 latents, batch 256, L1, Adam) trained by SAELens's own
training SAE in a plain loop, in a subprocess.

    PYTHONPATH=. python benchmarks/saes.py                                   # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/saes.py --saelens-python /tmp/saelens-venv/bin/python
    PYTHONPATH=. python benchmarks/saes.py --quick                           # tiny smoke run
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
from harness import EngineChunk, environment, finish, parser, rounded, stats, timed

SAELENS_SCRIPT = Path(__file__).with_name("saes_saelens.py")
ONE = ("variant=relu", "dict_size=32", "coef=0.3")


def flops_per_instance_step(batch: int, d: int, m: int) -> int:
    """Encoder and decoder matmuls, 2·B·d·m FLOPs each forward; the backward pass twice that."""
    return 3 * 2 * (2 * batch * d * m)


def matmul_peak_gflops(n: int = 1024, repeats: int = 5) -> float:
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    secs = timed(lambda: f(a).block_until_ready(), repeats)
    return rounded(2 * n**3 / min(secs) / 1e9)


def measure(sets: tuple[str, ...], seeds: int, steps: int, repeats: int) -> dict:
    bench = EngineChunk("saes", "quick", steps, seeds, sets)
    chunk = stats(bench.seconds(repeats))
    n, cfg = len(bench.instances), bench.cfg
    per_step = chunk["median"] / steps
    flops = flops_per_instance_step(cfg.batch, cfg.d, cfg.max_dict_size) * n
    return {"instances": n, "chunk_steps": steps, "chunk_s": chunk, "ms_per_step": rounded(per_step * 1e3),
            "instance_steps_per_s": rounded(n / per_step), "compile_s": rounded(bench.compile_s),
            "analytic_gflops_per_step": rounded(flops / 1e9), "achieved_gflops": rounded(flops / per_step / 1e9)}


def saelens(python: str, steps: int, repeats: int) -> dict:
    out = subprocess.run([python, str(SAELENS_SCRIPT), str(steps), str(repeats)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = parser(__doc__, repeats=5)
    p.add_argument("--saelens-python", help="python of a venv with torch and sae-lens")
    args = p.parse_args(argv)
    steps = 5 if args.quick else 200
    repeats = 2 if args.quick else args.repeats
    one_sets = (*ONE, "n_features=8", "d=4", "max_dict_size=8", "dict_size=8") if args.quick else ONE
    res = {**environment(), "note": "medians over repeats after a warm-up call; metrics evaluation included",
           "matmul_peak_gflops": matmul_peak_gflops(256 if args.quick else 1024)}
    one = measure(one_sets, 1, steps, repeats)
    many = measure(one_sets, 4 if args.quick else 64, steps, repeats)
    res["relu_1"], res["relu_64"] = one, many
    res["per_instance_cost_64_vs_1"] = rounded(one["instance_steps_per_s"] / many["instance_steps_per_s"], 3)
    if not args.quick:
        grid = measure((), None, steps, repeats)
        res["quick_grid"] = grid
        res["per_instance_cost_grid_vs_relu_1"] = rounded(one["instance_steps_per_s"] / grid["instance_steps_per_s"], 3)
    if args.saelens_python:
        res["saelens_relu_1"] = saelens(args.saelens_python, steps, repeats)
        res["saelens_vs_ours_1_instance"] = rounded(res["relu_1"]["instance_steps_per_s"]
                                                   / res["saelens_relu_1"]["steps_per_s"], 3)
    finish(res, args, "saes")
    return res


if __name__ == "__main__":
    main()

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

from harness import EngineChunk, against_peak, environment, finish, matmul_peak, matmul_size, parser, rounded, stats

SAELENS_SCRIPT = Path(__file__).with_name("saes_saelens.py")
ONE = ("variant=relu", "dict_size=32", "coef=0.3")


def flops_per_instance_step(batch: int, d: int, m: int) -> int:
    """Encoder and decoder matmuls, 2·B·d·m FLOPs each forward; the backward pass twice that."""
    return 3 * 2 * (2 * batch * d * m)


FORMULA = "instances x 3 x 2 x (2 x batch x d x max_dict_size): encoder and decoder matmuls, forward + backward"


def measure(sets: tuple[str, ...], seeds: int | None, steps: int, repeats: int, peak: dict) -> dict:
    bench = EngineChunk("saes", "quick", steps, seeds, sets)
    chunk = stats(bench.seconds(repeats))
    n, cfg = len(bench.instances), bench.cfg
    per_step = chunk["median"] / steps
    flops = flops_per_instance_step(cfg.batch, cfg.d, cfg.max_dict_size) * n
    return {"instances": n, "chunk_steps": steps, "chunk_s": chunk, "ms_per_step": rounded(per_step * 1e3),
            "instance_steps_per_s": rounded(n / per_step), "compile_s": rounded(bench.compile_s),
            "flops": against_peak(flops, FORMULA, per_step, peak)}


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
    peak = matmul_peak(*matmul_size(args.quick), repeats)
    res = {**environment(), "note": "medians over repeats after a warm-up call; metrics evaluation included",
           "matmul_peak": peak}
    one = measure(one_sets, 1, steps, repeats, peak)
    many = measure(one_sets, 4 if args.quick else 64, steps, repeats, peak)
    res["relu_1"], res["relu_64"] = one, many
    res["per_instance_cost_64_vs_1"] = rounded(one["instance_steps_per_s"] / many["instance_steps_per_s"], 3)
    if not args.quick:
        grid = measure((), None, steps, repeats, peak)
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

#!/usr/bin/env python
"""Speed of the universality experiment's S5 MLP (paper preset: frac 0.4, full batch) under the
engine: epochs (= full-batch steps) per second for 1, 10 and 50 seeds trained at once as ONE
compiled program (the engine's own chunk), beside the machine's matmul peak and the analytic
FLOPs of a step, on whatever platform JAX has. `by_seeds` trains as the engine does (on a CPU,
in blocks of instances: engine.choose_block); `by_seeds_all_vmapped` vmaps every seed at once.

    PYTHONPATH=. python benchmarks/universality.py               # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/universality.py --quick       # tiny smoke run

Medians over --repeats timed chunks after a compile and a warm-up call (benchmarks/harness.py).
`seconds_per_epoch` includes the chunk's end-of-chunk metric evaluation (one per chunk, as in
training); `ms_per_step` subtracts it (timed on its own) and is what the FLOP rate divides.
Also extrapolates the paper run (250k epochs x 50 seeds) from the 50-seed rate.
"""

from __future__ import annotations

import statistics

import numpy as np
from harness import (
    EngineChunk,
    against_peak,
    environment,
    finish,
    interleaved,
    matmul_peak,
    matmul_size,
    parser,
    rounded,
    stats,
)

FORMULA = ("3 x [2 x 2 |G| d_embed d_hidden (the element tables E_left W_left, E_right W_right) "
           "+ n_train x 2 d_hidden |G| (unembedding per pair)] per seed: forward + backward = 3 x forward; "
           "the per-pair gather, ReLU and loss are not counted")


def mlp_flops(order: int, d_embed: int, d_hidden: int, n_train: int) -> float:
    """FLOPs of one training step of the S5 MLP as trained (model.mlp_hidden's tables), FORMULA."""
    return 3.0 * (2 * 2 * order * d_embed * d_hidden + n_train * 2 * d_hidden * order)


def measure(n_seeds: int, chunk: int, repeats: int, sets: tuple[str, ...], peak: dict, block="auto") -> dict:
    bench = EngineChunk("universality", "paper", chunk, n_seeds, sets, block=block)
    per_epoch = stats(bench.seconds(repeats), scale=1.0 / chunk)
    step = bench.step_seconds(repeats)
    sec = per_epoch["median"]
    cfg = bench.cfg
    n_train = int(np.asarray(bench.data["train_weight"]).sum(-1).max())
    flops = n_seeds * mlp_flops(cfg.group_obj().table.shape[0], cfg.d_embed, cfg.d_hidden, n_train)
    return {"seeds": n_seeds, "block": bench.block, "chunk_epochs": chunk, "ms_per_epoch": rounded(1e3 * sec),
            "epochs_per_s": rounded(1 / sec), "seed_epochs_per_s": rounded(n_seeds / sec),
            "seconds_per_epoch": per_epoch, "ms_per_step": step["s_per_step"] and rounded(1e3 * step["s_per_step"]), "step": step,
            "n_train": n_train, "flops": against_peak(flops, FORMULA, step["s_per_step"], peak),
            "compile_s": rounded(bench.compile_s)}


def per_seed_train_only(chunks: dict, repeats: int, sets: tuple[str, ...]) -> dict:
    """Per seed-epoch of training alone (chunks without metrics, nothing subtracted), 1 seed and
    the largest seed count in the engine's blocks and all vmapped, interleaved in one process:
    the like-for-like ratio against one seed alone."""
    n = max(chunks)
    runs = {"1": EngineChunk("universality", "paper", chunks[1], 1, sets, train_only=True),
            f"{n}_engine_blocks": EngineChunk("universality", "paper", chunks[1], n, sets, train_only=True),
            f"{n}_vmap_all": EngineChunk("universality", "paper", chunks[1], n, sets, block=None, train_only=True)}
    for bench in runs.values():
        bench.run()  # warm-up
    times = interleaved({k: b.run for k, b in runs.items()}, repeats)
    seeds = {k: int(k.split("_")[0]) for k in runs}
    per = {k: statistics.median(v) / chunks[1] / seeds[k] for k, v in times.items()}
    return {"chunk_epochs": chunks[1], "block": runs[f"{n}_engine_blocks"].block,
            "ms_per_seed_epoch": {k: rounded(1e3 * v) for k, v in per.items()},
            "vs_1_seed": {k: rounded(v / per["1"], 3) for k, v in per.items()}}


def main(argv=None) -> dict:
    args = parser(__doc__, repeats=3).parse_args(argv)
    sets = ("group=S3", "d_embed=16", "d_hidden=16") if args.quick else ()
    chunks = {1: 2, 2: 2} if args.quick else {1: 20, 10: 5, 50: 2}
    peak = matmul_peak(*matmul_size(args.quick), args.repeats)
    rows = [measure(n, chunk, args.repeats, sets, peak) for n, chunk in chunks.items()]
    # the same seed counts with every instance vmapped at once, for the engine's blocks to be judged against
    vmapped = [measure(n, chunk, args.repeats, sets, peak, block=None) for n, chunk in chunks.items() if n > 1]
    one = rows[0]["ms_per_step"]
    for row in rows + vmapped:  # per-seed time of one seed alone over per-seed time here: >= 1 meets the target
        row["seed_throughput_vs_1_seed"] = row["ms_per_step"] and one and rounded(one * row["seeds"] / row["ms_per_step"], 3)
    rate = rows[-1]["epochs_per_s"]
    per_seed = per_seed_train_only(chunks, args.repeats, sets)
    result = {"benchmark": "universality S5 MLP (paper preset)" + (" [quick smoke]" if args.quick else ""),
              **environment(), "matmul_peak": peak, "by_seeds": rows, "by_seeds_all_vmapped": vmapped,
              "per_seed_train_only": per_seed,
              "paper_run_hours_at_measured_rate": rounded(250_000 / rate / 3600),
              "note": "epochs are full-batch steps over the train pairs (5760 for S5 at 40%); medians of --repeats "
                      "chunks; flops: analytic count of the step (all seeds) over ms_per_step"}
    finish(result, args, "universality")
    return result


if __name__ == "__main__":
    main()

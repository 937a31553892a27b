#!/usr/bin/env python
"""Speed benchmark of the fact-lookup memoriser: instance-steps per second of the engine's own
compiled training chunk, for each preset's grid (all instances in one program, padded) and for
one instance of the largest size alone, measured side by side in one process, beside the
machine's matmul peak and the analytic FLOPs of a step.

    PYTHONPATH=. python benchmarks/memorisation.py              # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/memorisation.py --quick      # tiny smoke run
    PYTHONPATH=. python benchmarks/memorisation.py --out r.json

Medians over --repeats timed chunks after a compile and a warm-up call (benchmarks/harness.py);
`chunk_s` includes the chunk's end-of-chunk metric evaluation, `ms_per_step` subtracts it (timed
on its own) and is what the FLOP rates divide.

Every grid is timed under AdamW, whose step is the one forward and backward FORMULA counts. The
quick preset trains with L-BFGS, whose iterations add the line search's evaluations (an
iteration costs about 7x an AdamW step on the quick grid: README, memorisation).
"""

from __future__ import annotations

from harness import (
    EngineChunk,
    against_peak,
    environment,
    finish,
    matmul_peak,
    matmul_size,
    parser,
    rounded,
    stats,
)

from toymodels.memorisation.recipe import PRESET_SETS

TINY = ("n=6,8", "width=2,4", "structured=0,1", "d=8", "max_n=16", "max_width=4")
FORMULA = ("per instance k T + 3 P (forward + backward = 3 x forward; k = 2 for the tables of frozen embeddings, "
           "which need no input gradient, 3 when trained): T = 2 x 2 n d (L w + 1), the per-integer tables of E0 "
           "and E1 times each W_in and w_U; P = n^2 [2 L w + 2 (L-1) min(w^2, 2 w d)] + 2 L w d "
           "+ 2 (L-1) w^2 d [when w^2 <= 2 w d]: per pair the classifier's w-wide reads and layer 0's write into "
           "layer 1, per step the weight products (model.logits). n, w: each instance's own table size and width "
           "(flops_padded: the program's n_pad, w_pad); L layers; d the embedding dimension")


def memoriser_flops(n: int, w: int, d: int, layers: int, train_embed: bool) -> float:
    """FLOPs of one training step of one memoriser (n x n table, width w) as trained (model.logits), FORMULA."""
    tables = 2 * 2 * n * d * (layers * w + 1)
    folded = w * w <= 2 * w * d  # model._chain's choice for W_out_0 (w x d) then W_in_1 (d x w)
    per_pair = layers * 2 * w + (layers - 1) * 2 * min(w * w, 2 * w * d)
    per_step = layers * 2 * w * d + (layers - 1) * (2 * w * w * d if folded else 0)
    return (3 if train_embed else 2) * tables + 3 * (n * n * per_pair + per_step)


def measure(preset: str, sets: tuple, steps: int, repeats: int, peak: dict, seeds: int | None = None) -> dict:
    bench = EngineChunk("memorisation", preset, steps, seeds, sets + ("optimizer=adamw",))
    chunk = stats(bench.seconds(repeats))
    step = bench.step_seconds(repeats)
    med, n = chunk["median"], len(bench.instances)
    cfg, data = bench.cfg, bench.data
    n_pad, w_pad = int(round(data["labels"].shape[1] ** 0.5)), int(data["hidden_mask"].shape[1])
    own = sum(memoriser_flops(int(i["n"]), int(i["width"]), cfg.d, cfg.layers, cfg.train_embed) for i in bench.instances)
    padded = n * memoriser_flops(n_pad, w_pad, cfg.d, cfg.layers, cfg.train_embed)
    s = step["s_per_step"]
    return {"instances": n, "pairs_padded": int(data["labels"].shape[1]), "width_padded": w_pad, "d": cfg.d,
            "chunk_steps": steps, "chunk_s": chunk, "ms_per_step": s and rounded(1e3 * s), "step": step,
            "instance_steps_per_s": rounded(n * steps / med), "compile_s": rounded(bench.compile_s),
            "est_train_s_for_preset_steps": rounded(med / steps * bench.cfg.steps),
            "flops": against_peak(own, FORMULA, s, peak),
            "flops_padded": against_peak(padded, FORMULA + "; at the padded sizes", s, peak)}


def _largest(sets: tuple[str, ...], key: str) -> int:
    """The largest value a preset's --set items give `key` (e.g. n=16,24,32 -> 32)."""
    text = next(item.partition("=")[2] for item in sets if item.partition("=")[0] == key)
    return max(int(v) for v in text.split(","))


def main(argv=None) -> dict:
    args = parser(__doc__, repeats=5).parse_args(argv)
    peak = matmul_peak(*matmul_size(args.quick), args.repeats)
    res = {**environment(), "matmul_peak": peak,
           "note": "medians over repeats after a warm-up call; chunk_s includes the metrics evaluation, "
                   "ms_per_step and the FLOP rates do not"}
    if args.quick:
        res["tiny_grid"] = measure("quick", TINY, 5, 2, peak)
    else:
        for preset in ("quick", "paper"):
            grid = measure(preset, PRESET_SETS[preset], 50, args.repeats, peak)
            largest = (f"n={_largest(PRESET_SETS[preset], 'n')}", f"width={_largest(PRESET_SETS[preset], 'width')}")
            one = measure(preset, largest, 50, args.repeats, peak, seeds=1)
            res[preset] = {"grid": grid, "largest_instance_alone": one,
                           "grid_vs_largest_alone_instance_steps_ratio":
                               rounded(grid["instance_steps_per_s"] / one["instance_steps_per_s"], 3)}
    finish(res, args, "memorisation")
    return res


if __name__ == "__main__":
    main()

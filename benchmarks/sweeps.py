#!/usr/bin/env python
"""What a sweep over the train fraction costs: the grokking paper model (p=113) at several train
fractions, 1 seed each, trained (a) as one program with every instance's train set padded to the
largest, as before issue 13, and (b) as the engine trains it now: one program per fraction
(engine.Grouped), each padded only to its own train set, the instances gathered and scattered
around each group's chunk as engine.train does. Side by side in one process (interleaved
repeats), beside (c) each fraction alone, whose sum is the target, and the analytic expectation
from the train-set sizes.

    PYTHONPATH=. python benchmarks/sweeps.py               # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/sweeps.py --quick       # tiny model, smoke run
"""

from __future__ import annotations

import statistics

import jax
import numpy as np
from harness import environment, finish, interleaved, parser, rounded, stats

from toymodels import engine
from toymodels.pipeline import engine_inputs, resolve, training_data

FRACTIONS = "0.3,0.5,0.7,0.9"
QUICK_SETS = ("p=23", "d_model=16", "n_heads=2", "d_head=8", "d_mlp=32")


def main(argv=None) -> dict:
    args = parser(__doc__, repeats=3).parse_args(argv)
    steps = 2 if args.quick else 10
    sets = (*(QUICK_SETS if args.quick else ()), f"frac_train={FRACTIONS}")
    recipe, cfg, spec = resolve("grokking", "paper", 1, sets)
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    task = recipe.task(cfg)
    sharding = engine.instance_sharding(len(insts))
    state = engine.init_state(task, *jax.device_put((keys, hp), sharding))

    padded_data = jax.device_put(recipe.make_data(cfg, insts), sharding)
    padded_block = engine.choose_block(task, state, hp, padded_data, platform=jax.devices()[0].platform)
    padded_chunk = engine.make_chunk(task, steps, padded_block).lower(state, hp, padded_data).compile()
    parts = engine._parts(task, state, hp, training_data(recipe, cfg, insts), sharding, None, "auto")
    for part in parts:
        part.chunks[steps] = engine.make_chunk(task, steps, part.block).lower(
            engine._take(state, part), part.hp, part.data).compile()
    copy = lambda: jax.tree_util.tree_map(lambda x: x.copy(), state)  # noqa: E731 (the chunks donate their state)
    box = {"padded": copy(), "grouped": copy()}

    def padded():
        box["padded"], m = padded_chunk(box["padded"], hp, padded_data)
        jax.block_until_ready((box["padded"], m))

    def grouped():  # engine.train's loop body
        s = box["grouped"]
        for part in parts:
            sub, m = part.chunks[steps](engine._take(s, part), part.hp, part.data)
            s = engine._put(s, part, sub, sharding)
        box["grouped"] = jax.block_until_ready(s)

    def alone(part):
        def run():
            sub, m = part.chunks[steps](engine._take(box["grouped"], part), part.hp, part.data)
            jax.block_until_ready((sub, m))
        return run

    padded(), grouped()  # warm-up
    fns = {"padded": padded, "grouped": grouped,
           **{f"alone_{insts[int(p.idx[0])]['frac_train']}": alone(p) for p in parts}}
    times = interleaved(fns, args.repeats)
    med = {k: statistics.median(v) / steps for k, v in times.items()}
    n_train = {f"{insts[int(p.idx[0])]['frac_train']}": int(np.asarray(p.data["train_weight"]).shape[1]) for p in parts}
    sum_alone = sum(v for k, v in med.items() if k.startswith("alone_"))
    sizes = list(n_train.values())
    result = {
        "benchmark": "grokking train-fraction sweep: padded vs grouped" + (" [quick smoke]" if args.quick else ""),
        **environment(), "config": {"p": cfg.p, "fractions": FRACTIONS, "seeds": 1, "chunk_steps": steps},
        "train_pairs_per_fraction": n_train,
        "ms_per_step": {k: stats(v, 1e3 / steps) for k, v in times.items()},
        "padded_over_grouped": rounded(med["padded"] / med["grouped"], 3),
        "grouped_over_sum_of_cells": rounded(med["grouped"] / sum_alone, 3),
        "analytic_padded_over_sum": rounded(len(sizes) * max(sizes) / sum(sizes), 3),
        "analytic_note": "if a step's cost were proportional to its train pairs: N x the largest cell over the sum of "
                         "the cells; the attention tables and the optimizer update do not scale with pairs",
        "blocks": {"padded": padded_block, "grouped": [p.block for p in parts]},
    }
    finish(result, args, "sweeps")
    return result


if __name__ == "__main__":
    main()

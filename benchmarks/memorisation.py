#!/usr/bin/env python
"""Speed benchmark of the fact-lookup memoriser: instance-steps per second of the engine's own
compiled training chunk, for each preset's grid (all instances in one program, padded) and for
one instance of the largest size alone, measured side by side in one process.

    PYTHONPATH=. python benchmarks/memorisation.py              # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/memorisation.py --quick      # tiny smoke run
    PYTHONPATH=. python benchmarks/memorisation.py --out r.json

Medians over --repeats timed chunks after a compile and a warm-up call (benchmarks/harness.py);
the chunk's end-of-chunk metric evaluation is included.
"""

from __future__ import annotations

from harness import EngineChunk, environment, finish, parser, rounded, stats

from toymodels.memorisation.recipe import PRESET_SETS

TINY = ("n=6,8", "width=2,4", "structured=0,1", "d=8", "max_n=16", "max_width=4")


def measure(preset: str, sets: tuple, steps: int, repeats: int, seeds: int | None = None) -> dict:
    bench = EngineChunk("memorisation", preset, steps, seeds, sets)
    chunk = stats(bench.seconds(repeats))
    med, n = chunk["median"], len(bench.instances)
    return {"instances": n, "pairs_padded": int(bench.data["labels"].shape[1]),
            "width_padded": int(bench.data["hidden_mask"].shape[1]), "d": bench.cfg.d, "chunk_steps": steps,
            "chunk_s": chunk, "ms_per_step": rounded(med / steps * 1e3),
            "instance_steps_per_s": rounded(n * steps / med), "compile_s": rounded(bench.compile_s),
            "est_train_s_for_preset_steps": rounded(med / steps * bench.cfg.steps)}


def _largest(sets: tuple[str, ...], key: str) -> int:
    """The largest value a preset's --set items give `key` (e.g. n=16,24,32 -> 32)."""
    text = next(item.partition("=")[2] for item in sets if item.partition("=")[0] == key)
    return max(int(v) for v in text.split(","))


def main(argv=None) -> dict:
    args = parser(__doc__, repeats=5).parse_args(argv)
    res = {**environment(), "note": "medians over repeats after a warm-up call; metrics evaluation included"}
    if args.quick:
        res["tiny_grid"] = measure("quick", TINY, 5, 2)
    else:
        for preset in ("quick", "paper"):
            grid = measure(preset, PRESET_SETS[preset], 50, args.repeats)
            largest = (f"n={_largest(PRESET_SETS[preset], 'n')}", f"width={_largest(PRESET_SETS[preset], 'width')}")
            one = measure(preset, largest, 50, args.repeats, seeds=1)
            res[preset] = {"grid": grid, "largest_instance_alone": one,
                           "grid_vs_largest_alone_instance_steps_ratio":
                               rounded(grid["instance_steps_per_s"] / one["instance_steps_per_s"], 3)}
    finish(res, args, "memorisation")
    return res


if __name__ == "__main__":
    main()

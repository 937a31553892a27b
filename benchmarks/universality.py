#!/usr/bin/env python
"""Speed of the universality experiment's S5 MLP (paper preset: frac 0.4, full batch) under the
engine: epochs (= full-batch steps) per second for 1, 10 and 50 seeds trained at once as ONE
compiled program (the engine's own chunk), on whatever platform JAX has.

    PYTHONPATH=. python benchmarks/universality.py               # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/universality.py --quick       # tiny smoke run

Medians over --repeats timed chunks after a compile and a warm-up call (benchmarks/harness.py).
The chunk's end-of-chunk metric evaluation is included (one per chunk, as in training). Also
extrapolates the paper run (250k epochs x 50 seeds) from the 50-seed rate.
"""

from __future__ import annotations

from harness import EngineChunk, environment, finish, parser, rounded, stats


def measure(n_seeds: int, chunk: int, repeats: int, sets: tuple[str, ...]) -> dict:
    bench = EngineChunk("universality", "paper", chunk, n_seeds, sets)
    per_epoch = stats(bench.seconds(repeats), scale=1.0 / chunk)
    sec = per_epoch["median"]
    return {"seeds": n_seeds, "chunk_epochs": chunk, "ms_per_epoch": rounded(1e3 * sec),
            "epochs_per_s": rounded(1 / sec), "seed_epochs_per_s": rounded(n_seeds / sec),
            "seconds_per_epoch": per_epoch, "compile_s": rounded(bench.compile_s)}


def main(argv=None) -> dict:
    args = parser(__doc__, repeats=3).parse_args(argv)
    sets = ("group=S3", "d_embed=16", "d_hidden=16") if args.quick else ()
    chunks = {1: 2, 2: 2} if args.quick else {1: 20, 10: 5, 50: 2}
    rows = [measure(n, chunk, args.repeats, sets) for n, chunk in chunks.items()]
    rate = rows[-1]["epochs_per_s"]
    result = {"benchmark": "universality S5 MLP (paper preset)" + (" [quick smoke]" if args.quick else ""),
              **environment(), "by_seeds": rows,
              "paper_run_hours_at_measured_rate": rounded(250_000 / rate / 3600),
              "note": "epochs are full-batch steps over the 5760 train pairs; medians of --repeats chunks"}
    finish(result, args, "universality")
    return result


if __name__ == "__main__":
    main()

"""What every benchmark shares: timing a blocking call (compile once, then medians), the engine's
training chunk of a resolved experiment, and handing back the JSON.

Benchmarks run as scripts (`PYTHONPATH=. python benchmarks/<toy>.py`); this file sits beside
them on sys.path."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from toymodels import engine  # noqa: E402
from toymodels.pipeline import engine_inputs, resolve  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def without_metrics(task: engine.Task) -> engine.Task:
    """The task with no metrics of its own (the chunk still checks divergence): chunks of it time
    the training steps alone, with nothing to subtract."""
    return dataclasses.replace(task, metrics=lambda *args: {})


def rounded(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def timed(fn: Callable[[], object], repeats: int, warmup: bool = True) -> list[float]:
    """Seconds per call of fn() (which must block until its result is ready), after one
    warm-up call unless warmup=False."""
    if warmup:
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def stats(seconds: list[float], scale: float = 1.0, digits: int = 4) -> dict:
    """{"median", "repeats"} of seconds * scale."""
    vals = [s * scale for s in seconds]
    return {"median": rounded(statistics.median(vals), digits), "repeats": [rounded(v, digits) for v in vals]}


class EngineChunk:
    """The engine's compiled training chunk (steps steps, then the in-loop metrics) for an
    experiment resolved as on the command line, with its state on the devices as engine.train
    puts it. `run()` advances the state by one chunk and blocks."""

    def __init__(self, name: str, preset: str, steps: int, seeds: int | None = None, sets: tuple[str, ...] = (),
                 task: engine.Task | None = None, block: int | None | str = "auto", train_only: bool = False):
        """task: train this instead of the recipe's task (e.g. another formulation of its loss).
        block: instances vmapped at once, as engine.make_chunk; "auto": the engine's own choice.
        train_only: the chunk evaluates no metrics (`train_only`), so it times training alone."""
        self.recipe, self.cfg, spec = resolve(name, preset, seeds, sets)
        self.instances = spec["instances"]
        keys, self.hp = engine_inputs(self.instances)
        self.task = task or self.recipe.task(self.cfg)
        if train_only:
            self.task = without_metrics(self.task)
        self.data = self.recipe.make_data(self.cfg, self.instances)
        sharding = engine.instance_sharding(len(self.instances))
        keys, self.hp, self.data = jax.device_put((keys, self.hp, self.data), sharding)
        self.state = engine.init_state(self.task, keys, self.hp)
        self.steps = steps
        if block == "auto":
            block = engine.choose_block(self.task, self.state, self.hp, self.data, sharding.mesh.shape["instances"],
                                        jax.devices()[0].platform)
        self.block = block
        t0 = time.perf_counter()
        self.chunk = engine.make_chunk(self.task, steps, block).lower(self.state, self.hp, self.data).compile()
        self.compile_s = time.perf_counter() - t0

    def run(self) -> None:
        self.state, m = self.chunk(self.state, self.hp, self.data)
        jax.block_until_ready((self.state, m))

    def seconds(self, repeats: int) -> list[float]:
        return timed(self.run, repeats)

    def step_seconds(self, repeats: int) -> dict:
        """Seconds per training step: (median chunk - median metrics evaluation) / steps, the
        metrics (which the chunk evaluates once at its end) timed on their own, compiled alike."""
        chunk = self.seconds(repeats)
        if self.task.stochastic:
            fn = lambda s, d: self.task.metrics(s["params"], d, s["key"])  # noqa: E731
        else:
            fn = lambda s, d: self.task.metrics(s["params"], d)  # noqa: E731
        metrics = jax.jit(engine.in_blocks(jax.vmap(fn), self.block)).lower(self.state, self.data).compile()
        met = timed(lambda: jax.block_until_ready(metrics(self.state, self.data)), repeats)
        c, m = statistics.median(chunk), statistics.median(met)
        return {"chunk_steps": self.steps, "chunk_s": stats(chunk), "metrics_eval_s": stats(met),
                "s_per_step": rounded((c - m) / self.steps) if c > m else None,
                "s_per_step_note": "(median(chunk) - median(metrics eval)) / chunk_steps; null when the "
                                   "metrics took as long as the chunk (too short a chunk to tell)"}


def matmul_size(quick: bool) -> tuple[int, int]:
    """(n, matmuls per timed call) of the matmul peak: 256 for --quick, 2048 on a CPU, else 8192 x10
    (several per call amortise dispatch on fast devices)."""
    if quick:
        return 256, 1
    return (2048, 1) if jax.devices()[0].platform == "cpu" else (8192, 10)


def matmul_peak(n: int, inner: int, repeats: int) -> dict:
    """The machine's float32 matmul rate: a jitted n x n matmul, `inner` of them per call."""
    ka, kb = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)

    @jax.jit
    def mm(a, b):
        # `inner` dependent matmuls, rescaled so values stay finite.
        def body(x, _):
            return (x @ b) * (1.0 / np.sqrt(n)), None
        return jax.lax.scan(body, a, None, length=inner)[0]

    compiled = mm.lower(a, b).compile()
    secs = timed(lambda: jax.block_until_ready(compiled(a, b)), repeats)
    gflop = 2.0 * n**3 * inner / 1e9
    return {"n": n, "matmuls_per_call": inner, "gflop_per_call": rounded(gflop),
            "seconds_per_call": stats(secs), "gflops": stats([gflop / s for s in secs])}


def against_peak(flops_per_step: float, formula: str, s_per_step: float | None, peak: dict) -> dict:
    """An analytic FLOP count per training step beside the measured rate: what the step would
    take at the matmul peak, and which fraction of the peak the measured step reaches."""
    gflops = flops_per_step / 1e9
    peak_gflops = peak["gflops"]["median"]
    rate = gflops / s_per_step if s_per_step else None
    return {"min_gflops_per_step": rounded(gflops), "formula": formula,
            "gflops_per_s": rounded(rate) if rate else None, "matmul_peak_gflops": peak_gflops,
            "fraction_of_matmul_peak": rounded(rate / peak_gflops, 3) if rate else None,
            "ms_per_step_at_matmul_peak": rounded(1e3 * gflops / peak_gflops)}


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each blocking fn, timed in turns (a, b, a, b, ...) after one warm-up
    call each, so that a shared machine's slow spells fall on every fn alike."""
    for fn in fns.values():
        fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return out


def parser(doc: str, repeats: int) -> argparse.ArgumentParser:
    """The flags every benchmark takes: --out, --repeats, --quick, --silent (add your own)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write the JSON here (default: print it and write benchmarks/results/<name>.json)")
    ap.add_argument("--repeats", type=_at_least_one, default=repeats, help="timed calls per measurement (median reported)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test in seconds; numbers meaningless")
    ap.add_argument("--silent", action="store_true", help="no progress or summary on stderr")
    return ap


def _at_least_one(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


def environment() -> dict:
    """Where the numbers were taken: JAX platform and device, versions, cores."""
    dev = jax.devices()[0]
    return {"platform": dev.platform, "device_kind": dev.device_kind, "n_devices": jax.device_count(),
            "jax_version": jax.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "cpu_count": os.cpu_count()}


def finish(result: dict, args: argparse.Namespace, name: str) -> None:
    """Write the JSON of benchmark `name` (results/<name>-<platform>[-quick].json unless --out)."""
    write_result(result, args.out, f"{name}-{jax.devices()[0].platform}{'-quick' if args.quick else ''}")


def write_result(result: dict, out: str | None, name: str | None) -> None:
    """To --out when given, else to stdout plus a copy in benchmarks/results/<name>.json (gitignored)."""
    text = json.dumps(result, indent=2) + "\n"
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
        return
    print(text, end="")
    if name:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(text)

"""What every benchmark shares: timing a blocking call (compile once, then medians), the engine's
training chunk of a resolved experiment, and handing back the JSON.

Benchmarks run as scripts (`PYTHONPATH=. python benchmarks/<toy>.py`); this file sits beside
them on sys.path."""

from __future__ import annotations

import argparse
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

from toymodels import engine  # noqa: E402
from toymodels.pipeline import engine_inputs, resolve  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


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
                 task: engine.Task | None = None):
        """task: train this instead of the recipe's task (e.g. another formulation of its loss)."""
        self.recipe, self.cfg, spec = resolve(name, preset, seeds, sets)
        self.instances = spec["instances"]
        keys, self.hp = engine_inputs(self.instances)
        self.task = task or self.recipe.task(self.cfg)
        self.data = self.recipe.make_data(self.cfg, self.instances)
        sharding = engine.instance_sharding(len(self.instances))
        keys, self.hp, self.data = jax.device_put((keys, self.hp, self.data), sharding)
        self.state = engine.init_state(self.task, keys, self.hp)
        self.steps = steps
        t0 = time.perf_counter()
        self.chunk = engine.make_chunk(self.task, steps).lower(self.state, self.hp, self.data).compile()
        self.compile_s = time.perf_counter() - t0

    def run(self) -> None:
        self.state, m = self.chunk(self.state, self.hp, self.data)
        jax.block_until_ready((self.state, m))

    def seconds(self, repeats: int) -> list[float]:
        return timed(self.run, repeats)


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

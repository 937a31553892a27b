"""The flow every experiment shares, from config to report: `reproduce(name, preset)`.

config (preset + overrides) -> instances -> run directory -> engine.train (resuming whatever
is on disk) -> analyses -> figures -> report.json, written last."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from toymodels import engine, registry as experiments
from toymodels.config import apply_overrides, instances
from toymodels.errors import ConfigError
from toymodels.store import REPORT, RunStore, atomic_write_json, load_run


def resolve(name: str, preset: str = "quick", seeds: int | None = None, sets: tuple[str, ...] = (),
            figure: str | None = None):
    """(experiment module, config, run spec) for a command line, validated before anything is written."""
    exp = experiments.get(name)
    if preset not in exp.PRESETS:
        raise ConfigError(f"unknown preset {preset!r} for {name}; known: {', '.join(exp.PRESETS)}")
    if figure is not None and figure not in exp.FIGURES:
        raise ConfigError(f"unknown figure {figure!r} for {name}; known: {', '.join(exp.FIGURES)}")
    cfg = exp.PRESETS[preset]
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds must be a positive integer (got {seeds})")
        cfg = dataclasses.replace(cfg, seeds=seeds)
    # A preset may start from --set items of its own (e.g. a sweep grid); the user's come after and win.
    preset_sets = getattr(exp, "PRESET_SETS", {}).get(preset, ())
    cfg, sweep = apply_overrides(cfg, [*preset_sets, *sets], exp.SWEEPABLE)
    spec = {"experiment": name, "preset": preset, "config": dataclasses.asdict(cfg), "sweep": sweep,
            "instances": instances(cfg, sweep, exp.SWEEPABLE)}
    return exp, cfg, spec


def default_out(name: str, preset: str) -> Path:
    return Path("figures") / name / preset


def engine_inputs(insts: list[dict]) -> tuple[jax.Array, dict]:
    """Per-instance PRNG keys (from each seed) and hyperparameter arrays (every other key)."""
    keys = jax.vmap(jax.random.PRNGKey)(np.array([i["seed"] for i in insts]))
    hp = {k: np.array([i[k] for i in insts], np.float32) for k in insts[0] if k != "seed"}
    return keys, hp


def train_run(exp, cfg, spec: dict, out: Path, progress: bool = True) -> None:
    """Train (or finish training) every instance of the run in `out`."""
    store = RunStore.open(out, spec)
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    engine.train(exp.task(cfg), keys, hp, exp.make_data(cfg, insts), exp.schedule(cfg), store, progress)


def reproduce(name: str, preset: str = "quick", seeds: int | None = None, out: str | Path | None = None,
              sets: tuple[str, ...] = (), progress: bool = True, figure: str | None = None) -> dict:
    """Train, analyse, plot (every figure, or only `figure`) and write report.json for one
    experiment. Returns the report."""
    exp, cfg, spec = resolve(name, preset, seeds, sets, figure)
    out = Path(out) if out is not None else default_out(name, preset)
    train_run(exp, cfg, spec, out, progress)
    run = load_run(out)
    results = exp.analyse(run)
    figures = exp.figures(run, results, out, figure)
    report = {"experiment": name, "preset": preset, "config": spec["config"], "sweep": spec["sweep"],
              "instances": spec["instances"], "claims": exp.claims(run, results),
              "figures": [str(Path(f).relative_to(out)) for f in figures]}
    atomic_write_json(out / REPORT, report)
    return report

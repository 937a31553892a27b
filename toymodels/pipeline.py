"""The flow every toy shares, from config to report: `reproduce(name, preset)`, `check(run_dir)`
to re-evaluate a finished run's claims, and `run_definition(path)` for the run definitions in
experiments/.

config (preset + overrides) -> instances -> run directory -> engine.train (resuming whatever
is on disk) -> the toy's analyses -> figures -> report.json, written last."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
import time
import tomllib
from pathlib import Path

import jax
import numpy as np

from toymodels import engine, registry
from toymodels.config import apply_overrides, instances, seed_count_conflict
from toymodels.errors import ConfigError, RunDirError
from toymodels.plotting import write_figures
from toymodels.recipe import Claim, Recipe
from toymodels.store import REPORT, RunStore, atomic_write_json, load_run, locked

REPORT_FORMAT = 1


def resolve(name: str, preset: str = "quick", seeds: int | None = None, sets: tuple[str, ...] = (),
            figure: str | None = None) -> tuple[Recipe, object, dict]:
    """(recipe, config, run spec) for a command line, validated before anything is written."""
    recipe = registry.get(name)
    if preset not in recipe.presets:
        raise ConfigError(f"unknown preset {preset!r} for {name}; known: {', '.join(recipe.presets)}")
    names = figure_names(recipe)
    if figure is not None and figure not in names:
        raise ConfigError(f"unknown figure {figure!r} for {name}; known: {', '.join(names)}")
    cfg = recipe.presets[preset]
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds must be a positive integer (got {seeds})")
        cfg = dataclasses.replace(cfg, seeds=seeds)
    # A preset may start from --set items of its own (e.g. a sweep grid); the user's come after and win.
    cfg, sweep = apply_overrides(cfg, [*recipe.preset_sets.get(preset, ()), *sets], recipe.sweepable)
    if seeds is not None and "seed" in sweep and len(sweep["seed"]) != seeds:
        raise ConfigError(seed_count_conflict(seeds, sweep["seed"]))
    spec = {"experiment": name, "preset": preset, "config": dataclasses.asdict(cfg), "sweep": sweep,
            "instances": instances(cfg, sweep, recipe.sweepable)}
    return recipe, cfg, spec


def figure_names(recipe: Recipe) -> tuple[str, ...]:
    return tuple(fn.__name__ for fn in recipe.figures)


def default_out(name: str, preset: str, seeds: int | None = None, sets: tuple[str, ...] = ()) -> Path:
    """runs/<experiment>/<preset>, with a short digest of the overrides when there are any, so
    that different commands never share (and so never refuse) a default directory."""
    base = Path("runs") / name / preset
    if seeds is None and not sets:
        return base
    digest = hashlib.sha256(json.dumps([seeds, list(sets)]).encode()).hexdigest()[:8]
    return base.with_name(f"{preset}-{digest}")


def engine_inputs(insts: list[dict]) -> tuple[jax.Array, dict]:
    """Per-instance PRNG keys (from each seed) and hyperparameter arrays (every other key)."""
    keys = jax.vmap(jax.random.PRNGKey)(np.array([i["seed"] for i in insts]))
    hp = {k: np.array([i[k] for i in insts], np.float32) for k in insts[0] if k != "seed"}
    return keys, hp


def train_run(recipe: Recipe, cfg, spec: dict, out: Path, progress: bool = True,
              timings: dict | None = None) -> None:
    """Train (or finish training) every instance of the run in `out`; a finished run is left as
    it is, so it needs neither compiling nor its optimizer state."""
    store = RunStore.open(out, spec)
    if store.finished(cfg.steps):
        return
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    engine.train(recipe.task(cfg), keys, hp, recipe.make_data(cfg, insts), cfg.schedule(), store, progress,
                 timings=timings)


def reproduce(name: str, preset: str = "quick", seeds: int | None = None, out: str | Path | None = None,
              sets: tuple[str, ...] = (), progress: bool = True, figure: str | None = None) -> dict:
    """Train, analyse, plot (every figure, or only `figure`) and write report.json for one
    experiment, holding the run directory against other processes meanwhile. Returns the
    report, whose `timings` give each stage's seconds."""
    recipe, cfg, spec = resolve(name, preset, seeds, sets, figure)
    out = Path(out) if out is not None else default_out(name, preset, seeds, sets)
    timings: dict[str, float] = {}
    with locked(out):
        with _stage("training", progress, timings, "train_s"):
            train_run(recipe, cfg, spec, out, progress, timings)
        with _stage("analysing", progress, timings, "analyse_s"):
            results = recipe.analyse(load_run(out))
            claims = recipe.claims(results)
        with _stage("drawing figures", progress, timings, "figures_s"):
            figures = write_figures(recipe.figures, results, out, figure)
        report = {"format": REPORT_FORMAT, "experiment": name, "preset": preset, "config": spec["config"],
                  "sweep": spec["sweep"], "instances": spec["instances"],
                  "claims": [c.to_json() for c in claims],
                  "figures": [str(Path(f).relative_to(out)) for f in figures],
                  "timings": {k: round(v, 2) for k, v in timings.items()}}
        atomic_write_json(out / REPORT, report)
    return report


def check(path: str | Path) -> list[Claim]:
    """Re-evaluate the claims of a finished run directory from what is on disk (with the
    thresholds its config.json recorded): the claims a test can assert on."""
    run = load_run(path)
    recipe = registry.get(run.spec["experiment"])
    if run.steps[-1] != int(run.config["steps"]):  # load_run has checked metrics against checkpoints
        raise RunDirError(f"{run.path} has not finished training (last checkpoint: step {run.steps[-1]} of "
                          f"{run.config['steps']}); run its command again to finish it")
    return recipe.claims(recipe.analyse(run))


@contextlib.contextmanager
def _stage(name: str, progress: bool, timings: dict, key: str):
    """Say which stage runs (when showing progress) and record its seconds in timings[key]."""
    if progress and name != "training":  # training has its own progress bar
        print(f"{name}...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - t0


@dataclasses.dataclass(frozen=True)
class RunDefinition:
    """A run definition of experiments/: what `toymodels run FILE` reproduces, and where."""

    experiment: str
    preset: str = "quick"
    seeds: int | None = None
    sets: tuple[str, ...] = ()
    out: str | None = None


def run_definition(path: str | Path) -> RunDefinition:
    """Read a run definition (TOML): experiment, preset, seeds, set (a list of KEY=VALUE) and out
    (relative to the directory the command runs in)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read run definition {path}: {getattr(e, 'strerror', None) or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    known = {"experiment", "preset", "seeds", "set", "out"}
    if unknown := sorted(set(doc) - known):
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
    if not isinstance(doc.get("experiment"), str):
        raise ConfigError(f"{path}: needs experiment = \"<name>\"")
    sets = doc.get("set", [])
    if not (isinstance(sets, list) and all(isinstance(s, str) for s in sets)):
        raise ConfigError(f"{path}: set must be a list of \"KEY=VALUE\" strings")
    seeds = doc.get("seeds")
    if seeds is not None and not isinstance(seeds, int):
        raise ConfigError(f"{path}: seeds must be an integer")
    return RunDefinition(doc["experiment"], str(doc.get("preset", "quick")), seeds, tuple(sets), doc.get("out"))

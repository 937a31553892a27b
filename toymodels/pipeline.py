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

from toymodels import engine, plotting, population, registry
from toymodels.config import apply_overrides, instances, seed_count_conflict
from toymodels.errors import ConfigError, RunDirError
from toymodels.population import Cell
from toymodels.recipe import Claim, Recipe
from toymodels.store import REPORT, Run, RunStore, atomic_write_json, load_run, locked, on_primary

MAX_CELL_FIGURES = 8  # cells drawn per figure set; larger grids draw an evenly spread subset

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
    if figure is not None and figure.startswith("sweep_") and not population.cell_keys(sweep, recipe.within_cell):
        raise ConfigError(f"{figure} sets an outcome against swept hyperparameters, and this run sweeps none "
                          f"(sweep one with a comma list, e.g. --set lr=1e-3,3e-3)")
    spec = {"experiment": name, "preset": preset, "config": dataclasses.asdict(cfg), "sweep": sweep,
            "instances": instances(cfg, sweep, recipe.sweepable, recipe.canonical)}
    return recipe, cfg, spec


def figure_names(recipe: Recipe) -> tuple[str, ...]:
    return tuple(fn.__name__ for fn in recipe.figures) + tuple(f"sweep_{col}" for col, _ in recipe.sweep_outcomes)


def default_out(name: str, preset: str, seeds: int | None = None, sets: tuple[str, ...] = ()) -> Path:
    """runs/<experiment>/<preset>, with a short digest of the overrides when there are any, so
    that different commands never share (and so never refuse) a default directory."""
    base = Path("runs") / name / preset
    if seeds is None and not sets:
        return base
    digest = hashlib.sha256(json.dumps([seeds, list(sets)]).encode()).hexdigest()[:8]
    return base.with_name(f"{preset}-{digest}")


def engine_inputs(insts: list[dict]) -> tuple[jax.Array, dict]:
    """Per-instance PRNG keys (from each seed) and hyperparameter arrays (every other numeric key;
    a toy reads a swept name, such as an SAE variant, from its instances in make_data)."""
    keys = jax.vmap(jax.random.PRNGKey)(np.array([i["seed"] for i in insts]))
    hp = {k: np.array([i[k] for i in insts], np.float32) for k, v in insts[0].items()
          if k != "seed" and not isinstance(v, str)}
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
    engine.train(recipe.task(cfg), keys, hp, training_data(recipe, cfg, insts), cfg.schedule(), store, progress,
                 timings=timings)


def data_groups(recipe: Recipe, insts: list[dict]) -> dict[tuple, list[int]]:
    """The instances by their values of `recipe.data_shape_keys`: one group per data size."""
    by_shape: dict[tuple, list[int]] = {}
    for i, inst in enumerate(insts):
        by_shape.setdefault(tuple(inst[k] for k in recipe.data_shape_keys), []).append(i)
    return by_shape


def training_data(recipe: Recipe, cfg, insts: list[dict]):
    """The run's data: one stack, or (a sweep over a key of `recipe.data_shape_keys`, one
    process) engine.Grouped, one stack per value, each padded to its own size."""
    by_shape = data_groups(recipe, insts)
    if len(by_shape) == 1 or jax.process_count() > 1:  # under several processes every group would need every process
        return recipe.make_data(cfg, insts)
    groups = tuple(np.array(g) for g in by_shape.values())
    return engine.Grouped(groups, tuple(recipe.make_data(cfg, [insts[i] for i in g]) for g in groups))


def reproduce(name: str, preset: str = "quick", seeds: int | None = None, out: str | Path | None = None,
              sets: tuple[str, ...] = (), progress: bool = True, figure: str | None = None) -> dict | None:
    """Train, analyse, plot (every figure, or only `figure`) and write report.json for one
    experiment, holding the run directory against other processes meanwhile. Returns the
    report, whose `timings` give each stage's seconds. Under several processes (jax.distributed)
    all of them train; process 0 alone analyses, plots and reports, and the others return None."""
    recipe, cfg, spec = resolve(name, preset, seeds, sets, figure)
    out = Path(out) if out is not None else default_out(name, preset, seeds, sets)
    timings: dict[str, float] = {}
    with locked(out):
        with _stage("training", progress, timings, "train_s"):
            train_run(recipe, cfg, spec, out, progress, timings)
        return on_primary(_report, recipe, spec, out, figure, progress, timings)


def _report(recipe: Recipe, spec: dict, out: Path, figure: str | None, progress: bool, timings: dict) -> dict:
    """Analyse, plot and write report.json for a trained run."""
    with _stage("analysing", progress, timings, "analyse_s"):
        run = load_run(out)
        same_model(recipe, run)
        judged = evaluate(recipe, run)
    with _stage("drawing figures", progress, timings, "figures_s"):
        figures, note = draw(recipe, judged, spec["sweep"], out, figure)
    rows = [row for c in judged for row in c.rows]
    population.write_csv(out / population.TABLE_CSV, rows)
    report = {"format": REPORT_FORMAT, "experiment": spec["experiment"], "preset": spec["preset"],
              "config": spec["config"], "sweep": spec["sweep"], "instances": spec["instances"],
              "claims": [c.to_json() for cell in judged for c in cell.claims],
              "cells": [cell.to_json() for cell in judged], "table": rows,
              "figures": [str(Path(f).relative_to(out)) for f in figures], "figures_note": note,
              "timings": {k: round(v, 2) for k, v in timings.items()}}
    atomic_write_json(out / REPORT, report)
    return report


def check(path: str | Path) -> list[Claim]:
    """Re-evaluate the claims of a finished run directory from what is on disk (with the
    thresholds its config.json recorded), cell by cell: the claims a test can assert on."""
    return [c for cell in evaluate_run(path) for c in cell.claims]


def evaluate_run(path: str | Path) -> list["JudgedCell"]:
    """`evaluate` on a finished run directory read back from disk."""
    run = load_run(path)
    recipe = registry.get(run.spec["experiment"])
    same_model(recipe, run)
    if run.steps[-1] != int(run.config["steps"]):  # load_run has checked metrics against checkpoints
        raise RunDirError(f"{run.path} has not finished training (last checkpoint: step {run.steps[-1]} of "
                          f"{run.config['steps']}); run its command again to finish it")
    return evaluate(recipe, run)


def same_model(recipe: Recipe, run: Run) -> None:
    """Refuse, in one line, a run whose saved params are not the tree this version of the toy
    builds from the run's config (a run directory from an older version)."""
    try:
        cfg = type(next(iter(recipe.presets.values())))(**run.config)
        built = jax.eval_shape(recipe.task(cfg).init_params, jax.random.PRNGKey(0))
    except (TypeError, ConfigError) as e:
        raise RunDirError(f"{run.path}/config.json is not a config this version of toymodels reads ({e})") from None
    want = {jax.tree_util.keystr(k): x.shape for k, x in jax.tree_util.tree_leaves_with_path(built)}
    have = {jax.tree_util.keystr(k): x.shape[2:] for k, x in jax.tree_util.tree_leaves_with_path(run.params)}
    differ = sorted(set(want) ^ set(have)) or sorted(k for k in want if want[k] != have[k])
    if differ:
        raise RunDirError(f"{run.path} holds params this version of toymodels does not build from its config "
                          f"(they differ in {', '.join(differ[:4])}): an older version's run; train it again "
                          f"in a new directory")


@dataclasses.dataclass
class JudgedCell:
    """One cell of a run, analysed and judged on its instances that did not diverge."""

    cell: Cell
    results: object | None  # the toy's Results of the kept instances; None when all diverged
    claims: list[Claim]
    kept: list[int]
    diverged: list[int]
    rows: list[dict]        # the per-instance table rows of the cell's instances
    summary: dict           # outcome column -> interval over the kept instances

    def to_json(self) -> dict:
        return {"cell": self.cell.values, "instances": list(self.cell.indices), "diverged": self.diverged,
                "summary": self.summary, "summary_text": population.summary_text(self.summary)}


def evaluate(recipe: Recipe, run: Run) -> list[JudgedCell]:
    """Analyse and judge each cell of a run on its instances that did not diverge. A cell whose
    every instance diverged has its claims stated but unjudged ("cannot be judged: all diverged")."""
    flags = population.diverged(run)
    out = []
    for cell in population.cells(run.spec, recipe.within_cell):
        kept = [i for i in cell.indices if not flags[i]]
        gone = [i for i in cell.indices if flags[i]]
        outcomes: dict[int, dict] = {}
        results = recipe.analyse(run.select(kept or gone, cell.values))
        claims = [_in_cell(c, cell, len(gone)) for c in recipe.claims(results)]
        if kept and recipe.outcomes is not None:
            outcomes = dict(zip(kept, recipe.outcomes(results)))
        if not kept:  # the analyses of non-finite params only state the claims
            results = None
            claims = [c.unjudged(f"all {len(gone)} instance{'s' * (len(gone) != 1)} diverged") for c in claims]
        rows = [{"instance": i, **({"cell": cell.label} if cell.values else {}), **run.instances[i],
                 "diverged": bool(flags[i]), **population.final_metrics(run, i), **outcomes.get(i, {})}
                for i in cell.indices]
        summary = population.summarise([r for r in rows if not r["diverged"]], [c for c, _ in recipe.sweep_outcomes])
        out.append(JudgedCell(cell, results, claims, kept, gone, rows, summary))
    return out


def _in_cell(claim: Claim, cell: Cell, excluded: int) -> Claim:
    n = len(cell.indices)
    shown = f"{excluded} of {n} instances diverged, judged on the rest; {claim.shown}" if excluded else claim.shown
    return dataclasses.replace(claim, cell=dict(cell.values), excluded=excluded, shown=shown)


def draw(recipe: Recipe, judged: list[JudgedCell], sweep: dict, out: Path,
         only: str | None = None) -> tuple[list[Path], str]:
    """Each cell's figures (in out/ for a run of one cell, else out/cells/<cell>/; at most
    MAX_CELL_FIGURES cells, evenly spread) and the sweep figures; the paths and a note on what
    was left out."""
    drawable = [c for c in judged if c.results is not None]
    shown = population.spread_subset(drawable, MAX_CELL_FIGURES)
    paths = []
    for c in shown:
        where = out if len(judged) == 1 else out / "cells" / c.cell.slug
        caption = f"cell {c.cell.label}" if c.cell.values else ""
        paths += plotting.write_figures(recipe.figures, c.results, where, only, caption)
    notes = []
    if len(drawable) < len(judged):
        notes.append(f"no figures for {len(judged) - len(drawable)} cell(s) whose every instance diverged")
    if len(shown) < len(drawable):
        notes.append(f"figures drawn for {len(shown)} of {len(drawable)} cells, evenly spread: "
                     + "; ".join(c.cell.label for c in shown))
    keys = population.cell_keys(sweep, recipe.within_cell)
    rows = [r for c in judged for r in c.rows]
    for col, label in recipe.sweep_outcomes if keys else ():
        if only in (None, f"sweep_{col}"):
            refs = {k: recipe.sweep_reference[(col, k)] for k in keys if (col, k) in recipe.sweep_reference}
            paths += plotting.save(plotting.sweep_figure(rows, keys, col, label, refs), out, f"sweep_{col}")
    return paths, "; ".join(notes)


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

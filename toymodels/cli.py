"""The `toymodels` command line: `toymodels list`, `toymodels reproduce NAME`, `toymodels run FILE`,
`toymodels check RUN_DIR`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import jax

from toymodels import registry
from toymodels.config import TrainConfig
from toymodels.errors import ConfigError, ToymodelsError
from toymodels.pipeline import data_groups, default_out, evaluate_run, figure_names, reproduce, resolve, run_definition
from toymodels.population import Cell
from toymodels.store import CONFIG, REPORT, read_json


def _listing() -> str:
    return "\n".join(f"  {name:<14} {r.summary}" for name, r in registry.RECIPES.items())


def _toy_flags() -> dict[str, list]:
    """Every toy's own flags by name: {--group: [(recipe, Flag)], ...}."""
    flags: dict[str, list] = {}
    for recipe in registry.RECIPES.values():
        for flag in recipe.flags:
            flags.setdefault(flag.name, []).append((recipe, flag))
    return flags


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toymodels",
        description="Train toy models under jit and vmap over seeds, analyse them, reproduce paper figures.",
        epilog=f"experiments:\n{_listing()}\n\nexample: toymodels reproduce grokking --preset quick --seeds 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{list,reproduce,run,check}")
    sub.required = True
    sub.add_parser("list", help="list the reproducible experiments, their presets, keys and figures")
    rep = sub.add_parser("reproduce", help="train, analyse and plot one experiment; re-run to resume",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=f"experiments:\n{_listing()}")
    rep.add_argument("experiment", help="name of the experiment (see `toymodels list`)")
    rep.add_argument("--preset", default="quick", help="quick (minutes on a CPU), paper (the paper's setup) or a toy's own (`toymodels list`); default quick")
    rep.add_argument("--seeds", type=int, default=None, metavar="N", help="train N seeds at once (default: the preset's)")
    rep.add_argument("--out", default=None, metavar="DIR",
                     help="run directory for checkpoints, metrics, figures and report.json (default "
                          "runs/<experiment>/<preset>, plus a digest of --seeds/--set when given)")
    rep.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value; a comma list (lr=1e-3,3e-3) sweeps it within one program; repeatable")
    rep.add_argument("--figure", default=None, metavar="NAME", help="make only this figure (`toymodels list` names them)")
    for name, owners in _toy_flags().items():
        flag = owners[0][1]
        who = ", ".join(r.name for r, _ in owners)
        rep.add_argument(name, default=None, metavar=flag.metavar, help=f"{who}: {flag.help} (same as --set {flag.key}=...)")
    for command in (rep, run := sub.add_parser("run", help="reproduce a run definition of experiments/ (a TOML file)")):
        if command is run:
            run.add_argument("file", help="e.g. experiments/grokking-paper.toml")
            run.add_argument("--out", default=None, metavar="DIR", help="run directory (default: the file's out)")
        command.add_argument("--dry-run", action="store_true",
                             help="print the resolved config, the instances and the run directory; train nothing")
        command.add_argument("--strict", action="store_true", help="exit 1 unless every claim holds")
        command.add_argument("--no-progress", action="store_true", help="no progress bar or stage lines")
        command.add_argument("--distributed", action="store_true",
                             help="be one process of a multi-process run (jax.distributed.initialize(), which finds "
                                  "SLURM, Open MPI, Kubernetes and Cloud TPU settings itself; elsewhere give the "
                                  "three flags below, or JAX_COORDINATOR_ADDRESS for the first); start the same command "
                                  "in every process")
        command.add_argument("--coordinator-address", metavar="HOST:PORT",
                             help="process 0's address and a free port (implies --distributed)")
        command.add_argument("--num-processes", type=int, metavar="N", help="how many processes (implies --distributed)")
        command.add_argument("--process-id", type=int, metavar="I", help="this process's id, 0..N-1 (implies --distributed)")
    chk = sub.add_parser("check", help="re-evaluate a finished run's claims; exit 1 unless every claim holds")
    chk.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/grokking/quick")
    return parser


def _list() -> None:
    for name, recipe in registry.RECIPES.items():
        first = next(iter(recipe.presets.values()))
        print(f"{name}: {recipe.summary}")
        print("  presets (what each sets beyond the defaults; --dry-run shows every value):")
        for preset, cfg in recipe.presets.items():
            print(f"    {preset}: {' '.join([*_non_defaults(cfg), *recipe.preset_sets.get(preset, ())]) or 'the defaults'}")
        shared = [f.name for f in dataclasses.fields(TrainConfig)]
        own = [f.name for f in dataclasses.fields(first) if f.name not in shared]
        print(f"  --set keys: {', '.join(own)}; and as every toy: {', '.join(shared)}")
        print(f"  sweepable (comma lists): {', '.join(recipe.sweepable)}")
        for flag in recipe.flags:
            print(f"  {flag.name} {flag.metavar}: {flag.help}")
        print(f"  figures (--figure): {', '.join(figure_names(recipe))}")


def _non_defaults(cfg) -> list[str]:
    """KEY=VALUE for each field of a config that differs from its class's default."""
    shared = {f.name for f in dataclasses.fields(TrainConfig)}
    fields = sorted(dataclasses.fields(cfg), key=lambda f: f.name in shared)  # the toy's own first
    return [f"{f.name}={getattr(cfg, f.name)}" for f in fields
            if f.default is not dataclasses.MISSING and getattr(cfg, f.name) != f.default]


def _dry_run(name: str, preset: str, seeds: int | None, sets: tuple[str, ...], out: str) -> None:
    """What `reproduce` would train, and where, without writing anything."""
    recipe, cfg, spec = resolve(name, preset, seeds, sets)
    n = len(spec["instances"])
    groups = len(data_groups(recipe, spec["instances"]))
    how = "as one program" if groups == 1 else f"as {groups} programs, one per {', '.join(recipe.data_shape_keys)}"
    print(f"{name} ({preset}): {n} instance{'s' * (n != 1)} {how}, into {out}")
    for key, value in spec["config"].items():
        print(f"  {key} = {value}")
    for key, values in spec["sweep"].items():
        print(f"  swept: {key} over {', '.join(map(str, values))}")
    state = "finished" if (Path(out) / REPORT).exists() else "started" if (Path(out) / CONFIG).exists() else "new"
    print(f"  run directory: {state}")


def _flag_sets(args: argparse.Namespace) -> list[str]:
    """The toy flags given on the command line, as --set items of the chosen experiment."""
    recipe = registry.get(args.experiment)
    out = []
    for name, owners in _toy_flags().items():
        value = getattr(args, name.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        mine = [flag for r, flag in owners if r is recipe]
        if not mine:
            raise ConfigError(f"{name} is a flag of {', '.join(r.name for r, _ in owners)}, not of {recipe.name}")
        out.append(f"{mine[0].key}={value}")
    return out


def _print_report(report: dict, out: str | None = None) -> None:
    """Claims cell by cell (a cell's header names its swept values and its seed statistics); a
    claim's criterion is printed the first time its id appears."""
    claims = report["claims"]
    width = max([len(c["id"]) for c in claims] + [5])
    print(f"\n{report['experiment']} ({report['preset']}): {sum(c['holds'] for c in claims)}/{len(claims)} claims hold")
    cells = report.get("cells") or [{"cell": {}, "instances": [], "diverged": [], "summary_text": ""}]
    stated = set()
    for cell in cells:
        mine = [c for c in claims if c.get("cell", {}) == cell["cell"]]
        if cell["cell"] or cell["diverged"]:
            label = Cell(cell["cell"], ()).label or "all instances"
            gone = f", {len(cell['diverged'])} diverged" if cell["diverged"] else ""
            n = len(cell["instances"])
            print(f"cell {label} ({n} instance{'s' * (n != 1)}{gone}): "
                  f"{sum(c['holds'] for c in mine)}/{len(mine)} claims hold")
        if cell.get("summary_text"):
            print(f"  seeds: {cell['summary_text']}")
        for c in mine:
            mark = "yes" if c["holds"] else "NO" if c.get("judged", True) else "n/a"
            revised = f" [revised after seeing results: {c['revised']}]" if c.get("revised") else ""
            expected = "" if c["id"] in stated else f"expected {c['expected']}{revised}; "
            stated.add(c["id"])
            print(f"  {mark:<4}{c['id']:<{width}}  {expected}measured {c['measured']}")
    if not all(c["holds"] for c in claims):
        print(f"{sum(not c['holds'] for c in claims)} claim(s) do not hold (NO: measured and failed; n/a: cannot be "
              f"judged on this run)")
    if report.get("figures_note"):
        print(f"figures: {report['figures_note']}")
    if out is not None:
        print(f"figures, instances.csv and report.json in {out}")


def _join(args: argparse.Namespace) -> None:
    """jax.distributed.initialize() when asked for (before JAX does anything else), once a session."""
    given = {"coordinator_address": args.coordinator_address, "num_processes": args.num_processes,
             "process_id": args.process_id}
    if jax.distributed.is_initialized() or (not args.distributed and all(v is None for v in given.values())):
        return
    try:
        jax.distributed.initialize(**{k: v for k, v in given.items() if v is not None})
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--distributed: {str(e).rstrip('.')}; outside SLURM, Open MPI, Kubernetes and Cloud TPU give "
                          f"--coordinator-address, --num-processes and --process-id") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list()
            return 0
        if args.command == "check":
            judged = evaluate_run(args.run_dir)
            claims = [c.to_json() for cell in judged for c in cell.claims]
            spec = read_json(Path(args.run_dir) / CONFIG)
            _print_report({"experiment": spec["experiment"], "preset": spec["preset"], "claims": claims,
                           "cells": [cell.to_json() for cell in judged]})
            return 0 if all(c["holds"] for c in claims) else 1
        if args.command == "run":
            d = run_definition(args.file)
            name, preset, seeds, sets, figure = d.experiment, d.preset, d.seeds, d.sets, None
            out = args.out or d.out or str(default_out(name, preset, seeds, sets))
        else:
            name, preset, seeds, sets, figure = args.experiment, args.preset, args.seeds, None, args.figure
            sets = tuple(_flag_sets(args) + args.sets)
            out = args.out or str(default_out(name, preset, seeds, sets))
        if args.dry_run:
            _dry_run(name, preset, seeds, sets, out)
            return 0
        _join(args)
        report = reproduce(name, preset, seeds, out, sets, progress=not args.no_progress, figure=figure)
        if report is None:  # not process 0 of a multi-process run: process 0 reports
            return 0
        _print_report(report, out)
        return 1 if args.strict and not all(c["holds"] for c in report["claims"]) else 0
    except ToymodelsError as e:
        print(f"toymodels: error: {e}", file=sys.stderr)
        return 2
    except (jax.errors.JaxRuntimeError, MemoryError) as e:
        text = str(e)
        if isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower():
            print("toymodels: error: out of memory; train fewer instances at once (--seeds, swept values)",
                  file=sys.stderr)
        else:
            first = next((line for line in text.splitlines() if line.strip()), type(e).__name__)
            print(f"toymodels: error: the JAX runtime failed: {first[:300]}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions, ...: the message names the file
        print(f"toymodels: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ntoymodels: interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

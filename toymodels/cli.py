"""The `toymodels` command line: `toymodels list`, `toymodels reproduce NAME`."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import jax

from toymodels import registry as experiments
from toymodels.errors import ToymodelsError
from toymodels.pipeline import default_out, reproduce


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<12} {text}" for name, text in experiments.EXPERIMENTS.items())
    parser = argparse.ArgumentParser(
        prog="toymodels",
        description="Train toy models under jit and vmap over seeds, analyse them, reproduce paper figures.",
        epilog=f"experiments:\n{listing}\n\nexample: toymodels reproduce grokking --preset quick --seeds 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{list,reproduce}")
    sub.required = True
    sub.add_parser("list", help="list the reproducible experiments and their presets")
    rep = sub.add_parser("reproduce", help="train, analyse and plot one experiment; re-run to resume",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=f"experiments:\n{listing}")
    rep.add_argument("experiment", help="name of the experiment (see `toymodels list`)")
    rep.add_argument("--preset", default="quick", help="quick (minutes on a CPU) or paper (the paper's setup); default quick")
    rep.add_argument("--seeds", type=int, default=None, metavar="N", help="train N seeds at once (default: the preset's)")
    rep.add_argument("--out", default=None, metavar="DIR",
                     help="run directory for checkpoints, metrics, figures and report.json (default figures/<experiment>/<preset>)")
    rep.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value; a comma list (lr=1e-3,3e-3) sweeps it within one program; repeatable")
    rep.add_argument("--figure", default=None, metavar="NAME", help="make only this figure (`toymodels list` names them)")
    rep.add_argument("--group", default=None, metavar="G", help="universality: the group, e.g. S5, A4, D6, C7xC3 (same as --set group=G)")
    rep.add_argument("--model", default=None, metavar="M", help="universality: mlp or transformer (same as --set model=M)")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _list() -> None:
    for name, text in experiments.EXPERIMENTS.items():
        exp = experiments.get(name)
        keys = [f.name for f in dataclasses.fields(next(iter(exp.PRESETS.values())))]
        print(f"{name}: {text}")
        print(f"  presets: {', '.join(exp.PRESETS)}")
        for preset, sets in getattr(exp, "PRESET_SETS", {}).items():
            print(f"    {preset} also sets: {' '.join(sets)}")
        print(f"  --set keys: {', '.join(keys)}")
        print(f"  sweepable (comma lists): {', '.join(exp.SWEEPABLE)}")
        print(f"  figures (--figure): {', '.join(exp.FIGURES)}")


def _print_report(report: dict, out: str) -> None:
    claims = report["claims"]
    width = max([len(c["id"]) for c in claims] + [5])
    print(f"\n{report['experiment']} ({report['preset']}): {sum(c['holds'] for c in claims)}/{len(claims)} claims hold")
    for c in claims:
        mark = "yes" if c["holds"] else "NO"
        print(f"  {mark:<4}{c['id']:<{width}}  expected {c['expected']}; measured {c['measured']}")
    print(f"figures and report.json in {out}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list()
            return 0
        out = args.out or str(default_out(args.experiment, args.preset))
        shortcuts = [f"{k}={v}" for k, v in (("group", args.group), ("model", args.model)) if v is not None]
        report = reproduce(args.experiment, args.preset, args.seeds, out, tuple(shortcuts + args.sets),
                           progress=not args.no_progress, figure=args.figure)
        _print_report(report, out)
        return 0
    except ToymodelsError as e:
        print(f"toymodels: error: {e}", file=sys.stderr)
        return 2
    except jax.errors.JaxRuntimeError as e:
        if "RESOURCE_EXHAUSTED" not in str(e):
            raise
        print("toymodels: error: out of device memory; train fewer instances at once (--seeds, swept values)", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions, ...: the message names the file
        print(f"toymodels: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ntoymodels: interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

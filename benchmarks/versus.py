#!/usr/bin/env python
"""The training step of this tree side by side with a git revision's, in one process: the
engine's compiled chunk of each, timed in turns (old, new, old, new, ...), medians and their
ratio old/new. Use it to judge whether a change to a toy's training path pays.

    PYTHONPATH=. python benchmarks/versus.py a13fa7e universality --preset paper --seeds 1
    PYTHONPATH=. python benchmarks/versus.py main grokking --preset paper --seeds 1 --steps 20

Only the model code differs: the revision's version of every `toymodels` module that differs
from this tree, and of the modules the task's functions live in, is loaded beside this tree's
(its references to those modules pointed at each other), and the task's loss, metrics and init
are taken from it; the engine, data and optimizer are this tree's.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
import types

from harness import (
    ROOT,
    EngineChunk,
    environment,
    finish,
    interleaved,
    parser,
    rounded,
    stats,
)


def changed_modules(rev: str) -> set[str]:
    """Module names under toymodels/ whose file differs between `rev` and the working tree."""
    out = subprocess.run(["git", "diff", "--name-only", rev, "--", "toymodels"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    return {p[:-3].replace("/", ".") for p in out if p.endswith(".py")}


def load_revision(rev: str, names: set[str]) -> dict[str, types.ModuleType]:
    """The revision's version of each module (name -> module), their globals that refer to one
    another's modules (or to this tree's version of them) rebound to the revision's."""
    old = {}
    for name in sorted(names):
        path = name.replace(".", "/") + ".py"
        source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True,
                                text=True).stdout
        mod = types.ModuleType(f"{rev}.{name}")
        mod.__file__ = f"{rev}:{path}"
        sys.modules[mod.__name__] = mod  # dataclasses look their module up
        exec(compile(source, mod.__file__, "exec"), mod.__dict__)
        old[name] = mod
    for mod in old.values():
        for key, value in list(vars(mod).items()):
            if isinstance(value, types.ModuleType) and value.__name__ in old:
                setattr(mod, key, old[value.__name__])
    return old


def revision_task(task, rev: str):
    """`task` with each of its functions (plain or functools.partial) replaced by the revision's."""
    funcs = {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if callable(getattr(task, f.name))}
    base = {k: (v.func if isinstance(v, functools.partial) else v) for k, v in funcs.items()}
    old = load_revision(rev, changed_modules(rev) | {f.__module__ for f in base.values()})
    swapped = {}
    for k, v in funcs.items():
        f = getattr(old[base[k].__module__], base[k].__name__)
        swapped[k] = functools.partial(f, *v.args, **v.keywords) if isinstance(v, functools.partial) else f
    return dataclasses.replace(task, **swapped)


def main(argv=None) -> dict:
    ap = parser(__doc__, repeats=5)
    ap.add_argument("rev", help="the git revision to compare against (e.g. main)")
    ap.add_argument("experiment")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override key=value (repeatable)")
    ap.add_argument("--steps", type=int, default=10, help="training steps per timed chunk")
    args = ap.parse_args(argv)
    sets = tuple(args.sets)
    new = EngineChunk(args.experiment, args.preset, args.steps, args.seeds, sets)
    old = EngineChunk(args.experiment, args.preset, args.steps, args.seeds, sets, task=revision_task(new.task, args.rev))
    secs = interleaved({"old": old.run, "new": new.run}, args.repeats)
    res = {"experiment": args.experiment, "preset": args.preset, "sets": list(sets), "instances": len(new.instances),
           "rev": args.rev, "chunk_steps": args.steps, **environment(),
           "chunk_s": {k: stats(v) for k, v in secs.items()},
           "old_over_new": rounded(stats(secs["old"])["median"] / stats(secs["new"])["median"], 3),
           "compile_s": {"old": rounded(old.compile_s), "new": rounded(new.compile_s)}}
    finish(res, args, f"versus-{args.experiment}")
    if not args.silent:
        print(f"{args.experiment} {args.preset} x{len(new.instances)}: old ({args.rev}) / new = {res['old_over_new']}",
              file=sys.stderr)
    return res


if __name__ == "__main__":
    main()

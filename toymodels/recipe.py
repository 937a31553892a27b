"""The contract every toy implements, in one place: a `Recipe` (what the pipeline and the
command line need of a toy) and a `Claim` (one statement of a paper, measured on a run).

Adding a toy means writing its package (config, model, analyses, handbuilt, figures, recipe)
and adding its `RECIPE` to `toymodels.registry`. Nothing in the kernel changes.

The flow a recipe serves (`toymodels.pipeline.reproduce`):

    presets[name] + --set items  -> config (a frozen dataclass, `toymodels.config.TrainConfig`)
    task(config)                 -> engine.Task: init, loss, metrics, optimizer of ONE instance
    make_data(config, instances) -> per-instance data, stacked on a leading instance axis
    analyse(run)                 -> the toy's typed Results: everything claims and figures read
    claims(results)              -> [Claim]
    figures                      -> functions results -> matplotlib Figure, saved by name
                                    (`toymodels.plotting.write_figures`)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from toymodels import engine
from toymodels.store import Run


@dataclasses.dataclass(frozen=True)
class Flag:
    """A toy's own command-line flag, a shorthand for `--set KEY=VALUE` (e.g. --group S4)."""

    name: str      # "--group"
    key: str       # the config field it sets: "group"
    help: str
    metavar: str = "VALUE"


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    summary: str                                   # one line for `toymodels list` and --help
    presets: Mapping[str, Any]                     # preset name -> config
    sweepable: tuple[str, ...]                     # keys a comma list may sweep within one program
    figures: tuple[Callable[[Any], Any], ...]      # results -> Figure, saved as <function name>.png/.pdf
    task: Callable[[Any], engine.Task]
    make_data: Callable[[Any, list[dict]], Any]
    analyse: Callable[[Run], Any]
    claims: Callable[[Any], list["Claim"]]
    preset_sets: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # --set items a preset brings
    flags: tuple[Flag, ...] = ()
    # Populations (toymodels.population): swept keys the analyses read across instances, so they do
    # not split cells; each instance's outcomes (a dict of scalars, lists or booleans, one per
    # instance of the results); the outcome columns drawn against the swept hyperparameters, as
    # (column, axis label); and published values to draw beside them:
    # {(column, swept key): (label, {swept value: outcome})}.
    within_cell: tuple[str, ...] = ()
    outcomes: Callable[[Any], list[dict]] | None = None
    sweep_outcomes: tuple[tuple[str, str], ...] = ()
    sweep_reference: Mapping[tuple[str, str], tuple[str, Mapping[float, float]]] = dataclasses.field(
        default_factory=dict)
    # (instance, config) -> the instance that trains the same model, for grids where a variant
    # ignores some swept keys (toymodels.config.instances trains each such model once)
    canonical: Callable[[dict, Any], dict] | None = None
    # instance keys that set the size of an instance's data (the train fraction sets the train
    # set's size): a sweep over them trains each value's instances as a program of their own,
    # padded only to their own size, not every instance to the largest (engine.Grouped)
    data_shape_keys: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a paper, measured per instance on a run.

    statement  what the paper says happens, in this project's words
    paper      the paper's own statement and number ("" where the paper gives none)
    criterion  what is measured, and the threshold it must pass on every instance
    values     the measured value of each instance (JSON-serialisable)
    passes     whether each instance passes; the claim holds when there is at least one and all do
    shown      a short text of the values, failing instances first
    revised    "" for a criterion fixed before any run was seen; else what was changed after seeing
               results, and why (the report prints it as "revised after seeing results: ...")
    judged     False when the run cannot answer the claim (no test pairs, every instance diverged):
               such a claim never holds, and says why in `shown` ("cannot be judged: ...")
    cell       the swept hyperparameters of the cell it was judged on ({} when nothing is swept)
    excluded   how many of the cell's instances diverged and were left out of the judgement
    """

    id: str
    statement: str
    paper: str
    criterion: str
    values: list
    passes: list[bool]
    shown: str
    revised: str = ""
    judged: bool = True
    cell: Mapping = dataclasses.field(default_factory=dict)
    excluded: int = 0

    @property
    def holds(self) -> bool:
        return self.judged and bool(self.passes) and all(self.passes)

    @classmethod
    def measure(cls, id: str, statement: str, paper: str, criterion: str, values: Sequence,
                passes: Sequence[bool] | bool, fmt: Callable[[Any], str], most: int = 8,
                summary: str | None = None, revised: str = "") -> "Claim":
        """A claim from per-instance values. `passes` is a flag per instance, or one flag for a
        claim judged on the population as a whole, whose `summary` (e.g. counts over seeds) is
        then shown instead of the values."""
        values = list(values)
        flags = [bool(p) for p in passes] if isinstance(passes, Sequence) else [bool(passes)]
        order = sorted(range(len(values)), key=lambda i: flags[i]) if len(flags) == len(values) else range(len(values))
        texts = [fmt(values[i]) for i in order]
        shown = "; ".join(texts[:most]) + ("; ..." if len(texts) > most else "")
        return cls(id, statement, paper, criterion, values, flags, summary or shown or "no instance to measure",
                   revised)

    @classmethod
    def cannot_judge(cls, id: str, statement: str, paper: str, criterion: str, why: str,
                     revised: str = "") -> "Claim":
        """A claim this run cannot answer, and why (e.g. "no test pairs: frac_train=1")."""
        return cls(id, statement, paper, criterion, [], [], f"cannot be judged: {why}", revised, judged=False)

    def unjudged(self, why: str) -> "Claim":
        """This claim, stated and judged as before, on a run that cannot answer it."""
        return dataclasses.replace(self, values=[], passes=[], shown=f"cannot be judged: {why}", judged=False)

    def to_json(self) -> dict:
        """The report.json form (format 1, plus `paper`, `revised`, `judged`, `cell` and
        `excluded`): claim, expected, measured, per_seed, holds."""
        return {"id": self.id, "claim": self.statement, "paper": self.paper, "expected": self.criterion,
                "revised": self.revised, "measured": self.shown, "per_seed": self.values,
                "judged": self.judged, "cell": dict(self.cell), "excluded": self.excluded, "holds": self.holds}

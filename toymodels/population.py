"""A run as a population: cells of seeds. A cell is one combination of the swept hyperparameters
(`--set lr=1e-3,3e-3 --set weight_decay=0.1,1` makes 4 cells); its seeds are its population.
Claims are judged per cell, on the instances that did not diverge; figures are drawn per cell;
the per-instance table (report.json "table", instances.csv) and the sweep figures read across
cells.

A toy may declare swept keys that its analyses read ACROSS instances (memorisation's table size
and width: a capacity curve needs every table size); those keys stay within one cell.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable
from pathlib import Path

import jax
import numpy as np

from toymodels import stats
from toymodels.store import Run, atomic_write_bytes

TABLE_CSV = "instances.csv"


@dataclasses.dataclass(frozen=True)
class Cell:
    values: dict              # swept hyperparameter -> value (seeds apart); {} when nothing is swept
    indices: tuple[int, ...]  # the run's instances in this cell

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values.items())

    @property
    def slug(self) -> str:
        """A directory name for the cell's figures."""
        return "_".join(f"{k}={v}" for k, v in self.values.items()) or "all"


def cell_keys(sweep: dict, within: Iterable[str] = ()) -> list[str]:
    """The swept keys that split a run into cells: all but the seed and a toy's own axes."""
    return [k for k in sweep if k != "seed" and k not in set(within)]


def cells(spec: dict, within: Iterable[str] = ()) -> list[Cell]:
    """The cells of a run spec (config.json), in the order their instances were laid out."""
    keys = cell_keys(spec["sweep"], within)
    groups: dict[tuple, list[int]] = {}
    for i, inst in enumerate(spec["instances"]):
        groups.setdefault(tuple(inst[k] for k in keys), []).append(i)
    return [Cell(dict(zip(keys, v)), tuple(ix)) for v, ix in groups.items()]


def diverged(run: Run) -> np.ndarray:
    """(N,) whether each instance's training diverged: the in-loop flag at the last step, or any
    non-finite parameter at the last checkpoint."""
    n = len(run.instances)
    flags = np.zeros(n, bool)
    if "diverged" in run.metrics:
        flags |= np.asarray(run.metrics["diverged"][-1]) > 0
    for leaf in jax.tree_util.tree_leaves(run.params):
        flags |= ~np.isfinite(np.asarray(leaf[-1], float).reshape(n, -1)).all(axis=1)
    return flags


def final_metrics(run: Run, i: int) -> dict[str, float]:
    """The last in-loop losses and accuracies of instance i."""
    return {f"final_{k}": float(v[-1, i]) for k, v in run.metrics.items()
            if k != "step" and (k.endswith("loss") or k.endswith("acc"))}


def summarise(rows: list[dict], columns: Iterable[str]) -> dict[str, dict]:
    """Per outcome column over the rows (one cell's non-diverged instances): a proportion with
    its 95% Wilson interval for a yes/no outcome, else the median with a 95% bootstrap interval
    (over the instances where the outcome was reached; `reached` counts them)."""
    out = {}
    for col in columns:
        values = [r.get(col) for r in rows]
        if all(isinstance(v, (bool, np.bool_)) for v in values) and values:
            e = stats.proportion(sum(map(bool, values)), len(values))
            out[col] = {"proportion": e.value, "low": e.low, "high": e.high, "n": e.n}
        else:
            x = np.array([np.nan if v is None else float(v) for v in values], float)
            e = stats.median(x)
            out[col] = {"median": e.value, "low": e.low, "high": e.high, "reached": e.n, "n": len(values)}
    return out


def summary_text(summary: dict[str, dict]) -> str:
    parts = []
    for col, s in summary.items():
        if s["n"] == 0:
            continue
        if "proportion" in s:
            parts.append(f"{col} {s['proportion']:.2f} [{s['low']:.2f}, {s['high']:.2f}] (n={s['n']})")
        elif s["reached"]:
            reached = "" if s["reached"] == s["n"] else f", reached in {s['reached']}/{s['n']}"
            parts.append(f"{col} median {s['median']:.4g} [{s['low']:.4g}, {s['high']:.4g}]{reached}")
        else:
            parts.append(f"{col} not reached (n={s['n']})")
    return "; ".join(parts)


def write_csv(path: Path, rows: list[dict]) -> None:
    """The per-instance table as CSV (lists joined with '+'), written whole or not at all."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "+".join(map(str, v)) if isinstance(v, (list, tuple)) else v for k, v in r.items()})
    atomic_write_bytes(path, buf.getvalue().encode())


def spread_subset(items: list, most: int) -> list:
    """At most `most` items, evenly spaced, first and last included."""
    if len(items) <= most:
        return list(items)
    return [items[round(j)] for j in np.linspace(0, len(items) - 1, most)]


def first_step(steps: np.ndarray, hit: np.ndarray) -> list[float | None]:
    """Per instance, the first step at which `hit` (T, N) is true; None where it never is."""
    hit = np.asarray(hit, bool)
    return [float(steps[np.argmax(hit[:, i])]) if hit[:, i].any() else None for i in range(hit.shape[1])]

"""A run as cells x seeds: sweeps keep their cells apart in claims, figures and the per-instance
table; diverged instances are excluded and counted, and a cell that diverged entirely cannot be
judged. On tiny grokking runs (seconds each)."""

import csv
import json

import numpy as np
import pytest
from conftest import TINY

from toymodels import load_run, population, registry
from toymodels.cli import main
from toymodels.pipeline import evaluate
from toymodels.plotting import save, sweep_figure
from toymodels.store import _json_default

GROK = [a for item in TINY["grokking"] for a in ("--set", item)]


def _text(x):
    return json.dumps(x, default=_json_default, sort_keys=True)


def _report(out):
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """2 train fractions x 2 weight decays x 2 seeds, with only the loss curves per cell."""
    out = tmp_path_factory.mktemp("grid") / "run"
    assert main(["reproduce", "grokking", *GROK, "--set", "frac_train=0.5,0.7", "--set", "weight_decay=0.3,1",
                 "--seeds", "2", "--figure", "loss_curves", "--no-progress", "--out", str(out)]) == 0
    return out


def test_a_sweep_keeps_its_cells_apart_in_claims_figures_and_table(grid, capsys):
    report = _report(grid)
    cells = [c["cell"] for c in report["cells"]]
    assert sorted(map(json.dumps, cells)) == sorted(json.dumps({"frac_train": f, "weight_decay": w})
                                                    for w in (0.3, 1.0) for f in (0.5, 0.7))  # in --set order
    assert all(len(c["instances"]) == 2 for c in report["cells"])
    ids = {c["id"] for c in report["claims"]}
    for cell in cells:  # every claim judged once per cell, on that cell's 2 seeds
        mine = [c for c in report["claims"] if c["cell"] == cell]
        assert {c["id"] for c in mine} == ids
        assert all(len(c["per_seed"]) in (0, 2) for c in mine)
        slug = "_".join(f"{k}={v}" for k, v in cell.items())
        assert (grid / "cells" / slug / "loss_curves.png").stat().st_size > 1000
    assert not (grid / "loss_curves.png").exists()  # nothing pooled across cells
    rows = list(csv.DictReader((grid / population.TABLE_CSV).open()))
    assert len(rows) == 8 == len(report["table"])
    assert {(r["frac_train"], r["weight_decay"], r["seed"]) for r in rows} == {
        (f, w, s) for f in ("0.5", "0.7") for w in ("0.3", "1.0") for s in ("0", "1")}
    assert {"diverged", "final_test_loss", "grok_step_0.01", "n_key_freqs"} <= set(rows[0])
    # each instance's outcome is its own: the table's final test loss is the run's metric for it
    m = load_run(grid).metrics
    for r in report["table"]:
        assert r["final_test_loss"] == pytest.approx(float(m["test_loss"][-1, r["instance"]]))
    # the printed report names each cell
    assert main(["check", str(grid)]) == 1
    printed = capsys.readouterr().out
    assert "cell frac_train=0.5, weight_decay=0.3 (2 instances)" in printed


def test_a_2d_sweep_draws_a_heatmap_and_a_1d_sweep_a_line_with_the_papers_values(grid, tmp_path):
    assert main(["reproduce", "grokking", *GROK, "--set", "frac_train=0.5,0.7", "--set", "weight_decay=0.3,1",
                 "--seeds", "2", "--figure", "sweep_grok_step_0.1", "--no-progress", "--out", str(grid)]) == 0
    assert (grid / "sweep_grok_step_0.1.png").stat().st_size > 1000
    fig = sweep_figure(_report(grid)["table"], ["frac_train", "weight_decay"], "final_test_loss", "test loss")
    assert len([ax for ax in fig.axes if ax.images]) == 1  # one heatmap (plus its colour bar)
    rows = [{"frac_train": f, "seed": s, "diverged": False, "t": (100 * f + s) if s < 2 else None}
            for f in (0.3, 0.5, 0.9) for s in range(3)]
    recipe = registry.get("grokking")
    ref = {"frac_train": recipe.sweep_reference[("grok_step_0.1", "frac_train")]}
    fig = sweep_figure(rows, ["frac_train"], "t", "grok step", ref)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["median of seeds (band min–max, dots: seeds)"].get_ydata()) == [30.5, 50.5, 90.5]
    assert any(label.startswith("paper") for label in lines)
    assert any(t.get_text() == "2/3" for t in ax.texts)  # the seed that never reached it is counted
    save(fig, tmp_path, "s")


def test_a_diverged_cell_cannot_be_judged_and_draws_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reproduce", "grokking", *GROK, "--set", "lr=1e-3,100", "--seeds", "2", "--figure",
                 "loss_curves", "--no-progress", "--out", str(out)]) == 0
    report = _report(out)
    gone = [c for c in report["claims"] if c["cell"] == {"lr": 100.0}]
    kept = [c for c in report["claims"] if c["cell"] == {"lr": 0.001}]
    assert gone and len(gone) == len(kept)
    assert all(not c["holds"] and not c["judged"] and c["measured"] == "cannot be judged: all 2 instances diverged"
               for c in gone)
    assert all(c["judged"] and c["excluded"] == 0 for c in kept)
    assert [c["diverged"] for c in report["cells"]] == [[], [2, 3]]
    assert [r["diverged"] for r in report["table"]] == [False, False, True, True]
    assert (out / "cells" / "lr=0.001" / "loss_curves.png").exists() and not (out / "cells" / "lr=100.0").exists()
    assert "no figures for 1 cell" in report["figures_note"]
    printed = capsys.readouterr().out
    assert "cell lr=100.0 (2 instances, 2 diverged)" in printed and "n/a" in printed


def test_diverged_instances_are_excluded_and_counted(tiny_run):
    """One seed of a cell made non-finite by hand: the claims are judged on the other."""
    run = load_run(tiny_run("grokking"))
    recipe = registry.get("grokking")
    [whole] = evaluate(recipe, run)
    run.params["W_E"][-1, 1, 0, 0] = np.nan
    [cell] = evaluate(recipe, run)
    assert cell.kept == [0] and cell.diverged == [1]
    for before, after in zip(whole.claims, cell.claims):
        assert after.excluded == 1 and _text(after.values) == _text(before.values[:1])  # as text: NaN == NaN
        assert after.shown.startswith("1 of 2 instances diverged, judged on the rest; ")
    assert [r["diverged"] for r in cell.rows] == [False, True] and "n_key_freqs" not in cell.rows[1]


def test_cells_split_by_swept_keys_but_not_by_seed_or_a_toys_own_axes():
    spec = {"sweep": {"lr": [1, 2], "n": [5, 6], "seed": [0, 1]},
            "instances": [{"lr": lr, "n": n, "seed": s} for lr in (1, 2) for n in (5, 6) for s in (0, 1)]}
    assert [(c.values, c.indices) for c in population.cells(spec)] == [
        ({"lr": 1, "n": 5}, (0, 1)), ({"lr": 1, "n": 6}, (2, 3)), ({"lr": 2, "n": 5}, (4, 5)), ({"lr": 2, "n": 6}, (6, 7))]
    assert [(c.values, c.indices) for c in population.cells(spec, within=("n",))] == [
        ({"lr": 1}, (0, 1, 2, 3)), ({"lr": 2}, (4, 5, 6, 7))]
    one = population.cells({"sweep": {}, "instances": [{"seed": 0}, {"seed": 1}]})
    assert [(c.values, c.indices, c.label) for c in one] == [({}, (0, 1), "")]


def test_seed_statistics_carry_intervals():
    rows = [{"ok": True}, {"ok": False}, {"ok": True}, {"ok": True}]
    s = population.summarise(rows, ["ok"])["ok"]
    assert s["proportion"] == 0.75 and s["low"] < 0.75 < s["high"] and s["n"] == 4
    rows = [{"t": v} for v in (100.0, 200.0, 300.0, None)]
    s = population.summarise(rows, ["t"])["t"]
    assert s["median"] == 200.0 and s["reached"] == 3 and s["n"] == 4 and s["low"] <= 200 <= s["high"]
    assert "reached in 3/4" in population.summary_text({"t": s})


def test_a_large_grid_draws_an_evenly_spread_subset_of_cells():
    assert population.spread_subset(list(range(20)), 8) == [0, 3, 5, 8, 11, 14, 16, 19]
    assert population.spread_subset([1, 2], 8) == [1, 2]

"""End to end: a tiny memorisation grid makes every figure and a report whose claims are measured
(bad input: tests/test_cli.py). The presets' own grids (recipe.PRESET_SETS) run behind -m paper."""

import json

import pytest

from toymodels import load_run, reproduce
from toymodels.memorisation import analyses as A
from toymodels.memorisation.recipe import PRESET_SETS, RECIPE

pytestmark = pytest.mark.xdist_group("memorisation")  # shares the tiny run with tests/test_toys.py


def test_tiny_grid_makes_every_figure_and_a_measured_report(tiny_run):
    out = tiny_run("memorisation")
    report = json.loads((out / "report.json").read_text())
    assert len(report["instances"]) == 8
    names = {f.rsplit("/", 1)[-1].rsplit(".", 1)[0] for f in report["figures"]}
    assert names == {fn.__name__ for fn in RECIPE.figures}  # n, width, structured stay in one cell: no sweep figures
    assert all((out / f).stat().st_size > 0 for f in report["figures"])
    ids = {c["id"] for c in report["claims"]}
    assert ids == {"converged", "bits_per_param_at_capacity", "facts_spread_over_neurons", "facts_spread_over_layers",
                   "mlp0_does_not_make_label_readable", "structured_table_differs"}
    conv = next(c for c in report["claims"] if c["id"] == "converged")
    assert len(conv["per_seed"]) == 8  # measured per instance
    assert not conv["holds"]  # 60 steps: the bits per fact still grow (a converged run: the paper-marked test)
    run = load_run(out)
    assert run.params["W_in"].shape[1:] == (8, 2, 8, 4)


def test_analyse_gives_one_row_of_results_per_instance(tiny_run):
    results = A.analyse(load_run(tiny_run("memorisation")))
    assert results.layers == 2 and results.structure == "row" and len(results.instances) == 8
    f = results.final
    assert f.capacity.bits.shape == (8,) and f.probes.shape == (8, 3) and f.paths.share.shape == (8, 4)
    assert f.neurons.k50.shape == (8, 100)  # 10 x 10 padded pairs
    assert f.correlation.matrix.shape == (8, A.CORRELATION_FACTS, A.CORRELATION_FACTS)
    table = A.capacity_table(results)
    assert [(r["width"], r["seed"]) for r in table] == [(2, 0), (4, 0)]
    for row in table:
        inst = results.instances[A.capacity_instance(results, row)]
        assert (inst["width"], inst["n"], inst["structured"]) == (row["width"], row["n_best"], False)


@pytest.mark.paper
@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_preset_grid_every_claim_holds(tmp_path, preset):
    out = tmp_path / preset
    report = reproduce("memorisation", preset, out=out, sets=PRESET_SETS[preset], progress=False)
    failed = [f"{c['id']}: {c['measured']}" for c in report["claims"] if not c["holds"]]
    assert not failed, "\n".join(failed)

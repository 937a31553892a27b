"""`toymodels reproduce superposition` end to end on a tiny figure set (bad input: tests/test_cli.py)."""

import json
import shutil

import numpy as np
import pytest
from conftest import tiny_args

from toymodels import load_run
from toymodels.cli import main
from toymodels.superposition.analyses import analyse
from toymodels.superposition.figures import FIGURES
from toymodels.superposition.recipe import claims

pytestmark = pytest.mark.xdist_group("superposition")  # shares the tiny run with tests/test_toys.py


def test_tiny_reproduce_makes_every_figure_and_a_report(tiny_run):
    out = tiny_run("superposition")
    run = load_run(out)
    report = json.loads((out / "report.json").read_text())
    names = {f.rsplit(".", 1)[0] for f in report["figures"]}
    assert names == {fn.__name__ for fn in FIGURES}
    assert all((out / f).stat().st_size > 1000 for f in report["figures"])
    # the run reloads; params are per stack with the model axis inside each instance
    assert run.params["geometry"]["W"].shape == (1, 2, 3, 4, 16)  # (checkpoints, seeds, K, m, n)
    assert run.params["phase_2_1"]["W"].shape == (1, 2, 18, 1, 2)
    assert run.metrics["loss_phase_3_2"].shape == (3, 2, 18)
    assert run.params["corr_collapse"]["W"].shape == (1, 2, 6, 2, 6)  # 2 tries x 3 sparsities of 3 correlated pairs


def test_tiny_report_claims_are_the_run_judged_again_and_none_holds_after_40_steps(tiny_run):
    """The report's claims are the recipe's claims of the stored run (re-judged from disk), and a
    figure set trained for 40 steps from its random init has none of the paper's mechanisms:
    every claim is judged and fails for both seeds (claims on hand-built weights, with and
    without each mechanism: tests/test_superposition_claims.py)."""
    out = tiny_run("superposition")
    report = json.loads((out / "report.json").read_text())
    judged = claims(analyse(load_run(out)))
    assert report["claims"] == json.loads(json.dumps([c.to_json() for c in judged]))
    assert [c.id for c in judged] == ["linear_no_superposition", "relu_dense_no_superposition", "antipodal_pairs",
                                      "pentagon", "d_star_curve", "sticky_lines", "phase_boundary_n2m1",
                                      "correlated_orthogonal", "anticorrelated_antipodal", "correlated_collapse",
                                      "correlated_side_by_side"]
    for c in judged:
        assert c.judged and len(c.passes) == 2 and not any(c.passes), (c.id, c.shown)


def test_rerun_resumes_the_finished_run_and_figure_makes_only_that_figure(tiny_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(tiny_run("superposition"), out)  # a copy: the shared tiny run keeps every figure
    before = load_run(out).final_params()["geometry"]["W"].copy()
    (out / "phase_diagrams.png").unlink()
    assert main([*tiny_args("superposition"), "--out", str(out), "--figure", "phase_diagrams"]) == 0
    run = load_run(out)
    assert run.report["figures"] == ["phase_diagrams.png", "phase_diagrams.pdf"]
    assert (out / "phase_diagrams.png").exists()
    np.testing.assert_array_equal(run.final_params()["geometry"]["W"], before)  # nothing retrained

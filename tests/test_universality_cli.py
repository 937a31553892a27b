"""`toymodels reproduce universality` end to end on a tiny config, with the MLP and the transformer
(bad input is in tests/test_cli.py with every toy's)."""

import json

from conftest import tiny_args

from toymodels import check
from toymodels.cli import main
from toymodels.universality.figures import FIGURES

TINY_TRANSFORMER = ("d_model=16", "n_heads=2", "d_head=8", "d_mlp=32")


def _check_report(out) -> dict:
    report = json.loads((out / "report.json").read_text())
    assert {f"{fn.__name__}.png" for fn in FIGURES} <= set(report["figures"])
    assert {c["id"] for c in report["claims"]} >= {"generalises", "key_irreps_explain_embedding", "which_irreps"}
    # the report's claims are what the run on disk gives when re-evaluated, and each states its paper and criterion
    assert [c.to_json() for c in check(out)] == report["claims"]
    assert all(c["paper"] and c["expected"] for c in report["claims"])
    # 40 steps of a 16-wide model on S3 learn nothing: no claim may hold (tests/test_universality_claims.py
    # has them holding on models that learned the group)
    assert not [c["id"] for c in report["claims"] if c["holds"]]
    return report


def test_tiny_mlp_run_makes_every_figure_and_report(tiny_run):
    _check_report(tiny_run("universality"))


def test_tiny_transformer_run_makes_every_figure_and_report(tmp_path):
    out = tmp_path / "run"
    assert main([*tiny_args("universality", *TINY_TRANSFORMER), "--model", "transformer", "--out", str(out)]) == 0
    assert _check_report(out)["config"]["model"] == "transformer"  # --model is --set model=

"""`toymodels reproduce universality` end to end on a tiny config (every figure and a report), and
bad input: one line, exit 2, nothing written."""

import json

import pytest

from conftest import tiny_args
from toymodels.cli import main
from toymodels.universality.figures import FIGURES

TINY_TRANSFORMER = ("d_model=16", "n_heads=2", "d_head=8", "d_mlp=32")


def _check_report(out) -> dict:
    report = json.loads((out / "report.json").read_text())
    assert {f"{fn.__name__}.png" for fn in FIGURES} <= set(report["figures"])
    assert {c["id"] for c in report["claims"]} >= {"generalises", "key_irreps_explain_embedding", "which_irreps"}
    assert all(isinstance(c["holds"], bool) for c in report["claims"])
    return report


def test_tiny_mlp_run_makes_every_figure_and_report(tiny_run):
    _check_report(tiny_run("universality"))


def test_tiny_transformer_run_makes_every_figure_and_report(tmp_path):
    out = tmp_path / "run"
    assert main([*tiny_args("universality", *TINY_TRANSFORMER), "--model", "transformer", "--out", str(out)]) == 0
    assert _check_report(out)["config"]["model"] == "transformer"  # --model is --set model=


@pytest.mark.parametrize("args, message", [
    (["--group", "Q8"], "unknown group 'Q8'"),
    (["--group", "S7"], "S7 is too large"),
    (["--group", "S6"], "at most 645 elements"),
    (["--model", "rnn"], "unknown model 'rnn'"),
    (["--group", "C7", "--set", "coset_irreps=standard"], "unknown irrep 'standard' of C7"),
    (["--set", "coset_irreps=sign+nosuch"], "unknown irrep 'nosuch' of S4"),
    (["--set", "frac_train=0"], "frac_train must lie in (0, 1]"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    code = main(["reproduce", "universality", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("toymodels: error:") and err.count("\n") == 1
    assert not out.exists()

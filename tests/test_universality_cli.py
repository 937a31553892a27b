"""`toymodels reproduce universality` end to end on a tiny config (every figure and a report), and
bad input: one line, exit 2, nothing written."""

import json

import pytest

from toymodels.cli import main
from toymodels.universality import recipe as exp

TINY = ["--set", "d_embed=16", "--set", "d_hidden=16", "--set", "steps=40", "--set", "eval_every=10",
        "--set", "log_checkpoints=4", "--seeds", "2", "--no-progress"]


@pytest.mark.parametrize("model, extra", [("mlp", []), ("transformer", ["--set", "d_model=16", "--set", "n_heads=2",
                                                                         "--set", "d_head=8", "--set", "d_mlp=32"])])
def test_tiny_reproduce_makes_every_figure_and_report(tmp_path, model, extra):
    out = tmp_path / "run"
    code = main(["reproduce", "universality", "--group", "S3", "--model", model, *TINY, *extra, "--out", str(out)])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert {f"{name}.png" for name in exp.FIGURES} <= set(report["figures"])
    assert {c["id"] for c in report["claims"]} >= {"generalises", "key_irreps_explain_embedding", "which_irreps"}
    assert all(isinstance(c["holds"], bool) for c in report["claims"])


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

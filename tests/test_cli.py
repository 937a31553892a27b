"""The command line as a user meets it: bad input gets one line and a non-zero exit, nothing on
disk is lost, and a finished run reloads in one line."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY as TINY_SETS

import toymodels
import toymodels.cli
from toymodels import load_run
from toymodels.cli import main
from toymodels.store import LOCK

ROOT = Path(__file__).parents[1]
TINY = [*(a for item in TINY_SETS["grokking"] for a in ("--set", item)), "--no-progress"]


def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "toymodels.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.name != LOCK):  # the lock names its holder
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _bad(experiment, cases):
    return [pytest.param(["reproduce", experiment, *args], message, id=f"{experiment}:{' '.join(args)}")
            for args, message in cases]


BAD_INPUT = [
    pytest.param(["reproduce", "nosuch"], "unknown experiment 'nosuch'", id="unknown experiment"),
    *_bad("grokking", [
        (["--seeds", "0"], "--seeds must be a positive integer"),
        (["--seeds", "abc"], "invalid int value: 'abc'"),
        (["--set", "frac_train=1.5"], "frac_train must lie in (0, 1]"),
        (["--set", "frac_train=0"], "frac_train must lie in (0, 1]"),
        (["--set", "p=1"], "p must be an odd prime"),
        (["--set", "p=12"], "p must be an odd prime"),
        (["--set", "p=1009"], "p=1009 is too large"),
        (["--set", "lr=-1"], "need lr > 0"),
        (["--set", "nosuch=3"], "unknown config key 'nosuch'"),
        (["--set", "steps=ten"], "--set steps=ten: expected int"),
        (["--set", "p=53,59"], "p cannot be swept"),
        (["--preset", "huge"], "unknown preset 'huge'"),
        (["--figure", "nosuch"], "unknown figure 'nosuch' for grokking; known: loss_curves,"),
        (["--figure", "sweep_n_key_freqs"], "sweep_n_key_freqs sets an outcome against swept hyperparameters"),
        (["--group", "S5"], "--group is a flag of universality, not of grokking"),
        (["--set", "lr=inf"], "lr must be a finite number"),
        (["--set", "weight_decay=nan"], "weight_decay must be a finite number"),
        (["--set", "beta1=2"], "AdamW needs 0 <= beta1, beta2 < 1 and eps > 0"),
        (["--set", "eps=0"], "AdamW needs 0 <= beta1, beta2 < 1 and eps > 0"),
        (["--set", "seed=-1"], "seeds seed..seed+seeds-1 must lie in [0, 2147483648)"),
        (["--set", "seed=0,-1"], "must lie in [0, 2147483648)"),
        (["--set", "seed=2147483647", "--seeds", "2"], "must lie in [0, 2147483648)"),
        (["--set", "seed=0,0"], "--set seed=0,0 repeats 0: each value trains once"),
        (["--set", "lr=1e-3,0.001"], "repeats 0.001"),
        (["--seeds", "3", "--set", "seed=0,1"], "3 seeds asked for, but --set seed=0,1 lists 2"),
        (["--set", "seeds=3", "--set", "seed=0,1"], "3 seeds asked for, but --set seed=0,1 lists 2"),
    ]),
    *_bad("superposition", [
        (["--set", "geometry_sparsity_max=1"], "geometry_sparsity_max must lie in [0, 1)"),
        (["--set", "abs_pair_sparsity=-0.5"], "abs_pair_sparsity must lie in [0, 1)"),
        (["--set", "wtw_m=150"], "wtw_m=150 must be < wtw_n=100"),
        (["--set", "geometry_n=0"], "geometry_n must be a positive integer"),
        (["--set", "batch=-1"], "batch must be a positive integer"),
        (["--set", "steps=0"], "steps must be a positive integer"),
        (["--set", "batch=64,128"], "batch cannot be swept"),
        (["--set", "lr=1e-3,-1"], "need lr > 0"),
        (["--figure", "nosuch"], "unknown figure 'nosuch' for superposition; known: intro_geometry,"),
    ]),
    *_bad("universality", [
        (["--group", "Q8"], "unknown group 'Q8'"),
        (["--group", "S7"], "S7 is too large"),
        (["--group", "S6"], "at most 645 elements"),
        (["--model", "rnn"], "unknown model 'rnn'"),
        (["--group", "C7", "--set", "coset_irreps=standard"], "unknown irrep 'standard' of C7"),
        (["--set", "coset_irreps=sign+nosuch"], "unknown irrep 'nosuch' of S4"),
        (["--set", "frac_train=0"], "frac_train must lie in (0, 1]"),
    ]),
    *_bad("memorisation", [
        (["--set", "n=1"], "table size n must be >= 2"),
        (["--set", "d=0"], "d must be a positive integer"),
        (["--set", "width=0"], "width must be a positive integer"),
        (["--set", "width=-3"], "width must be a positive integer"),
        (["--set", "structure=parity"], "unknown label kind structure='parity'"),
        (["--set", "max_n=100000", "--set", "n=100000"], "too large"),
        (["--set", "n=8,500"], "exceeds max_n"),
        (["--set", "layers=3"], "layers must be 1 or 2"),
        (["--set", "d=8,16"], "d cannot be swept"),
    ]),
    *_bad("saes", [
        (["--set", "variant=gated"], "unknown variant 'gated'; known: relu, topk, jumprelu"),
        (["--set", "variant=relu,gated"], "unknown variant 'gated'"),
        (["--set", "source=lm"], "unknown source 'lm'"),
        (["--set", "structure=tree"], "unknown structure 'tree'"),
        (["--set", "dict_size=16,128"], "dict_size=128 is above max_dict_size=64"),
        (["--set", "coef=-1"], "coef and l0_coef must be >= 0"),
        (["--set", "feature_prob=0"], "feature_prob must lie in (0, 1]"),
        (["--set", "variant=topk", "--set", "k=100"], "k=100 active latents of a dictionary of 16"),
        (["--set", "structure=correlated", "--set", "n_features=33"], "correlated features come in pairs"),
        (["--set", "source=tms", "--set", "tms_m=5"], "tms_m=5 must be < tms_n=5"),
        (["--set", "d=8,16"], "d cannot be swept"),
    ]),
]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(tmp_path, capsys, args, message):
    """Every toy's impossible values, unknown names and misplaced flags: one line, exit 2, nothing on disk."""
    out = tmp_path / "run"
    try:
        code = main([*args, "--out", str(out)])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert err.strip().splitlines()[-1].startswith(("toymodels: error:", "toymodels reproduce: error:"))
    if err.startswith("toymodels: error:"):
        assert err.count("\n") == 1
    assert not out.exists()


def test_a_real_process_gets_one_line_and_no_traceback(tmp_path):
    r = _cli("reproduce", "grokking", "--set", "frac_train=1.5", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and r.stderr.strip() == "toymodels: error: frac_train must lie in (0, 1] (got 1.5)"
    assert not (tmp_path / "run").exists()


def test_out_holding_another_run_is_refused_and_left_intact(tmp_path):
    out = tmp_path / "run"
    assert main(["reproduce", "grokking", "--out", str(out), *TINY]) == 0
    before = _tree_digest(out)
    r = _cli("reproduce", "grokking", "--out", str(out), *TINY, "--set", "lr=3e-3")
    assert r.returncode == 2 and "another config (differs in config.lr, instances)" in r.stderr
    assert "0.003" not in r.stderr and len(r.stderr.splitlines()) == 1  # names the fields, not the values
    assert _tree_digest(out) == before


def test_corrupt_run_directory_is_one_line(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{ not json")
    r = _cli("reproduce", "grokking", "--out", str(out), *TINY)
    assert r.returncode == 2 and "corrupt" in r.stderr and "Traceback" not in r.stderr
    assert (out / "config.json").read_text() == "{ not json"


def test_corrupt_metrics_or_checkpoint_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reproduce", "grokking", "--out", str(out), *TINY]) == 0
    metrics = out / "metrics.npz"
    metrics.write_bytes(metrics.read_bytes()[:100])
    assert main(["reproduce", "grokking", "--out", str(out), *TINY]) == 2
    assert "metrics.npz is unreadable or corrupt" in capsys.readouterr().err
    with pytest.raises(toymodels.RunDirError, match="corrupt"):
        load_run(out)


def test_out_that_is_a_file_or_cannot_be_created_is_one_line(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert main(["reproduce", "grokking", "--out", str(a_file), *TINY]) == 2
    assert "is a file, not a run directory" in capsys.readouterr().err
    assert a_file.read_text() == "mine"
    assert main(["reproduce", "grokking", "--out", str(a_file / "run"), *TINY]) == 2
    assert "cannot create the run directory" in capsys.readouterr().err


def test_a_directory_of_other_files_is_not_touched(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = _cli("reproduce", "grokking", "--out", str(tmp_path), *TINY)
    assert r.returncode == 2 and "not an empty run directory" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_finished_run_reloads_in_one_line_and_rerun_is_idempotent(tmp_path):
    out = tmp_path / "run"
    assert main(["reproduce", "grokking", "--out", str(out), "--seeds", "2", *TINY]) == 0
    run = load_run(out)
    assert run.complete and run.steps == [0, 20, 40]
    assert run.params["W_E"].shape == (3, 2, 12, 16)  # (checkpoints, instances, p+1, d_model)
    assert run.metrics["test_loss"].shape == (5, 2)
    assert {c["id"] for c in run.report["claims"]} >= {"grokking_delay", "restricted_loss_falls_first", "cleanup"}
    assert all((out / f).stat().st_size > 0 for f in run.report["figures"])
    params_before = run.final_params()["W_U"].copy()
    assert main(["reproduce", "grokking", "--out", str(out), "--seeds", "2", *TINY]) == 0
    assert (load_run(out).final_params()["W_U"] == params_before).all()


def test_figure_makes_only_that_figure(tmp_path):
    out = tmp_path / "run"
    assert main(["reproduce", "grokking", "--out", str(out), "--figure", "loss_curves", *TINY]) == 0
    assert load_run(out).report["figures"] == ["loss_curves.png", "loss_curves.pdf"]
    assert not (out / "fourier_norms.png").exists()


def test_help_and_list():
    r = _cli("--help")
    assert r.returncode == 0 and "reproduce" in r.stdout and "grokking" in r.stdout
    r = _cli("list")
    assert r.returncode == 0 and "grokking" in r.stdout and "quick" in r.stdout and "paper" in r.stdout


@pytest.mark.parametrize("message, said", [
    ("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9e12 bytes", "out of memory; train fewer"),
    # what --seeds 100000 raised on the CPU: an INTERNAL status, not RESOURCE_EXHAUSTED
    ("INTERNAL: Failed to allocate 81920000000 bytes: Out of memory\n\nthe rest", "out of memory; train fewer"),
    ("INTERNAL: something else broke\nsecond line", "the JAX runtime failed: INTERNAL: something else broke"),
])
def test_runtime_failures_are_one_line(monkeypatch, capsys, tmp_path, message, said):
    import jax

    def fail(*args, **kwargs):
        raise jax.errors.JaxRuntimeError(message)

    monkeypatch.setattr(toymodels.cli, "reproduce", fail)
    assert main(["reproduce", "grokking", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and said in err


def test_a_preset_can_bring_its_own_sweep_and_the_users_set_wins():
    from toymodels.pipeline import resolve

    _, _, spec = resolve("memorisation", "quick")
    assert set(spec["sweep"]) == {"n", "width", "structured"} and len(spec["instances"]) > 1
    _, _, spec = resolve("memorisation", "quick", sets=("n=16",))
    assert "n" not in spec["sweep"] and {i["n"] for i in spec["instances"]} == {16}

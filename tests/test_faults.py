"""Faults a run directory meets: kills mid-write, a second process, damaged or deleted files, a
failed start. Each ends in a one-line error and a non-zero exit, or in a correct recovery, and
nothing already on disk is lost."""

import dataclasses
import json
import os
import shutil

import jax
import matplotlib.figure
import numpy as np
import pytest
from conftest import tiny_args

import toymodels.cli
import toymodels.pipeline
from toymodels import engine, load_run
from toymodels.cli import main
from toymodels.errors import RunDirError
from toymodels.store import LOCK, locked

ARGS = tiny_args("grokking")
ONE_FIGURE = [*ARGS, "--figure", "loss_curves"]  # where the figures are not what is tested


@pytest.fixture
def finished(tiny_run, tmp_path):
    """A private copy of a finished tiny grokking run (2 seeds, checkpoints at 0, 20, 40)."""
    out = tmp_path / "run"
    shutil.copytree(tiny_run("grokking"), out)
    return out


def _files(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != LOCK}


def test_a_kill_while_figures_are_rewritten_leaves_every_figure_whole(finished, monkeypatch):
    before = _files(finished)
    real = matplotlib.figure.Figure.savefig

    def killed_halfway(self, target, **kw):  # writes half a figure into its target, then dies
        real(self, target, **kw)
        if hasattr(target, "truncate"):
            target.truncate(target.tell() // 2)
        else:
            os.truncate(target, os.path.getsize(target) // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", killed_halfway)
    assert main([*ARGS, "--out", str(finished)]) == 130
    assert _files(finished) == before  # the old report beside the old, whole figures


def test_a_second_process_on_the_same_run_is_told_who_holds_it(finished, capsys):
    with locked(finished):
        assert main([*ARGS, "--out", str(finished)]) == 2
    err = capsys.readouterr().err
    assert f"is in use by another toymodels process (pid {os.getpid()})" in err and err.count("\n") == 1


def test_a_lock_left_by_a_killed_process_does_not_block(finished):
    (finished / LOCK).write_text("999999\n")  # a pid file whose process (and flock) is gone
    assert main([*ONE_FIGURE, "--out", str(finished)]) == 0


def test_a_run_that_failed_before_training_does_not_block_the_corrected_command(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"

    def oom(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory")

    monkeypatch.setattr(engine, "train", oom)
    assert main([*ONE_FIGURE, "--set", "lr=3e-3", "--out", str(out)]) == 1
    assert (out / "config.json").exists()
    monkeypatch.undo()
    assert main([*ONE_FIGURE, "--out", str(out)]) == 0
    assert load_run(out).config["lr"] == 1e-3


def test_a_deleted_final_checkpoint_is_refused_then_recreated(finished, capsys):
    params = load_run(finished).final_params()
    shutil.rmtree(finished / "checkpoints" / "40")
    with pytest.raises(RunDirError, match="checkpoints/40 is missing; run the same command again"):
        load_run(finished)  # never the params of step 20 beside the metrics of step 40
    assert main([*ONE_FIGURE, "--out", str(finished)]) == 0
    run = load_run(finished)
    assert run.steps == [0, 20, 40]
    jax.tree_util.tree_map(np.testing.assert_array_equal, run.final_params(), params)


def test_a_truncated_report_is_an_unfinished_run_and_is_rewritten(finished):
    report = (finished / "report.json").read_text()
    (finished / "report.json").write_text(report[: len(report) // 2])
    assert not load_run(finished).complete
    assert main([*ONE_FIGURE, "--out", str(finished)]) == 0
    assert load_run(finished).report["claims"] == json.loads(report)["claims"]


def test_a_truncated_resume_state_of_a_finished_run_is_not_needed(finished, monkeypatch):
    for f in (finished / "resume").rglob("*"):
        if f.is_file():
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    trained = _files(finished)
    monkeypatch.setattr(engine, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert main([*ONE_FIGURE, "--out", str(finished)]) == 0
    assert {k: v for k, v in _files(finished).items() if "checkpoints" in k} == \
           {k: v for k, v in trained.items() if "checkpoints" in k}


def test_every_file_of_a_run_is_readable_by_others(finished):
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "metrics.npz", "report.json", "loss_curves.png", "loss_curves.pdf"):
        assert (finished / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_repr_of_a_run_is_one_line_summary(finished):
    text = repr(load_run(finished))
    assert "\n" not in text and len(text) < 300 and "array" not in text
    assert "grokking quick, 2 instances, 3 checkpoints (steps 0..40)" in text and "complete" in text


def test_progress_names_each_stage_and_labels_its_numbers(tmp_path, capsys):
    args = [a for a in ARGS if a != "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    for said in ("compiling", "training 2 instances", "median of 2: train_loss=", "analysing...", "drawing figures..."):
        assert said in err, said
    timings = load_run(tmp_path / "run").report["timings"]
    assert set(timings) == {"compile_s", "train_s", "analyse_s", "figures_s"}
    assert 0 < timings["compile_s"] < timings["train_s"]


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*ARGS, "--set", "frac_train=0.5,0.7", "--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "grokking (quick): 4 instances as 2 programs, one per frac_train" in printed
    assert "  p = 11" in printed and "swept: frac_train over 0.5, 0.7" in printed
    assert not out.exists()


def test_list_shows_what_each_preset_sets(capsys):
    assert main(["list"]) == 0
    printed = capsys.readouterr().out
    assert "    quick: p=53 frac_train=0.5 steps=5000 eval_every=20 checkpoint_every=100" in printed
    assert "    quick: log_checkpoints=30 group=S4 frac_train=0.6 lr=0.01 steps=3000" in printed  # universality's


def test_a_failure_after_training_keeps_the_old_report(finished, monkeypatch):
    report = (finished / "report.json").read_bytes()
    monkeypatch.setattr(toymodels.pipeline, "load_run", lambda out: (_ for _ in ()).throw(RunDirError("damaged")))
    assert main([*ARGS, "--out", str(finished)]) == 2
    assert (finished / "report.json").read_bytes() == report


def test_check_re_evaluates_a_finished_run_and_exits_1_when_a_claim_fails(finished, tmp_path, capsys):
    import toymodels

    report = json.loads((finished / "report.json").read_text())
    assert [c.to_json()["holds"] for c in toymodels.check(finished)] == [c["holds"] for c in report["claims"]]
    code = main(["check", str(finished)])
    assert code == (0 if all(c["holds"] for c in report["claims"]) else 1)
    # a run whose claims fail: the tiny run stops at step 40, long before it could grok
    assert not all(c["holds"] for c in report["claims"]) and code == 1
    assert main([*ONE_FIGURE, "--out", str(finished), "--strict"]) == 1
    assert main(["check", str(tmp_path / "nothing")]) == 2
    shutil.rmtree(finished / "checkpoints" / "40")
    assert main(["check", str(finished)]) == 2
    err = capsys.readouterr().err
    assert "not a run directory" in err and "checkpoints/40 is missing" in err


def test_check_exits_0_when_every_claim_holds(finished, monkeypatch):
    from toymodels.pipeline import JudgedCell
    from toymodels.population import Cell
    from toymodels.recipe import Claim

    def judged(claim):
        return lambda path: [JudgedCell(Cell({}, (0,)), None, [claim], [0], [], [], {})]

    monkeypatch.setattr(toymodels.cli, "evaluate_run", judged(Claim.measure("x", "s", "p", "c", [1.0], [True], str)))
    assert main(["check", str(finished)]) == 0
    monkeypatch.setattr(toymodels.cli, "evaluate_run", judged(Claim.cannot_judge("x", "s", "p", "c", "no test pairs")))
    assert main(["check", str(finished)]) == 1  # a claim that cannot be judged is not a claim that holds


def test_a_run_from_another_version_of_the_model_is_refused_in_one_line(finished, monkeypatch, capsys):
    """Params whose tree is not what this version builds (a stack added since, a resized layer)
    end in one line naming what differs, never a KeyError from inside an analysis."""
    recipe = toymodels.registry.get("grokking")
    toymodels.pipeline.same_model(recipe, load_run(finished))  # what this version built: accepted

    def grown(cfg):  # as if a later version had added a parameter
        task = recipe.task(cfg)
        init = lambda key: {**task.init_params(key), "W_new": jax.numpy.zeros(3)}  # noqa: E731
        return dataclasses.replace(task, init_params=init)

    monkeypatch.setattr(toymodels.pipeline.registry, "get", lambda name: dataclasses.replace(recipe, task=grown))
    assert main(["check", str(finished)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "W_new" in err[0] and "older version" in err[0], err

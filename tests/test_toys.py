"""What every toy owes the pipeline, checked on one tiny run of each: every figure written as a
non-empty PNG and PDF, typed results, and claims that carry the paper's statement beside our
criterion. Plus the run definitions of experiments/ and the default run directory."""

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import TINY, TINY_SEEDS

from toymodels import load_run, registry
from toymodels.cli import main
from toymodels.pipeline import default_out, run_definition
from toymodels.recipe import Claim
from toymodels.store import _json_default


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(n)) for n in registry.RECIPES])
def test_a_tiny_run_writes_every_figure_typed_results_and_typed_claims(tiny_run, name):
    out = tiny_run(name)
    run = load_run(out)
    recipe = registry.get(name)
    expected = {f"{fn.__name__}.{ext}" for fn in recipe.figures for ext in ("png", "pdf")}  # nothing swept: no sweep_*
    assert set(run.report["figures"]) == expected
    for f in expected:
        head = (out / f).read_bytes()[:8]
        assert head.startswith(b"\x89PNG" if f.endswith(".png") else b"%PDF") and (out / f).stat().st_size > 1000, f
    results = recipe.analyse(run)
    assert dataclasses.is_dataclass(results)
    claims = recipe.claims(results)
    assert claims and all(isinstance(c, Claim) for c in claims)
    as_text = lambda x: json.dumps(x, default=_json_default, sort_keys=True)  # noqa: E731  (NaN == NaN as text)
    assert as_text([c.to_json() for c in claims]) == as_text(run.report["claims"])
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for c in run.report["claims"]:
        assert {"id", "claim", "paper", "expected", "revised", "measured", "per_seed", "judged", "holds"} <= set(c)
        assert isinstance(c["holds"], bool) and c["expected"] and c["claim"] and c["paper"]
        assert f"| `{c['id']}`" in readme, f"README's claims table lacks {c['id']}"


def test_toymodels_run_reproduces_a_run_definition(tmp_path):
    sets = ", ".join(f'"{s}"' for s in TINY["grokking"])
    path = tmp_path / "tiny.toml"
    path.write_text(f'experiment = "grokking"\nseeds = {TINY_SEEDS["grokking"]}\nset = [{sets}]\n'
                    f'out = "{tmp_path / "run"}"\n')
    assert main(["run", str(path), "--no-progress"]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["experiment"] == "grokking" and report["config"]["p"] == 11 and len(report["instances"]) == 2
    assert run_definition(path).out == str(tmp_path / "run")


@pytest.mark.parametrize("text, message", [
    ('experiment = "grokking"\nsteps = 3\n', "unknown key 'steps'"),
    ('preset = "quick"\n', 'needs experiment = "<name>"'),
    ('experiment = "grokking"\nset = "p=11"\n', "set must be a list"),
    ('experiment = "grokking"\nseeds = "two"\n', "seeds must be an integer"),
    ('experiment = "grokking\n', "is not valid TOML"),
    ('experiment = "nosuch"\n', "unknown experiment 'nosuch'"),
])
def test_a_bad_run_definition_is_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("toymodels: error:") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_missing_run_definition_is_one_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nosuch.toml")]) == 2
    assert "cannot read run definition" in capsys.readouterr().err


def test_default_run_directories_differ_by_overrides_and_stay_put_without_them():
    assert str(default_out("grokking", "quick")) == "runs/grokking/quick"
    a = default_out("grokking", "quick", sets=("p=59", "lr=3e-3"))
    b = default_out("grokking", "quick", sets=("p=59",))
    c = default_out("grokking", "quick", seeds=8)
    assert len({a, b, c}) == 3 and all(str(x).startswith("runs/grokking/quick-") for x in (a, b, c))
    assert default_out("grokking", "quick", sets=("p=59",)) == b

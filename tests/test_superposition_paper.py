"""Paper-scale checks (opt in with `pytest -m paper`): the `paper` preset end to end with every
claim holding, and the benchmark script's smoke run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toymodels.pipeline import reproduce

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.paper
def test_paper_preset_every_claim_holds(tmp_path):
    """How long the preset takes is for the benchmarks (report.json keeps each stage's time)."""
    report = reproduce("superposition", "paper", out=tmp_path / "run", progress=False)
    failed = [c["id"] for c in report["claims"] if not c["holds"]]
    assert not failed, failed
    committed = json.loads((ROOT / "figures" / "superposition" / "paper" / "report.json").read_text())
    assert sorted(report["figures"]) == sorted(committed["figures"])
    assert all((tmp_path / "run" / f).stat().st_size > 0 for f in report["figures"])


@pytest.mark.paper
def test_benchmark_quick_writes_complete_json(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "superposition.py"), "--quick", "--repeats", "1",
                           "--out", str(out)], check=False, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    for v in list(r["per_sub_experiment"].values()) + [r["figure_set"]]:
        assert v["engine_instance_steps_per_s"] > 0 and v["notebook_instance_steps_per_s"] > 0
        assert v["engine_over_notebook"] > 0

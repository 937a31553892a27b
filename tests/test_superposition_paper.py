"""Paper-scale checks (opt in with `pytest -m paper`): the `paper` preset end to end with every
claim holding, and the benchmark script's smoke run."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toymodels.pipeline import reproduce

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.paper
def test_paper_preset_every_claim_holds_within_ten_minutes(tmp_path):
    t0 = time.perf_counter()
    report = reproduce("superposition", "paper", out=tmp_path / "run", progress=False)
    wall = time.perf_counter() - t0
    failed = [c["id"] for c in report["claims"] if not c["holds"]]
    assert not failed, failed
    assert len(report["figures"]) == 18
    assert wall < 600, f"paper preset took {wall:.0f} s"


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

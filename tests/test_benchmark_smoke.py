"""benchmarks/grokking.py --quick runs and writes a complete JSON (no timing assertions)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and x > 0


def test_grokking_benchmark_quick(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("XLA_FLAGS", None)  # one plain device, whatever the test session configured
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "grokking.py"), "--quick", "--repeats", "2",
                           "--out", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ms/step" in proc.stderr  # the human summary
    r = json.loads(out.read_text())

    for key in ("platform", "device_kind", "jax_version", "n_devices", "repeats", "config"):
        assert key in r
    assert r["mode"] == "quick" and r["n_devices"] >= 1

    peak = r["matmul_peak"]
    assert _positive(peak["gflops"]["median"]) and len(peak["gflops"]["repeats"]) == 2

    step = r["train_step"]
    for key in ("ms_per_step", "ms_per_step_incl_metrics"):
        assert _positive(step[key])
    assert _positive(step["chunk_ms"]["median"]) and len(step["chunk_ms"]["repeats"]) == 2
    assert _positive(step["metrics_eval_ms"]["median"])

    f = r["flops"]
    for key in ("useful_gflops_per_step_standard_model", "full_model_gflops_per_step_analytic",
                "useful_gflops_per_s_standard_model", "useful_fraction_of_matmul_peak_standard_model"):
        assert _positive(f[key]), key
    if f["xla_gflops_per_step"] is not None:  # cost analysis is backend-dependent
        assert _positive(f["xla_gflops_per_step"]) and _positive(f["xla_fraction_of_matmul_peak"])

    assert set(r["seeds_scaling"]) == {"1", "8", "64"}
    for n, v in r["seeds_scaling"].items():
        assert v["seeds"] == int(n)
        for layout in ("vmap_all", "engine_blocks"):
            for key in ("ms_per_step", "steps_per_s", "instance_steps_per_s", "instance_throughput_vs_1_seed"):
                assert _positive(v[layout][key]), (n, layout, key)

    alone = r["seeds_scaling_train_only"]
    assert alone["vs_1_seed"]["1_engine_blocks"] == 1.0
    assert all(_positive(alone["ms_per_instance_step"][k]) for k in alone["vs_1_seed"])
    assert {k.split("_")[0] for k in alone["vs_1_seed"]} == {"1", "8", "64"}

    fv = r["fast_vs_full_forward"]
    for key in ("fast_ms_per_step", "full_ms_per_step", "full_over_fast"):
        assert _positive(fv[key]), key

    vs = r["vs_pytorch_reference"]
    # the anchor is the one docs/papers.md quotes (speed anchors), and the speed-up is against this run's own step
    quoted = re.search(r"one training step \(forward, backward, AdamW\) \| ~(\d+) ms", (ROOT / "docs" / "papers.md").read_text())
    assert quoted, "docs/papers.md, speed anchors: no '~N ms' for one training step of the PyTorch reference"
    anchor = float(quoted.group(1))
    assert vs["quoted_anchor_ms_per_step"] == anchor, (vs["quoted_anchor_ms_per_step"], "docs/papers.md says", anchor)
    assert abs(vs["speedup_vs_quoted_anchor"] * r["train_step"]["ms_per_step"] - anchor) < 0.01 * anchor, vs
    assert vs["measured"] is None and vs["skipped_reason"]


def _bench(tmp_path, script: str, *args: str) -> dict:
    """Run benchmarks/<script> --quick (one plain device) and return its JSON."""
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", *args, "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_saes_benchmark_quick(tmp_path):
    r = _bench(tmp_path, "saes.py")
    assert r["relu_1"]["instances"] == 1 and r["relu_64"]["instances"] == 4  # --quick: 4 seeds stand in for 64
    for key in ("ms_per_step", "instance_steps_per_s"):
        assert _positive(r["relu_1"][key]) and _positive(r["relu_64"][key]), key
    for key in ("min_gflops_per_step", "gflops_per_s", "fraction_of_matmul_peak"):
        assert _positive(r["relu_64"]["flops"][key]), key
    assert _positive(r["per_instance_cost_64_vs_1"]) and _positive(r["matmul_peak"]["gflops"]["median"])


def test_stages_benchmark_quick(tmp_path):
    row = _bench(tmp_path, "stages.py", "--toys", "saes")["presets"]["saes"]
    for key in ("compile_s", "train_s", "analyse_s", "figures_s", "process_wall_s"):
        assert _positive(row[key]), key
    assert row["compile_s"] < row["train_s"] < row["process_wall_s"]


def test_sweeps_benchmark_quick(tmp_path):
    r = _bench(tmp_path, "sweeps.py", "--repeats", "1")
    sizes = list(r["train_pairs_per_fraction"].values())
    assert len(sizes) == 4 and sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert set(r["ms_per_step"]) == {"padded", "grouped", *(f"alone_{f}" for f in r["train_pairs_per_fraction"])}
    assert _positive(r["padded_over_grouped"]) and _positive(r["grouped_over_sum_of_cells"])

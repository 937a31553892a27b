#!/usr/bin/env python
"""Speed benchmark of the superposition experiment: instance-steps per second (models trained x
steps / s) of this project's engine against the notebook-style formulation, both in JAX, side by
side in one process, on whatever platform JAX has.

    PYTHONPATH=. python benchmarks/superposition.py                # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/superposition.py --out r.json   # JSON to r.json only
    PYTHONPATH=. python benchmarks/superposition.py --quick        # tiny smoke run (a test uses it)

"Notebook-style" is the reference notebook's formulation written in JAX: one program per
sub-experiment, an explicit instance axis (W of shape (instances, n, m)), a batch drawn as
(batch, instances, n) with two uniforms per feature (value, and presence by comparison with p),
einsum forward, importance-weighted loss summed over instances, AdamW, a jitted lax.scan of
steps. "Engine" is `engine.make_chunk` on this package's task: the figure set's stacks of models
(one stack, or all of them in one program), one shared uniform per feature and example, small
models as unrolled elementwise code; the chunk also evaluates the metrics once at its end (included).

Measured, each a median over --repeats timed chunks after a compile/warm-up call:
 1. per sub-experiment (geometry n=200 m=20 x20; W^T W n=100 m=20 x20; phase diagram n=2 m=1 x432;
    intro n=5 m=2 x10): both formulations, instance-steps/s and the ratio engine / notebook;
 2. the whole `paper` figure set: the engine's one program vs the notebook-style programs run one
    after another (time per step summed), instance-steps/s and ratio; and the implied wall time
    of the paper preset's 10,000 steps (training only).
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from harness import (  # benchmarks/ is on sys.path when run as a script
    EngineChunk,
    against_peak,
    environment,
    finish,
    matmul_peak,
    matmul_size,
    parser,
    rounded,
    timed,
)

from toymodels import engine
from toymodels.superposition import model as sp

SUBSETS = ("geometry", "wtw", "phase_2_1", "intro")
QUICK_SETS = dict(geometry_n=20, geometry_m=4, geometry_points=3, wtw_n=12, wtw_m=3, phase_points=3, phase_tries=1,
                  intro_points=3, lvr_n=6, lvr_m=2, hidden_n=6, hidden_m=3, abs_n=8, abs_m=3, abs_pair_n=6,
                  abs_pair_m=3, batch=64)


FORMULA = ("sum over the models of 2 B c: B examples per step, c multiply-adds per example, forward + backward "
           "(no input gradient): 5 m n through W (h = W x and out = W_out h, m n each; backward dh, dW, dW_out), "
           "or for the tied kinds (linear, relu_output) min(5 m n, 2 n^2) through the Gram matrix W^T W "
           "(forward and dG, n^2 each; its per-step 3 m n^2 not counted); sampling, ReLUs and loss not counted")


def stack_flops(g: sp.ModelStack, batch: int) -> float:
    """The minimum FLOPs of one training step of a stack's models, FORMULA."""
    per_example = 5 * g.m * g.n
    if g.kind not in sp.HIDDEN_RELU_KINDS:
        per_example = min(per_example, 2 * g.n * g.n)
    return 2.0 * g.k * batch * per_example


def _per_step(seconds: list[float], steps: int) -> tuple[float, list[float]]:
    """(median, all) seconds per step of chunks of `steps` steps."""
    return statistics.median(seconds) / steps, [t / steps for t in seconds]


# ---------------------------------------------------------------------------------------------
# This package's engine


def stack_seconds_per_step(stack: sp.ModelStack, batch: int, steps: int, repeats: int) -> tuple[float, list]:
    """The engine's chunk on one sub-experiment's stack alone (one instance, the paper's lr and wd)."""
    task = sp.stack_task((stack,), batch)
    hp = {"lr": np.array([1e-3], np.float32), "weight_decay": np.array([0.01], np.float32)}
    data = jax.device_put(sp.stack_data((stack,), 1))
    chunk = engine.make_chunk(task, steps)
    box = {"state": engine.init_state(task, jax.random.PRNGKey(0)[None], hp)}

    def run():
        box["state"], m = chunk(box["state"], hp, data)
        jax.block_until_ready(m)

    return _per_step(timed(run, repeats), steps)


# ---------------------------------------------------------------------------------------------
# The notebook's formulation, in JAX


def notebook_program(g: sp.ModelStack, batch: int, steps: int):
    """(init, chunk) for one sub-experiment with the notebook's explicit instance axis."""
    I, n, m = g.k, g.n, g.m
    p = jnp.asarray(g.density)          # (I, n)
    imp = jnp.asarray(g.importance)     # (I, n)
    tx = optax.adamw(1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01)
    signed = g.kind == "absolute_value"

    def init(key):
        k1, k2 = jax.random.split(key)
        std = np.sqrt(2.0 / (n + m))
        params = {"W": std * jax.random.normal(k1, (I, n, m)), "b_final": jnp.zeros((I, n))}
        if signed:
            params["W_out"] = std * jax.random.normal(k2, (I, m, n))
        return params, tx.init(params)

    def loss(params, key):
        k_val, k_mask = jax.random.split(key)
        feat = jax.random.uniform(k_val, (batch, I, n))
        if signed:
            feat = 2 * feat - 1
        x = jnp.where(jax.random.uniform(k_mask, (batch, I, n)) <= p, feat, 0.0)
        h = jnp.einsum("bif,ifh->bih", x, params["W"])
        if g.kind in ("hidden_relu", "absolute_value"):
            h = jax.nn.relu(h)
        w_out = params["W_out"] if signed else jnp.swapaxes(params["W"], 1, 2)
        out = jnp.einsum("bih,ihf->bif", h, w_out) + params["b_final"]
        if g.kind != "linear":
            out = jax.nn.relu(out)
        y = jnp.abs(x) if signed else x
        return jnp.sum(jnp.mean(imp * (y - out) ** 2, axis=(0, 2)))

    @jax.jit
    def chunk(params, opt_state, key):
        def step(c, _):
            params, opt_state, key = c
            key, sub = jax.random.split(key)
            grads = jax.grad(loss)(params, sub)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, key), None
        return jax.lax.scan(step, (params, opt_state, key), None, length=steps)[0]

    return init, chunk


def notebook_seconds_per_step(g: sp.ModelStack, batch: int, steps: int, repeats: int) -> tuple[float, list]:
    init, chunk = notebook_program(g, batch, steps)
    params, opt_state = init(jax.random.PRNGKey(0))
    box = {"c": (params, opt_state, jax.random.PRNGKey(1))}

    def run():
        box["c"] = chunk(*box["c"])
        jax.block_until_ready(box["c"])

    return _per_step(timed(run, repeats), steps)


# ---------------------------------------------------------------------------------------------


def run(args) -> dict:
    t_start = time.perf_counter()
    steps = args.chunk_steps or (5 if args.quick else 50)
    sets = tuple(f"{k}={v}" for k, v in QUICK_SETS.items()) if args.quick else ()
    peak = matmul_peak(*matmul_size(args.quick), args.repeats)
    figure_set = EngineChunk("superposition", "paper", steps, seeds=1, sets=sets)  # the whole figure set, one program
    cfg = figure_set.cfg
    gs = {g.name: g for g in sp.stacks(cfg)}
    out = {"benchmark": "superposition", "mode": "quick" if args.quick else "full", **environment(), "repeats": args.repeats,
           "chunk_steps": steps, "batch": cfg.batch, "matmul_peak": peak,
           "note": "instance-steps/s = models trained x steps per second; medians over repeats; the engine's "
                   "chunk includes one metrics evaluation per chunk (figure_set.flops: subtracted)"}

    def log(msg):
        if not args.silent:
            print(msg, file=sys.stderr, flush=True)

    per = {}
    for name in SUBSETS:
        g = gs[name]
        log(f"[{name}] n={g.n} m={g.m} x{g.k} ...")
        e, e_all = stack_seconds_per_step(g, cfg.batch, steps, args.repeats)
        nb, nb_all = notebook_seconds_per_step(g, cfg.batch, steps, args.repeats)
        per[name] = {"n": g.n, "m": g.m, "models": g.k, "kind": g.kind,
                     "engine_ms_per_step": rounded(e * 1e3), "notebook_ms_per_step": rounded(nb * 1e3),
                     "engine_ms_repeats": [rounded(t * 1e3) for t in e_all],
                     "notebook_ms_repeats": [rounded(t * 1e3) for t in nb_all],
                     "engine_instance_steps_per_s": rounded(g.k / e),
                     "notebook_instance_steps_per_s": rounded(g.k / nb),
                     "engine_over_notebook": rounded(nb / e, 3),
                     "flops": against_peak(stack_flops(g, cfg.batch), FORMULA, e, peak)}
    out["per_sub_experiment"] = per

    log("[whole figure set] engine: one program; notebook: one program per sub-experiment ...")
    e, e_all = _per_step(figure_set.seconds(args.repeats), steps)
    step = figure_set.step_seconds(args.repeats)
    nb_total = 0.0
    nb_parts = {}
    for g in gs.values():
        s, _ = notebook_seconds_per_step(g, cfg.batch, steps, args.repeats)
        nb_parts[g.name] = rounded(s * 1e3)
        nb_total += s
    models = sum(g.k for g in gs.values())
    out["figure_set"] = {"models": models, "engine_compile_s": rounded(figure_set.compile_s, 3),
                         "engine_ms_per_step": rounded(e * 1e3),
                         "engine_ms_repeats": [rounded(t * 1e3) for t in e_all],
                         "notebook_ms_per_step_summed": rounded(nb_total * 1e3), "notebook_ms_per_step_parts": nb_parts,
                         "engine_instance_steps_per_s": rounded(models / e),
                         "notebook_instance_steps_per_s": rounded(models / nb_total),
                         "engine_over_notebook": rounded(nb_total / e, 3),
                         "paper_preset_training_s_engine": rounded(e * cfg.steps),
                         "paper_preset_training_s_notebook": rounded(nb_total * cfg.steps),
                         "step": step,
                         "flops": against_peak(sum(stack_flops(g, cfg.batch) for g in gs.values()), FORMULA,
                                               step["s_per_step"], peak)}
    out["total_seconds"] = rounded(time.perf_counter() - t_start, 3)
    return out


def summary(r: dict) -> str:
    lines = [f"superposition benchmark ({r['mode']}) on {r['platform']} / {r['device_kind']}, jax {r['jax_version']}, "
             f"batch {r['batch']}"]
    for name, v in r["per_sub_experiment"].items():
        lines.append(f"  {name:<10} n={v['n']:<4} m={v['m']:<3} x{v['models']:<4} "
                     f"engine {v['engine_ms_per_step']:8.3f} ms/step ({v['engine_instance_steps_per_s']:.3g} "
                     f"inst-steps/s)  notebook {v['notebook_ms_per_step']:8.3f} ms/step  "
                     f"-> {v['engine_over_notebook']:.2f}x")
    f = r["figure_set"]
    lines.append(f"  figure set ({f['models']} models): engine {f['engine_ms_per_step']:.2f} ms/step, notebook-style "
                 f"{f['notebook_ms_per_step_summed']:.2f} ms/step -> {f['engine_over_notebook']:.2f}x; "
                 f"paper preset training ~{f['paper_preset_training_s_engine']:.0f} s "
                 f"vs ~{f['paper_preset_training_s_notebook']:.0f} s")
    fl = f["flops"]
    if fl["gflops_per_s"] is not None:
        lines.append(f"  figure set minimum {fl['min_gflops_per_step']} GFLOP/step -> {fl['gflops_per_s']:.3g} GFLOP/s "
                     f"= {100 * fl['fraction_of_matmul_peak']:.2g}% of the {fl['matmul_peak_gflops']:.0f} GFLOP/s matmul peak")
    lines.append(f"  total {r['total_seconds']:.1f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = parser(__doc__, repeats=3)
    ap.add_argument("--chunk-steps", type=int, default=0, help="steps per timed chunk (default 50, --quick 5)")
    args = ap.parse_args(argv)
    result = run(args)
    finish(result, args, "superposition")
    if not args.silent:
        print(summary(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Speed benchmark of the grokking mainline (Nanda et al. 2023, `paper` preset), side by side
with the machine's large-matmul peak, in one process, on whatever platform JAX has.

    PYTHONPATH=. python benchmarks/grokking.py                # JSON to stdout + benchmarks/results/
    PYTHONPATH=. python benchmarks/grokking.py --out r.json   # JSON to r.json only
    PYTHONPATH=. python benchmarks/grokking.py --quick        # tiny smoke run (a test uses it)

Measures (medians over --repeats, after a warm-up/compile call, block_until_ready):
 1. float32 matmul peak (GFLOP/s) of a jitted large square matmul;
 2. ms per training step with the engine's own compiled chunk (`engine.make_chunk(task, n)`),
    divided by n; the metric evaluation the chunk does at its end is timed on its own (the same
    compiled metrics, same instances) and subtracted, both numbers are reported;
 3. achieved GFLOP/s counted two ways: XLA's cost analysis of the compiled one-step chunk
    (minus XLA's count for the metrics), and the analytic "standard model" FLOPs of the
    reference-minimal formulation; each as a fraction of the measured matmul peak;
 4. speed-up vs the PyTorch reference: against the 166 ms/step anchor quoted in docs/papers.md
    section 5 (not measured here), and, when a Python with torch is available (default
    $TOYMODELS_TORCH_PYTHON), against a minimal re-implementation of the same full-batch step
    measured in a subprocess right after the JAX measurements;
 5. steps/s and instance-steps/s for 1, 8 and 64 seeds trained at once (vmapped instances);
 6. the `last_logits` training forward vs `run_with_cache(...)[0][:, -1]`, both differentiated
    in the same loss: ms per step each and the ratio.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from harness import (  # benchmarks/ is on sys.path when run as a script
    against_peak,
    environment,
    finish,
    interleaved,
    matmul_peak,
    parser,
    rounded,
    stats,
    timed,
    without_metrics,
)

from toymodels import engine  # noqa: E402
from toymodels.models import pairs, transformer  # noqa: E402
from toymodels.pipeline import engine_inputs, resolve  # noqa: E402

TORCH_ANCHOR_MS = 166.0  # docs/papers.md, speed anchors: reference PyTorch code, 2-core CPU, per step
SEED_COUNTS = (1, 8, 64)

# Tiny model for --quick (same shape of program, seconds to compile and run).
QUICK_SETS = ("p=11", "d_model=16", "n_heads=2", "d_head=8", "d_mlp=32", "frac_train=0.5")


@dataclasses.dataclass(frozen=True)
class Sizes:
    matmul_n: int
    matmul_inner: int          # matmuls per timed call (amortises dispatch on fast devices)
    chunk_steps: int           # steps per timed chunk, 1 seed (main measurement, fast vs full)
    seed_chunk_steps: dict     # steps per timed chunk for each seed count
    torch_steps: int           # steps per timed repeat of the PyTorch step


def sizes_for(platform: str, quick: bool) -> Sizes:
    if quick:
        return Sizes(256, 1, 3, {1: 3, 8: 3, 64: 3}, 2)
    if platform == "cpu":
        # 64 seeds of the paper model is 64x the work of one: short chunks keep the whole
        # benchmark to a few minutes on a 2-core machine.
        # Chunks long enough that the metrics evaluation (subtracted) stays under half of one.
        return Sizes(2048, 1, 20, {1: 20, 8: 10, 64: 8}, 5)
    return Sizes(8192, 10, 500, {1: 500, 8: 200, 64: 50}, 50)


# ---------------------------------------------------------------------------------------------
# Helpers


def _flops(compiled) -> float | None:
    """XLA's FLOP count of a compiled computation; cost_analysis() returns a dict in recent jax,
    a list of dicts (one per program) in older ones, and may be None/empty on some backends."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - not every backend implements it
        return None
    if cost is None:
        return None
    if isinstance(cost, (list, tuple)):
        total = [c.get("flops") for c in cost if c and c.get("flops") is not None]
        return float(sum(total)) if total else None
    f = cost.get("flops")
    return float(f) if f is not None else None


def setup(n_seeds: int, quick: bool):
    """(cfg, task, state, hp, data, init_s) of the `paper` preset (seeds 0..n_seeds-1), on the
    host: `place` slices the first n instances and puts them on devices as engine.train does,
    so one init serves every seed count. The full benchmark initialises with engine.init_state
    (init_s: its wall time, almost all compile); --quick draws the parameters with numpy
    instead (same shapes, reference scales; timings do not depend on the values), which saves
    the init_state compile, the slowest one of a tiny model on CPU."""

    sets = QUICK_SETS if quick else ()
    exp, cfg, spec = resolve("grokking", "paper", n_seeds, sets)
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    data = exp.make_data(cfg, insts)
    task = exp.task(cfg)
    t0 = time.perf_counter()
    if quick:
        rng = np.random.default_rng(0)
        shapes = jax.eval_shape(jax.vmap(task.init_params), keys)
        params = {k: (rng.standard_normal(v.shape) / np.sqrt(cfg.d_vocab if k == "W_U" else cfg.d_model)
                      ).astype(v.dtype) for k, v in shapes.items()}
        opt_init = jax.jit(jax.vmap(lambda p, h: task.optimizer(h).init(p)))
        state = {"params": params, "opt_state": opt_init(params, hp)}
    else:
        state = engine.init_state(task, keys, hp)
    state = jax.tree_util.tree_map(np.asarray, state)
    return cfg, task, state, hp, data, time.perf_counter() - t0


def place(n: int, *trees):
    """The first n instances of each host tree, placed with the engine's instance sharding."""
    sharding = engine.instance_sharding(n)
    return jax.device_put(jax.tree_util.tree_map(lambda x: np.array(x[:n]), trees), sharding)


def train_only_scaling(task, host_state, host_hp, host_data, steps: int, repeats: int, platform: str) -> dict:
    """Per instance-step of training alone (chunks without metrics, nothing subtracted, all of
    `steps` steps), for every seed count in the engine's blocks and all vmapped, interleaved in
    one process: the like-for-like ratio against one seed alone."""
    task = without_metrics(task)
    fns, seeds, blocks = {}, {}, {}
    for n in SEED_COUNTS:
        state, hp, data = place(n, host_state, host_hp, host_data)
        blocks[str(n)] = engine.choose_block(task, state, hp, data, platform=platform)
        for layout, b in (("engine_blocks", blocks[str(n)]), ("vmap_all", None)):
            if layout == "vmap_all" and blocks[str(n)] is None:
                continue  # the same program
            s = jax.tree_util.tree_map(lambda x: x.copy(), state)
            chunk = engine.make_chunk(task, steps, b).lower(s, hp, data).compile()
            box = {"state": s}

            def run(chunk=chunk, box=box, hp=hp, data=data):
                box["state"], m = chunk(box["state"], hp, data)
                jax.block_until_ready((box["state"], m))

            run()  # warm-up
            fns[f"{n}_{layout}"], seeds[f"{n}_{layout}"] = run, n
    times = interleaved(fns, repeats)
    per = {k: statistics.median(v) / steps / seeds[k] for k, v in times.items()}
    one = per["1_engine_blocks"]
    return {"chunk_steps": steps, "blocks": blocks, "ms_per_instance_step": {k: rounded(1e3 * v) for k, v in per.items()},
            "vs_1_seed": {k: rounded(v / one, 3) for k, v in per.items()}}


def full_forward_task(task: engine.Task, p: int) -> engine.Task:
    """The same task with the loss computed through run_with_cache (all three positions)."""

    def loss(params, data):
        idx, w = data["train_idx"], data["train_weight"]
        a, b = idx // p, idx % p
        toks = jnp.stack([a, b, jnp.full_like(a, p)], axis=-1)
        logits = transformer.run_with_cache(params, toks)[0][:, -1]
        ce = pairs.cross_entropy(logits, (a + b) % p)
        return jnp.sum(ce * w) / jnp.sum(w)

    return dataclasses.replace(task, loss=loss)


# ---------------------------------------------------------------------------------------------
# Measurements


def time_training(task, state, hp, data, steps: int, repeats: int, compiled_metrics=None, block=None) -> dict:
    """ms per step of the engine's own compiled chunk of `steps` steps (vmapping `block`
    instances at a time, None: all), minus the metric evaluation it does at its end (timed
    separately, compiled in the same blocks). Returns the results and, under "_compiled", the
    compiled chunk and metrics."""
    t0 = time.perf_counter()
    chunk = engine.make_chunk(task, steps, block).lower(state, hp, data).compile()
    compile_s = time.perf_counter() - t0
    box = {"state": state}

    def run_chunk():
        box["state"], m = chunk(box["state"], hp, data)
        jax.block_until_ready((box["state"], m))

    chunk_s = timed(run_chunk, repeats)
    params = box["state"]["params"]
    if compiled_metrics is None:
        compiled_metrics = jax.jit(engine.in_blocks(jax.vmap(task.metrics), block)).lower(params, data).compile()
    metrics_s = timed(lambda: jax.block_until_ready(compiled_metrics(params, data)), repeats)
    c, m = statistics.median(chunk_s), statistics.median(metrics_s)
    per_step = max(c - m, 1e-12) / steps
    return {
        "chunk_steps": steps,
        "chunk_ms": stats(chunk_s, 1e3),
        "metrics_eval_ms": stats(metrics_s, 1e3),
        "metrics_share_of_chunk": rounded(m / c, 3),
        "ms_per_step_incl_metrics": rounded(c / steps * 1e3),
        "ms_per_step": rounded(per_step * 1e3),
        "ms_per_step_note": "(median(chunk) - median(metrics eval)) / chunk_steps",
        "chunk_compile_s": rounded(compile_s, 3),
        "_compiled": (chunk, compiled_metrics, box["state"]),
    }


def xla_step_flops(task, timed: dict, hp, data, exact: bool) -> tuple[float | None, float | None, str]:
    """XLA's FLOP count of one training step and of the metric evaluation, for the instances
    as compiled. exact: compile the engine's 1-step chunk and subtract the metrics' count;
    otherwise reuse the timed n-step chunk (XLA's cost analysis counts a while-loop body once,
    so its count is one step plus the metrics too; saves a compile in --quick)."""
    chunk, metrics, state = timed["_compiled"]
    met = _flops(metrics)
    if exact:
        chunk = engine.make_chunk(task, 1).lower(state, hp, data).compile()
        how = "cost_analysis(engine.make_chunk(task, 1)) - cost_analysis(metrics)"
    else:
        how = f"cost_analysis(engine.make_chunk(task, {timed['chunk_steps']})) - cost_analysis(metrics); scan body counted once"
    total = _flops(chunk)
    if total is None:
        return None, met, how
    return total - (met or 0.0), met, how


def standard_model_flops(cfg, n_examples: int) -> dict:
    """Analytic FLOPs of the reference-minimal step: the loss reads only the `=` position, so
    per example the forward needs Q at the last position, K and V at all 3 positions, the
    attention of the last query, O, MLP in/out and the unembedding at the last position;
    forward + backward = 3 x forward. Also the full model (everything at all 3 positions)."""
    d, hd, m, v, n = cfg.d_model, cfg.n_heads * cfg.d_head, cfg.d_mlp, cfg.d_vocab, transformer.N_CTX
    proj = 2 * d * hd
    attn_last = 2 * 2 * n * hd          # scores and pattern @ v for one query over 3 keys
    mlp = 2 * 2 * d * m
    unembed = 2 * d * v
    minimal = proj + 2 * n * proj + attn_last + proj + mlp + unembed
    causal_pairs = n * (n + 1) // 2
    full = n * (4 * proj + mlp + unembed) + 2 * 2 * causal_pairs * hd
    return {"standard_model_forward_flops_per_example": minimal,
            "useful_gflops_per_step_standard_model": rounded(3 * minimal * n_examples / 1e9),
            "full_model_gflops_per_step_analytic": rounded(3 * full * n_examples / 1e9),
            "formula": "3 x n_train x [2*d*hd (Q, last pos) + 3*2*2*d*hd (K,V, 3 pos) + 4*3*hd (attn, last query)"
                       " + 2*hd*d (O) + 2*2*d*d_mlp (MLP) + 2*d*d_vocab (unembed)]"}


AS_TRAINED_FORMULA = ("3 x [T + n_train x (2 x 3 h d + 2 x 2 d d_mlp + 2 d d_vocab)]: per pair the pattern-weighted "
                      "OV rows of the 3 positions, W_in, W_out, W_U at `=` (transformer.last_logits); per step the "
                      "tables T = 2 h d_head d^2 (W_V W_O) + 2 x 2 t h d^2 (OV rows of positions 0, 1) "
                      "+ 2 x 2 t d h (their attention scores), t = d_vocab - 1 tokens; forward + backward = 3 x forward")


def as_trained_flops(cfg, n_examples: int) -> float:
    """FLOPs of one training step through last_logits, AS_TRAINED_FORMULA."""
    d, h, m, v = cfg.d_model, cfg.n_heads, cfg.d_mlp, cfg.d_vocab
    tables = 2 * h * cfg.d_head * d * d + 2 * 2 * (v - 1) * h * d * d + 2 * 2 * (v - 1) * d * h
    return 3.0 * (tables + n_examples * (2 * 3 * h * d + 2 * 2 * d * m + 2 * d * v))


TORCH_SCRIPT = r'''
import json, math, statistics, sys, time
import torch
import torch.nn.functional as F
c = json.loads(sys.argv[1])
p, d, h, dh, m, n_train = c["p"], c["d_model"], c["n_heads"], c["d_head"], c["d_mlp"], c["n_train"]
steps, repeats, mm_n = c["steps"], c["repeats"], c["matmul_n"]
torch.manual_seed(0)
V = p + 1
def w(*shape, scale):
    return torch.nn.Parameter(torch.randn(*shape) / math.sqrt(scale))
W_E, W_pos = w(V, d, scale=d), w(3, d, scale=d)
W_Q, W_K, W_V = (w(h, d, dh, scale=d) for _ in range(3))
W_O = w(h, dh, d, scale=d)
W_in, W_out = w(d, m, scale=d), w(m, d, scale=d)
b_in, b_out = torch.nn.Parameter(torch.zeros(m)), torch.nn.Parameter(torch.zeros(d))
W_U = w(d, V, scale=V)
params = [W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, b_in, W_out, b_out, W_U]
opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98), eps=1e-8)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(s / 10, 1.0))
idx = torch.randperm(p * p, generator=torch.Generator().manual_seed(0))[:n_train]
a, b = idx // p, idx % p
toks = torch.stack([a, b, torch.full_like(a, p)], 1)
y = (a + b) % p
mask = torch.tril(torch.ones(3, 3))

def forward(toks):  # the full model over all 3 positions, as the reference runs it
    x = W_E[toks] + W_pos
    q = torch.einsum("bpd,hde->bhpe", x, W_Q)
    k = torch.einsum("bpd,hde->bhpe", x, W_K)
    v = torch.einsum("bpd,hde->bhpe", x, W_V)
    s = torch.einsum("bhqe,bhke->bhqk", q, k) / math.sqrt(dh)
    s = torch.tril(s) - 1e10 * (1 - mask)
    z = torch.einsum("bhqk,bhke->bhqe", F.softmax(s, dim=-1), v)
    x = x + torch.einsum("bhqe,hed->bqd", z, W_O)
    x = x + F.relu(x @ W_in + b_in) @ W_out + b_out
    return x @ W_U

def step():
    logits = forward(toks)[:, -1].to(torch.float64)  # high-precision loss, last position
    loss = -F.log_softmax(logits, dim=-1).gather(-1, y[:, None]).mean()
    loss.backward()
    opt.step(); sched.step(); opt.zero_grad()

for _ in range(2):
    step()
per_step = []
for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    per_step.append((time.perf_counter() - t0) / steps * 1e3)
A, B = torch.randn(mm_n, mm_n), torch.randn(mm_n, mm_n)
A @ B
mm = []
for _ in range(repeats):
    t0 = time.perf_counter(); A @ B; mm.append(2 * mm_n ** 3 / (time.perf_counter() - t0) / 1e9)
print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(),
                  "ms_per_step": per_step, "matmul_gflops": mm}))
'''


def torch_reference(python: str, cfg, n_train: int, steps: int, repeats: int, matmul_n: int) -> dict:
    args = {"p": cfg.p, "d_model": cfg.d_model, "n_heads": cfg.n_heads, "d_head": cfg.d_head,
            "d_mlp": cfg.d_mlp, "n_train": n_train, "steps": steps, "repeats": repeats, "matmul_n": matmul_n}
    proc = subprocess.run([python, "-c", TORCH_SCRIPT, json.dumps(args)], capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-2000:])
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"what": "minimal PyTorch re-implementation of the same model's full-batch step (full "
                    "3-position forward, float64 loss at the last position, AdamW + warmup), measured in "
                    "a subprocess of this run, CPU, float32",
            "python": python, "torch_version": r["torch_version"], "threads": r["threads"],
            "steps_per_repeat": steps, "ms_per_step": stats(r["ms_per_step"]),
            "matmul_gflops": stats(r["matmul_gflops"])}


# ---------------------------------------------------------------------------------------------


def run(args) -> dict:
    t_start = time.perf_counter()
    dev = jax.devices()[0]
    platform = dev.platform
    sz = sizes_for(platform, args.quick)
    if args.chunk_steps:
        sz = dataclasses.replace(sz, chunk_steps=args.chunk_steps,
                                 seed_chunk_steps={**sz.seed_chunk_steps, 1: args.chunk_steps})
    R = args.repeats
    stages: dict[str, float] = {}  # wall seconds per stage, compiles included
    current = {"name": None, "t": t_start}

    def log(msg):
        now = time.perf_counter()
        if current["name"]:
            stages[current["name"]] = rounded(now - current["t"], 3)
        current.update(name=msg.split("] ", 1)[-1].rstrip(". "), t=now)
        if not args.silent and msg != "[done]":
            print(msg, file=sys.stderr, flush=True)

    out: dict = {
        "benchmark": "grokking", "mode": "quick" if args.quick else "full", **environment(),
        "matmul_precision": str(jax.config.jax_default_matmul_precision or "default"), "repeats": R,
    }

    log(f"[1/6] matmul peak ({sz.matmul_n}x{sz.matmul_n} float32) ...")
    peak = matmul_peak(sz.matmul_n, sz.matmul_inner, R)
    out["matmul_peak"] = peak
    peak_gflops = peak["gflops"]["median"]

    log("[2/6] training step, 1 seed ...")
    cfg, task, host_state, host_hp, host_data, init_s = setup(max(SEED_COUNTS), args.quick)
    out["init_state_s"] = rounded(init_s, 3)
    out["init_state_how"] = ("numpy draw + jitted optimizer init (--quick)" if args.quick else
                             f"engine.init_state for {max(SEED_COUNTS)} seeds, compile included")
    state, hp, data = place(1, host_state, host_hp, host_data)
    n_train = int(np.asarray(data["train_weight"]).sum())
    out["config"] = {"preset": "paper", "overrides": list(QUICK_SETS if args.quick else ()),
                     **{k: getattr(cfg, k) for k in ("p", "frac_train", "d_model", "n_heads", "d_head", "d_mlp")},
                     "n_train": n_train, "batch": "full"}
    timed = time_training(task, state, hp, data, sz.chunk_steps, R)
    step_res = {k: v for k, v in timed.items() if not k.startswith("_")}
    out["train_step"] = step_res
    ms = step_res["ms_per_step"]

    log("[3/6] FLOP counts ...")
    xla_step, xla_metrics, how = xla_step_flops(task, timed, hp, data, exact=not args.quick)
    fl = standard_model_flops(cfg, n_train)
    useful = fl["useful_gflops_per_step_standard_model"]
    flops = {**fl,
             "xla_gflops_per_step": rounded(xla_step / 1e9) if xla_step else None,
             "xla_gflops_metrics_eval": rounded(xla_metrics / 1e9) if xla_metrics else None,
             "xla_how": how,
             "xla_note": "our training forward uses per-token attention tables (and XLA also counts "
                         "elementwise work), so it is not the standard-model count",
             "useful_gflops_per_s_standard_model": rounded(useful / (ms / 1e3)),
             "useful_fraction_of_matmul_peak_standard_model": rounded(useful / (ms / 1e3) / peak_gflops, 3),
             "as_trained": against_peak(as_trained_flops(cfg, n_train), AS_TRAINED_FORMULA, ms / 1e3, peak)}
    if xla_step:
        flops["xla_gflops_per_s"] = rounded(xla_step / 1e9 / (ms / 1e3))
        flops["xla_fraction_of_matmul_peak"] = rounded(xla_step / 1e9 / (ms / 1e3) / peak_gflops, 3)
    out["flops"] = flops

    log("[4/6] steps/s for " + ", ".join(map(str, SEED_COUNTS)) + " seeds, all vmapped and in the engine's blocks ...")
    scaling = {}
    for n in SEED_COUNTS:
        steps = sz.seed_chunk_steps[n]
        placed = place(n, host_state, host_hp, host_data)
        block = engine.choose_block(task, *placed, platform=platform)
        # 64 seeds on a CPU is 64x the work of one: at most 3 timed repeats there.
        reps = R if n <= 8 or platform != "cpu" else min(R, 3)
        runs = {}
        for layout, b in (("vmap_all", None), ("engine_blocks", block)):
            if layout == "engine_blocks" and b is None:
                runs[layout] = runs["vmap_all"]
            elif n == 1 and steps == sz.chunk_steps:
                runs[layout] = step_res
            else:
                r = time_training(task, *place(n, host_state, host_hp, host_data), steps, reps, block=b)
                r.pop("_compiled")
                runs[layout] = r
        row = {"seeds": n, "chunk_steps": steps, "repeats": reps, "block": block}
        for layout, r in runs.items():
            s = r["ms_per_step"] / 1e3
            row[layout] = {"ms_per_step": r["ms_per_step"], "ms_per_step_incl_metrics": r["ms_per_step_incl_metrics"],
                           "chunk_ms": r["chunk_ms"], "metrics_eval_ms": r["metrics_eval_ms"],
                           "steps_per_s": rounded(1 / s), "instance_steps_per_s": rounded(n / s),
                           "useful_gflops_per_s_standard_model": rounded(n * useful / s)}
        row["vmap_all_over_engine_blocks"] = rounded(runs["vmap_all"]["ms_per_step"] / runs["engine_blocks"]["ms_per_step"], 3)
        scaling[str(n)] = row
    base = scaling["1"]["engine_blocks"]["instance_steps_per_s"]
    for row in scaling.values():
        for layout in ("vmap_all", "engine_blocks"):
            # per-instance time of one instance alone over per-instance time here: >= 1 meets the target
            row[layout]["instance_throughput_vs_1_seed"] = rounded(row[layout]["instance_steps_per_s"] / base, 3)
    out["seeds_scaling"] = scaling

    out["seeds_scaling_train_only"] = train_only_scaling(task, host_state, host_hp, host_data,
                                                         sz.seed_chunk_steps[max(SEED_COUNTS)], R, platform)

    log("[5/6] fast (last_logits) vs full (run_with_cache) forward ...")
    full_task = full_forward_task(task, cfg.p)
    state_f, _, _ = place(1, host_state, host_hp, host_data)
    full_timed = time_training(full_task, state_f, hp, data, sz.chunk_steps, R, compiled_metrics=timed["_compiled"][1])
    xla_full, _, _ = xla_step_flops(full_task, full_timed, hp, data, exact=not args.quick)
    full_res = {k: v for k, v in full_timed.items() if not k.startswith("_")}
    del timed, full_timed
    out["fast_vs_full_forward"] = {
        "chunk_steps": sz.chunk_steps,
        "fast_ms_per_step": ms, "full_ms_per_step": full_res["ms_per_step"],
        "full_over_fast": rounded(full_res["ms_per_step"] / ms, 3),
        "fast_chunk_ms": step_res["chunk_ms"], "full_chunk_ms": full_res["chunk_ms"],
        "metrics_eval_ms": full_res["metrics_eval_ms"],
        "xla_gflops_per_step_fast": flops["xla_gflops_per_step"],
        "xla_gflops_per_step_full": rounded(xla_full / 1e9) if xla_full else None,
        "note": "same loss, AdamW step and metrics; only the forward differs (last_logits vs "
                "run_with_cache(...)[0][:, -1], all 3 positions)",
    }

    log("[6/6] PyTorch reference ...")
    vs = {"quoted_anchor_ms_per_step": TORCH_ANCHOR_MS,
          "anchor_source": "docs/papers.md, speed anchors: reference PyTorch implementation on this project's "
                           "2-core CPU; quoted, NOT measured in this run",
          "speedup_vs_quoted_anchor": rounded(TORCH_ANCHOR_MS / ms, 4)}
    py = args.torch_python
    if args.quick or args.no_torch:
        vs["measured"] = None
        vs["skipped_reason"] = "--quick" if args.quick else "--no-torch"
    elif platform != "cpu":
        vs["measured"] = None
        vs["skipped_reason"] = f"JAX platform is {platform}; the torch comparison is CPU-only"
    elif not (py and Path(py).exists()):
        vs["measured"] = None
        vs["skipped_reason"] = f"no torch Python at {py!r} (pass --torch-python)"
    else:
        try:
            t = torch_reference(py, cfg, n_train, sz.torch_steps, R, sz.matmul_n)
            vs["measured"] = t
            vs["speedup_vs_measured_torch"] = rounded(t["ms_per_step"]["median"] / ms, 4)
            vs["speedup_vs_measured_torch_same_peak_note"] = (
                "torch matmul peak measured in the same subprocess: "
                f"{t['matmul_gflops']['median']} GFLOP/s vs JAX {peak_gflops}")
        except Exception as e:  # noqa: BLE001 - the comparison is optional
            vs["measured"] = None
            vs["skipped_reason"] = f"torch subprocess failed: {e}"
    out["vs_pytorch_reference"] = vs
    log("[done]")
    out["stage_seconds"] = stages
    out["total_seconds"] = rounded(time.perf_counter() - t_start, 3)
    return out


def summary(r: dict) -> str:
    f, s, fv, vs = r["flops"], r["seeds_scaling"], r["fast_vs_full_forward"], r["vs_pytorch_reference"]
    lines = [
        f"grokking benchmark ({r['mode']}) on {r['platform']} / {r['device_kind']} x{r['n_devices']}, jax {r['jax_version']}",
        f"  matmul peak           {r['matmul_peak']['gflops']['median']:.1f} GFLOP/s ({r['matmul_peak']['n']}^2 float32)",
        f"  train step (1 seed)   {r['train_step']['ms_per_step']:.3f} ms/step "
        f"(metrics eval {r['train_step']['metrics_eval_ms']['median']:.2f} ms per chunk of {r['train_step']['chunk_steps']}, subtracted)",
        f"  useful (std model)    {f['useful_gflops_per_step_standard_model']} GFLOP/step -> "
        f"{f['useful_gflops_per_s_standard_model']:.1f} GFLOP/s = {100 * f['useful_fraction_of_matmul_peak_standard_model']:.0f}% of peak",
        f"  as trained            {f['as_trained']['min_gflops_per_step']} GFLOP/step -> "
        f"{f['as_trained']['gflops_per_s']:.1f} GFLOP/s = {100 * f['as_trained']['fraction_of_matmul_peak']:.0f}% of peak",
    ]
    if f.get("xla_gflops_per_s") is not None:
        lines.append(f"  XLA-counted           {f['xla_gflops_per_step']} GFLOP/step -> {f['xla_gflops_per_s']:.1f} GFLOP/s "
                     f"= {100 * f['xla_fraction_of_matmul_peak']:.0f}% of peak")
    t = r["seeds_scaling_train_only"]["vs_1_seed"]
    lines.append("  training alone, per instance vs 1 seed: " + ", ".join(f"{k} {v:.2f}x" for k, v in t.items()))
    for n, v in s.items():
        e, a = v["engine_blocks"], v["vmap_all"]
        lines.append(f"  {n:>3} seeds             {e['instance_steps_per_s']:.3g} instance-steps/s in blocks of {v['block'] or n} "
                     f"({e['instance_throughput_vs_1_seed']:.2f}x 1 seed); all vmapped {a['instance_steps_per_s']:.3g} "
                     f"({a['instance_throughput_vs_1_seed']:.2f}x)")
    lines.append(f"  full/fast forward     {fv['full_ms_per_step']:.3f} / {fv['fast_ms_per_step']:.3f} ms = {fv['full_over_fast']:.2f}x")
    lines.append(f"  vs PyTorch anchor     {vs['speedup_vs_quoted_anchor']:.1f}x faster than the quoted {vs['quoted_anchor_ms_per_step']:.0f} ms/step")
    if vs.get("measured"):
        lines.append(f"  vs measured torch     {vs['speedup_vs_measured_torch']:.1f}x "
                     f"(torch {vs['measured']['ms_per_step']['median']:.1f} ms/step, torch {vs['measured']['torch_version']})")
    else:
        lines.append(f"  measured torch        skipped: {vs.get('skipped_reason')}")
    lines.append(f"  total                 {r['total_seconds']:.1f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = parser(__doc__, repeats=5)
    ap.add_argument("--chunk-steps", type=int, default=0, help="override the steps per timed chunk (1 seed)")
    ap.add_argument("--torch-python", default=os.environ.get("TOYMODELS_TORCH_PYTHON"),
                    help="a Python with torch (e.g. a venv's bin/python) for the measured PyTorch comparison, CPU only; "
                         "default $TOYMODELS_TORCH_PYTHON, else skipped")
    ap.add_argument("--no-torch", action="store_true", help="skip the measured PyTorch comparison")
    args = ap.parse_args(argv)

    result = run(args)
    finish(result, args, "grokking")
    if not args.silent:
        print(summary(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

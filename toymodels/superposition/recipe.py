"""Elhage et al. 2022, "Toy Models of Superposition": every figure family of the paper from one run.

Design: one engine instance is one seed (times any swept lr / weight_decay) of the WHOLE figure
set. Inside it, each sub-experiment is a named group of K models of one exact kind and shape
(`tasks.superposition.groups`), stacked on a leading model axis: the notebook's instance axis.
No model is padded or masked, so an n=2, m=1 phase-diagram model costs what an n=2, m=1 model
costs, not what an n=200 one does, and the whole set is still one compiled program trained by
one `engine.train` call. The sparsity / importance of each model are data (the same for every
instance); only seed, lr and weight_decay vary across engine instances.

`best_of=True` (analysis only): for each model of the figure set, the figures use the seed with
the lowest loss on a large evaluation batch, as the authors did for noisy panels; claims are
still measured per seed. The phase diagrams always keep, per grid point, the lowest-loss of
their `phase_tries` models (trained side by side, cheap at n <= 3).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from toymodels import engine
from toymodels.superposition import analyses as A
from toymodels.superposition import model as sp
from toymodels.superposition.model import Config

PRESETS = {
    # Every figure and claim in 2-3 minutes on a 2-core CPU: 6,000 steps of batch 512 (0.3x the
    # paper's samples per model, but more than half its optimiser steps), a 10x10 phase grid.
    "quick": Config(steps=6000, batch=512, eval_every=500, phase_points=10),
    # The notebook's defaults: 10,000 steps of batch 1024, AdamW lr 1e-3, wd 0.01.
    "paper": Config(),
}
SWEEPABLE = ("seed", "lr", "weight_decay")
FIGURES = ("intro_geometry", "linear_vs_relu", "wtw_matrices", "dimensionality", "phase_diagrams",
           "hidden_relu_neurons", "absolute_value_neurons")
EVAL_BATCH = 4096
EVAL_SEED = 12345


def task(cfg: Config) -> engine.Task:
    gs = sp.groups(cfg)
    return engine.Task(
        init_params=functools.partial(sp.init_params, gs),
        loss=functools.partial(sp.loss, gs=gs, batch=cfg.batch),
        metrics=functools.partial(sp.metrics, gs=gs, batch=cfg.batch),
        optimizer=sp.optimizer,
        stochastic=True,
    )


def make_data(cfg: Config, insts: list[dict]) -> dict:
    return sp.make_data(sp.groups(cfg), len(insts))


def schedule(cfg: Config) -> engine.Schedule:
    return engine.Schedule.make(cfg.steps, cfg.eval_every, cfg.checkpoint_every or None)


def figures(run, results, out, only=None):
    from toymodels.superposition.figures import make_figures

    return make_figures(run, results, out, only)


# ---------------------------------------------------------------------------------------------
# Analyses


def eval_losses(gs: tuple[sp.Group, ...], params: dict, batch: int = EVAL_BATCH, seed: int = EVAL_SEED) -> dict:
    """Loss of every model of every group, every instance (params leaves (N, K, ...)), on one
    fixed large batch: {group: (N, K)}. One compiled program, mapped over instances."""
    data = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), sp.make_data(gs, 1))
    key = jax.random.PRNGKey(seed)
    fn = jax.jit(lambda ps: jax.lax.map(lambda p: sp.losses(gs, p, data, key, batch), ps))
    return {k: np.asarray(v) for k, v in fn(params).items()}


@jax.jit
def _summaries(Ws: dict) -> dict:
    """analyses.superposition.summary of every model: {group: {name: (N, K, ...)}}."""
    return {k: jax.vmap(jax.vmap(A.summary))(W) for k, W in Ws.items()}


def _best_tries(loss: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    """Index (into K) of the lowest-loss try per phase-grid point, per instance: (N, R, D)."""
    N = loss.shape[0]
    t, R, D = grid
    best_t = np.argmin(loss.reshape(N, t, R, D), axis=1)
    return best_t * R * D + np.arange(R)[:, None] * D + np.arange(D)[None, :]


def analyse(run) -> dict:
    """Per group: eval losses (N, K), analyses of every model (N, K, ...), the instance shown in
    the figures per model, plus the phase grids, polygons, sticky lines and neuron quantities."""
    cfg = Config(**run.config)
    final = jax.tree_util.tree_map(np.asarray, run.final_params())
    gs = sp.groups(cfg)
    losses = eval_losses(gs, final)
    summaries = jax.tree_util.tree_map(np.asarray, _summaries({g.name: final[g.name]["W"] for g in gs}))
    out: dict = {"config": cfg, "groups": {}}
    for g in gs:
        loss = losses[g.name]
        shown = np.argmin(loss, axis=0) if cfg.best_of else np.zeros(g.k, int)
        out["groups"][g.name] = {"group": g, "params": final[g.name], "loss": loss, "shown": shown,
                                 "summary": summaries[g.name]}
    G = out["groups"]

    intro = G["intro"]
    out["intro_polygon"] = {k: np.asarray(v) for k, v in jax.jit(jax.vmap(jax.vmap(A.polygon_2d)))(intro["params"]["W"]).items()}

    geo = G["geometry"]["summary"]
    mask = geo["norms"] >= A.REPRESENTED
    D, M = jnp.asarray(geo["dimensionality"]), jnp.asarray(mask)
    pooled = jax.jit(jax.vmap(A.sticky_lines))(D, M)                       # per instance, all sparsities pooled
    per_sparsity = jax.jit(jax.vmap(jax.vmap(A.sticky_lines)))(D, M)       # per instance and sparsity
    out["sticky_lines"] = {k: np.asarray(v) for k, v in pooled.items()}
    out["sticky_lines_per_sparsity"] = {k: np.asarray(v) for k, v in per_sparsity.items()}

    r, s = sp.phase_axes(cfg)
    out["phase_axes"] = {"importance": r, "density": s}
    for name in ("phase_2_1", "phase_3_2"):
        grp = G[name]
        idx = _best_tries(grp["loss"], grp["group"].grid)  # (N, R, D)
        phase = np.asarray(jax.jit(jax.vmap(jax.vmap(A.feature_phase)))(grp["params"]["W"]))  # (N, K)
        per_seed = np.take_along_axis(phase, idx.reshape(len(phase), -1), 1).reshape(idx.shape)
        loss = np.take_along_axis(grp["loss"], idx.reshape(len(phase), -1), 1).reshape(idx.shape)
        grp["phase"] = per_seed  # (N, R, D): best of the tries, per seed
        grp["phase_shown"] = (np.take_along_axis(per_seed, np.argmin(loss, 0)[None], 0)[0]
                              if cfg.best_of else per_seed[0])
    out["phase_analytic"] = np.asarray(A.analytic_phase_n2m1(r[:, None], s[None, :]))

    hid = G["hidden_relu"]["params"]["W"]
    out["hidden_neuron_counts"] = np.asarray(jax.vmap(jax.vmap(A.neuron_feature_counts))(hid))
    out["abs_pairs"] = {name: {k: np.asarray(v) for k, v in
                               jax.vmap(jax.vmap(A.antipodal_neuron_pairs))(G[name]["params"]["W"]).items()}
                        for name in ("abs", "abs_pair")}
    out["metrics"] = run.metrics
    return out


def shown_params(results: dict, name: str) -> dict:
    """The params the figures show for group `name`: leaves (K, ...), per model its shown instance."""
    grp = results["groups"][name]
    k = np.arange(grp["group"].k)
    return {key: v[grp["shown"], k] for key, v in grp["params"].items()}


# ---------------------------------------------------------------------------------------------
# Claims, measured per instance (seed); a claim holds when it holds for every instance


def _claim(id_, claim, expected, per_seed, holds, fmt):
    shown = "; ".join(fmt(v) for v in per_seed[:8]) + ("; ..." if len(per_seed) > 8 else "")
    return {"id": id_, "claim": claim, "expected": expected, "measured": shown,
            "per_seed": per_seed, "holds": bool(all(holds))}


def _top_m_orthogonal(W: np.ndarray, m: int) -> dict:
    """For one model: which features are represented, and the largest |Ŵ_i · W_j| among them."""
    norms = np.asarray(A.feature_norms(W))
    rep = norms >= A.REPRESENTED
    I = np.abs(np.asarray(A.interference(W)))
    np.fill_diagonal(I, 0.0)
    inter = float(I[np.ix_(rep, rep)].max()) if rep.sum() > 1 else 0.0
    return {"represented": np.flatnonzero(rep).tolist(), "max_interference": inter,
            "ok": bool(rep[:m].all() and rep.sum() == m and inter < 0.1)}


def _within(x, lo, hi):
    return bool(np.all((np.asarray(x) >= lo) & (np.asarray(x) <= hi)))


def _plateau(d_star: np.ndarray, level: float, tol: float = 0.05, length: int = 3) -> bool:
    run_len = best = 0
    for v in d_star:
        run_len = run_len + 1 if abs(v - level) <= tol else 0
        best = max(best, run_len)
    return best >= length


def claims(run, results) -> list[dict]:
    cfg: Config = results["config"]
    G = results["groups"]
    N = G["intro"]["loss"].shape[0]
    out = []

    lin = G["lvr_linear"]
    per, ok = [], []
    for i in range(N):
        rows = [_top_m_orthogonal(W, cfg.lvr_m) for W in lin["params"]["W"][i]]
        per.append({"n_represented": [len(r["represented"]) for r in rows],
                    "max_interference": max(r["max_interference"] for r in rows)})
        ok.append(all(r["ok"] for r in rows))
    out.append(_claim("linear_no_superposition",
                      f"the linear model (n={cfg.lvr_n}, m={cfg.lvr_m}) represents the m most important features "
                      "orthogonally and never superposes, at every sparsity",
                      f"at each of the {lin['group'].k} sparsities: exactly features 0..{cfg.lvr_m - 1} have norm >= 0.5, "
                      "pairwise |Ŵ_i·W_j| < 0.1",
                      per, ok, lambda v: f"represented {v['n_represented']}, max interference {v['max_interference']:.3f}"))

    relu = G["lvr_relu"]
    dense = int(np.argmax(relu["group"].density[:, 0]))
    rows = [_top_m_orthogonal(relu["params"]["W"][i, dense], cfg.lvr_m) for i in range(N)]
    out.append(_claim("relu_dense_no_superposition",
                      "the ReLU-output model at S=0 does the same as the linear model",
                      f"exactly features 0..{cfg.lvr_m - 1} have norm >= 0.5, pairwise |Ŵ_i·W_j| < 0.1",
                      [{"represented": r["represented"], "max_interference": r["max_interference"]} for r in rows],
                      [r["ok"] for r in rows], lambda v: f"represented {v['represented']}, max interference {v['max_interference']:.3f}"))

    intro = G["intro"]
    S = 1 - intro["group"].density[:, 0]
    high = np.flatnonzero(S >= 0.9 - 1e-6)  # the paper's Figure 1 shows the pentagon from S = 0.9
    poly = results["intro_polygon"]
    Dall = intro["summary"]["dimensionality"]
    per, ok = [], []
    for i in range(N):
        pent = {f"{S[k]:.3f}": bool(poly["sides"][i, k] == 5 and _within(Dall[i, k], 0.35, 0.45)) for k in high}
        best = next((k for k in high if pent[f"{S[k]:.3f}"]), high[-1] if high.size else 0)
        per.append({"pentagon_at_S": pent, "sides_at_S": {f"{S[k]:.3f}": int(poly["sides"][i, k]) for k in high},
                    "example_S": round(float(S[best]), 3),
                    "example_gaps_deg": [round(float(x), 1) for x in poly["gaps_deg"][i, best][:int(poly["n_represented"][i, best])]],
                    "example_D_i": [round(float(x), 3) for x in Dall[i, best]]})
        ok.append(high.size > 0 and sum(pent.values()) > high.size / 2)
    out.append(_claim("pentagon",
                      f"at high sparsity the n={cfg.intro_n}, m=2 model places all 5 features on a regular pentagon",
                      "at most intro sparsities S >= 0.9: 5 represented features, every neighbouring gap within 10° of 72°, "
                      "every D_i within 0.05 of 2/5 (a model may instead stop in a local minimum: two antipodal pairs, "
                      "fifth feature dropped)",
                      per, ok, lambda v: f"pentagon at {v['pentagon_at_S']} (sides {v['sides_at_S']}); e.g. S={v['example_S']}: "
                                         f"gaps {v['example_gaps_deg']}, D_i {v['example_D_i']}"))

    geo = G["geometry"]
    order = np.argsort(-geo["group"].density[:, 0])  # dense -> sparse
    per, ok = [], []
    for i in range(N):
        d = geo["summary"]["d_star"][i, order]
        rises = float(np.max(np.diff(d), initial=0.0))
        v = {"d_star": [round(float(x), 3) for x in d], "max_rise": rises,
             "plateau_half": _plateau(d, 0.5)}
        per.append(v)
        ok.append(0.9 <= d[0] <= 1.1 and rises < 0.05 and d[-1] < 0.5 and v["plateau_half"])
    out.append(_claim("d_star_curve",
                      f"dimensions per feature D* (n={cfg.geometry_n}, m={cfg.geometry_m}) falls from 1 as sparsity grows, "
                      "with a plateau at 1/2",
                      "D* in [0.9, 1.1] when dense, never rises by >= 0.05 between neighbouring sparsities, "
                      "< 0.5 at the sparsest, and >= 3 consecutive sparsities within 0.05 of 1/2",
                      per, ok, lambda v: f"D* {v['d_star'][0]:.2f} -> {v['d_star'][-1]:.2f}, "
                                         f"max rise {v['max_rise']:.3f}, plateau at 1/2: {v['plateau_half']}"))

    sl, ss = results["sticky_lines"], results["sticky_lines_per_sparsity"]
    per, ok = [], []
    for i in range(N):
        v = {"share_near_any_sticky": round(float(sl["share_near_any"][i]), 3)}
        good = True
        for f, label in ((1 / 2, "half"), (2 / 5, "two_fifths")):
            j = A.STICKY_FRACTIONS.index(f)
            line = (ss["count"][i, :, j] >= 10) & (ss["concentration"][i, :, j] >= 2)
            v[f"sparsities_with_line_{label}"] = [round(float(1 - geo["group"].density[k, 0]), 3) for k in np.flatnonzero(line)]
            v[f"max_count_{label}"] = int(ss["count"][i, :, j].max())
            v[f"pooled_concentration_{label}"] = round(float(sl["concentration"][i, j]), 2)
            good &= bool(line.any())
        per.append(v)
        ok.append(good)
    out.append(_claim("sticky_lines",
                      "feature dimensionalities D_i of the geometry run cluster at 1/2 and 2/5 "
                      "(while most features lie off the sticky fractions; paper: ~26% within 0.02 of one)",
                      "at some sparsity, >= 10 represented features within 0.02 of 1/2, and likewise of 2/5, each window "
                      ">= 2x as dense as its flanks (0.02-0.06 away, other fractions' windows left out) in that model",
                      per, ok,
                      lambda v: f"1/2 at S={v['sparsities_with_line_half']}, 2/5 at S={v['sparsities_with_line_two_fifths']} "
                                f"(max {v['max_count_half']} / {v['max_count_two_fifths']} features; pooled over sparsities "
                                f"{v['pooled_concentration_half']}x / {v['pooled_concentration_two_fifths']}x flank density); "
                                f"{100 * v['share_near_any_sticky']:.0f}% of features near a sticky fraction"))

    r, s = results["phase_axes"]["importance"], results["phase_axes"]["density"]
    analytic = results["phase_analytic"]
    boundary = np.asarray(A.analytic_boundary_n2m1(r))
    step = abs(np.log10(s[1] / s[0])) if len(s) > 1 else 1.0
    far = np.abs(np.log10(s[None, :]) - np.log10(boundary[:, None])) > step
    per = []
    for i in range(N):
        emp = G["phase_2_1"]["phase"][i]
        agree = emp == analytic
        per.append({"agreement_far_from_boundary": round(float(agree[far].mean()), 3),
                    "agreement_all": round(float(agree.mean()), 3), "n_far": int(far.sum())})
    out.append(_claim("phase_boundary_n2m1",
                      "the empirical n=2, m=1 phase diagram matches the analytic one: superposition below the "
                      "boundary s = 4r/(2+5r) (r<=1), 4/(5+2r) (r>=1), else the more important feature alone",
                      "the 3-class phase agrees with the analytic phase at >= 90% of grid points more than one "
                      "grid step (in log density) from the analytic boundary",
                      per, [v["agreement_far_from_boundary"] >= 0.9 for v in per],
                      lambda v: f"{100 * v['agreement_far_from_boundary']:.0f}% of {v['n_far']} points far from "
                                f"the boundary ({100 * v['agreement_all']:.0f}% of all)"))
    return out

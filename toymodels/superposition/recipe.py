"""Elhage et al. 2022, "Toy Models of Superposition": every figure family of the paper from one run.

Design: one engine instance is one seed (times any swept lr / weight_decay) of the WHOLE figure
set. Inside it, each sub-experiment is a named stack of K models of one exact kind and shape
(`model.stacks`), stacked on a leading model axis: the notebook's instance axis. No model is
padded or masked, so an n=2, m=1 phase-diagram model costs what an n=2, m=1 model costs, not
what an n=200 one does, and the whole set is still one compiled program trained by one
`engine.train` call. The sparsity / importance of each model are data (the same for every
instance); only seed, lr and weight_decay vary across engine instances.

`best_of=True` (analysis only): for each model of the figure set, the figures use the seed with
the lowest loss on a large evaluation batch, as the authors did for noisy panels; claims are
still measured per seed. The phase diagrams always keep, per grid point, the lowest-loss of
their `phase_tries` models (trained side by side, cheap at n <= 3).
"""

from __future__ import annotations

import numpy as np

from toymodels.recipe import Claim, Recipe
from toymodels.superposition import analyses as A
from toymodels.superposition import figures
from toymodels.superposition import model as sp
from toymodels.superposition.analyses import Results
from toymodels.superposition.config import Config

PRESETS = {
    # Every figure and claim in 2-3 minutes on a 2-core CPU: 6,000 steps of batch 512 (0.3x the
    # paper's samples per model, but more than half its optimiser steps), a 10x10 phase grid.
    "quick": Config(steps=6000, batch=512, eval_every=500, phase_points=10),
    # The notebook's defaults: 10,000 steps of batch 1024, AdamW lr 1e-3, wd 0.01.
    "paper": Config(),
}
SWEEPABLE = ("seed", "lr", "weight_decay")


# ---------------------------------------------------------------------------------------------
# Claims, measured per instance (seed); a claim holds when it holds for every instance


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


def _linear_no_superposition(results: Results) -> Claim:
    cfg, lin = results.config, results.stacks["lvr_linear"]
    per, ok = [], []
    for i in range(results.n_instances):
        rows = [_top_m_orthogonal(W, cfg.lvr_m) for W in lin.params["W"][i]]
        per.append({"n_represented": [len(r["represented"]) for r in rows],
                    "max_interference": max(r["max_interference"] for r in rows)})
        ok.append(all(r["ok"] for r in rows))
    return Claim.measure(
        "linear_no_superposition",
        f"the linear model (n={cfg.lvr_n}, m={cfg.lvr_m}) represents the m most important features orthogonally "
        "and never superposes, at every sparsity",
        "linear models learn the top m features in orthogonal directions and drop the rest: no superposition at any "
        "sparsity (n=20, m=5, importance 0.7^i)",
        f"at each of the {lin.stack.k} sparsities: exactly features 0..{cfg.lvr_m - 1} have norm >= 0.5, "
        "pairwise |Ŵ_i·W_j| < 0.1",
        per, ok, lambda v: f"represented {v['n_represented']}, max interference {v['max_interference']:.3f}")


def _relu_dense_no_superposition(results: Results) -> Claim:
    cfg, relu = results.config, results.stacks["lvr_relu"]
    dense = int(np.argmax(relu.stack.density[:, 0]))
    rows = [_top_m_orthogonal(relu.params["W"][i, dense], cfg.lvr_m) for i in range(results.n_instances)]
    return Claim.measure(
        "relu_dense_no_superposition",
        "the ReLU-output model at S=0 does the same as the linear model",
        "with dense features (S=0) the ReLU-output model behaves like the linear one: the top m features, orthogonal",
        f"exactly features 0..{cfg.lvr_m - 1} have norm >= 0.5, pairwise |Ŵ_i·W_j| < 0.1",
        [{"represented": r["represented"], "max_interference": r["max_interference"]} for r in rows],
        [r["ok"] for r in rows],
        lambda v: f"represented {v['represented']}, max interference {v['max_interference']:.3f}")


def _pentagon(results: Results) -> Claim:
    cfg, intro = results.config, results.stacks["intro"]
    S = 1 - intro.stack.density[:, 0]
    high = np.flatnonzero(S >= 0.9 - 1e-6)  # the paper's Figure 1 shows the pentagon from S = 0.9
    poly = results.intro_polygon
    Dall = intro.summary.dimensionality
    per, ok = [], []
    for i in range(results.n_instances):
        pent = {f"{S[k]:.3f}": bool(poly.sides[i, k] == 5 and _within(Dall[i, k], 0.35, 0.45)) for k in high}
        best = next((k for k in high if pent[f"{S[k]:.3f}"]), high[-1] if high.size else 0)
        per.append({"pentagon_at_S": pent, "sides_at_S": {f"{S[k]:.3f}": int(poly.sides[i, k]) for k in high},
                    "example_S": round(float(S[best]), 3),
                    "example_gaps_deg": [round(float(x), 1)
                                         for x in poly.gaps_deg[i, best][:int(poly.n_represented[i, best])]],
                    "example_D_i": [round(float(x), 3) for x in Dall[i, best]]})
        ok.append(high.size > 0 and sum(pent.values()) > high.size / 2)
    return Claim.measure(
        "pentagon",
        f"at high sparsity the n={cfg.intro_n}, m=2 model places all 5 features on a regular pentagon",
        "Figure 1 (n=5, m=2, importance 0.9^i): 2 orthogonal features when dense, antipodal pairs at moderate "
        "sparsity, a pentagon at high sparsity (from S = 0.9)",
        "at most intro sparsities S >= 0.9: 5 represented features, every neighbouring gap within 10° of 72°, "
        "every D_i within 0.05 of 2/5 (a model may instead stop in a local minimum: two antipodal pairs, "
        "fifth feature dropped)",
        per, ok, lambda v: f"pentagon at {v['pentagon_at_S']} (sides {v['sides_at_S']}); e.g. S={v['example_S']}: "
                           f"gaps {v['example_gaps_deg']}, D_i {v['example_D_i']}")


def _d_star_curve(results: Results) -> Claim:
    cfg, geo = results.config, results.stacks["geometry"]
    order = np.argsort(-geo.stack.density[:, 0])  # dense -> sparse
    per, ok = [], []
    for i in range(results.n_instances):
        d = geo.summary.d_star[i, order]
        rises = float(np.max(np.diff(d), initial=0.0))
        v = {"d_star": [round(float(x), 3) for x in d], "max_rise": rises, "plateau_half": _plateau(d, 0.5)}
        per.append(v)
        ok.append(0.9 <= d[0] <= 1.1 and rises < 0.05 and d[-1] < 0.5 and v["plateau_half"])
    return Claim.measure(
        "d_star_curve",
        f"dimensions per feature D* (n={cfg.geometry_n}, m={cfg.geometry_m}) falls from 1 as sparsity grows, "
        "with a plateau at 1/2",
        "D* = m / ||W||_F^2 of the n=200, m=20 geometry run falls as sparsity grows and sticks at 1/2 "
        "(antipodal pairs) on the way",
        "D* in [0.9, 1.1] when dense, never rises by >= 0.05 between neighbouring sparsities, "
        "< 0.5 at the sparsest, and >= 3 consecutive sparsities within 0.05 of 1/2",
        per, ok, lambda v: f"D* {v['d_star'][0]:.2f} -> {v['d_star'][-1]:.2f}, "
                           f"max rise {v['max_rise']:.3f}, plateau at 1/2: {v['plateau_half']}")


def _sticky_lines(results: Results) -> Claim:
    geo = results.stacks["geometry"].stack
    sl, ss = results.sticky_lines, results.sticky_lines_per_sparsity
    per, ok = [], []
    for i in range(results.n_instances):
        v = {"share_near_any_sticky": round(float(sl.share_near_any[i]), 3)}
        good = True
        for f, label in ((1 / 2, "half"), (2 / 5, "two_fifths")):
            j = A.STICKY_FRACTIONS.index(f)
            line = (ss.count[i, :, j] >= 10) & (ss.concentration[i, :, j] >= 2)
            v[f"sparsities_with_line_{label}"] = [round(float(1 - geo.density[k, 0]), 3) for k in np.flatnonzero(line)]
            v[f"max_count_{label}"] = int(ss.count[i, :, j].max())
            v[f"pooled_concentration_{label}"] = round(float(sl.concentration[i, j]), 2)
            good &= bool(line.any())
        per.append(v)
        ok.append(good)
    return Claim.measure(
        "sticky_lines",
        "feature dimensionalities D_i of the geometry run cluster at 1/2 and 2/5 "
        "(while most features lie off the sticky fractions)",
        "distinct lines of D_i at 1/2 and 2/5 in the authors' geometry run, where only ~26% of features lie "
        "within 0.02 of a sticky fraction",
        "at some sparsity, >= 10 represented features within 0.02 of 1/2, and likewise of 2/5, each window "
        ">= 2x as dense as its flanks (0.02-0.06 away, other fractions' windows left out) in that model",
        per, ok,
        lambda v: f"1/2 at S={v['sparsities_with_line_half']}, 2/5 at S={v['sparsities_with_line_two_fifths']} "
                  f"(max {v['max_count_half']} / {v['max_count_two_fifths']} features; pooled over sparsities "
                  f"{v['pooled_concentration_half']}x / {v['pooled_concentration_two_fifths']}x flank density); "
                  f"{100 * v['share_near_any_sticky']:.0f}% of features near a sticky fraction")


def _phase_boundary_n2m1(results: Results) -> Claim:
    r, s = results.phase_importance, results.phase_density
    boundary = np.asarray(A.analytic_boundary_n2m1(r))
    step = abs(np.log10(s[1] / s[0])) if len(s) > 1 else 1.0
    far = np.abs(np.log10(s[None, :]) - np.log10(boundary[:, None])) > step
    per = []
    for i in range(results.n_instances):
        agree = results.phases["phase_2_1"].per_seed[i] == results.phase_analytic
        per.append({"agreement_far_from_boundary": round(float(agree[far].mean()), 3),
                    "agreement_all": round(float(agree.mean()), 3), "n_far": int(far.sum())})
    return Claim.measure(
        "phase_boundary_n2m1",
        "the empirical n=2, m=1 phase diagram matches the analytic one: superposition below the analytic "
        "boundary, else the more important feature alone",
        "analytic n=2, m=1 phase diagram: superposition wins iff density s < 4r/(2+5r) (r <= 1) or s < 4/(5+2r) "
        "(r >= 1), 4/7 at r = 1 (r: relative importance of the second feature)",
        "the 3-class phase agrees with the analytic phase at >= 90% of grid points more than one "
        "grid step (in log density) from the analytic boundary",
        per, [v["agreement_far_from_boundary"] >= 0.9 for v in per],
        lambda v: f"{100 * v['agreement_far_from_boundary']:.0f}% of {v['n_far']} points far from "
                  f"the boundary ({100 * v['agreement_all']:.0f}% of all)")


def claims(results: Results) -> list[Claim]:
    return [_linear_no_superposition(results), _relu_dense_no_superposition(results), _pentagon(results),
            _d_star_curve(results), _sticky_lines(results), _phase_boundary_n2m1(results)]


RECIPE = Recipe(
    name="superposition",
    summary="Elhage et al. 2022: toy models of superposition; feature geometry, dimensionality, phase diagrams",
    presets=PRESETS,
    sweepable=SWEEPABLE,
    figures=figures.FIGURES,
    task=sp.task,
    make_data=sp.make_data,
    analyse=A.analyse,
    claims=claims,
)

"""Figures of "Toy Models of Superposition" (Elhage et al. 2022), one function per figure family,
each `name(results) -> Figure`; `FIGURES` lists them in the order they are drawn. Every panel shows,
per model, the instance `results` marks as shown (seed 0, or the lowest-loss seed with best_of).
Feature bars follow the paper: bar length ||W_i||, colour sum_{j != i} (Ŵ_i · W_j)^2 clipped to
[0, 1] (dark: the feature has its own direction; yellow: it shares it). Weight matrices use one
diverging map everywhere: red positive, blue negative.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from toymodels.plotting import heatmap, plt
from toymodels.superposition import analyses as A
from toymodels.superposition.analyses import Results

SUPERPOSITION_CMAP = "viridis"  # 0 (dark) = dedicated ... 1 (yellow) = superposed
WEIGHT_CMAP = "RdBu_r"  # red +, blue -
PHASE_COLOURS = ("#d9d9d9", "#3182bd", "#e6550d")  # not represented, dedicated, superposition


def _sparsity_label(p: float) -> str:
    return f"S = {1 - p:.3g}"


def _wtw(ax, W, b=None, title=""):
    heatmap(ax, W.T @ W, title=title, cmap=WEIGHT_CMAP, symmetric=False, colorbar=False, vmin=-1, vmax=1,
            aspect="equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(ax, W, title="", max_features=None):
    """Horizontal bars of ||W_i|| (feature 0 at the top) coloured by polysemanticity / norm."""
    norms = np.asarray(A.feature_norms(W))
    poly = np.asarray(A.polysemanticity(W))
    share = np.clip(poly**2, 0, 1)
    n = len(norms) if max_features is None else min(max_features, len(norms))
    ax.barh(np.arange(n), norms[:n], color=plt.get_cmap(SUPERPOSITION_CMAP)(share[:n]), height=0.8)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, max(1.2, float(norms.max()) * 1.05))
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


# ---------------------------------------------------------------------------------------------


def intro_geometry(results: Results):
    """n=5, m=2: W^T W and the features' directions in the 2-D hidden space, per sparsity."""
    res = results.stacks["intro"]
    P = res.shown_params()
    g = res.stack
    order = np.argsort(-g.density[:, 0])
    k = len(order)
    fig, axes = plt.subplots(2, k, figsize=(1.9 * k, 4.0), squeeze=False)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, g.n))
    poly = results.intro_polygon
    for col, idx in enumerate(order):
        W = P["W"][idx]
        _wtw(axes[0, col], W, title=_sparsity_label(g.density[idx, 0]))
        ax = axes[1, col]
        for i in range(g.n):
            ax.plot([0, W[0, i]], [0, W[1, i]], color=colours[i], lw=1.5)
            ax.scatter(W[0, i], W[1, i], color=colours[i], s=12, zorder=3)
        ax.set_xlim(-1.4, 1.4)
        ax.set_ylim(-1.4, 1.4)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        sides = int(poly.sides[res.shown[idx], idx])
        n_rep = int(poly.n_represented[res.shown[idx], idx])
        shape = {2: "antipodal pair", 3: "triangle", 4: "2 antipodal pairs", 5: "pentagon"}.get(sides, f"{sides}-gon")
        ax.set_title(f"{n_rep} features" + (f": {shape}" if sides else ""), fontsize=8)
    axes[0, 0].set_ylabel("W^T W (red +, blue -)")
    axes[1, 0].set_ylabel("W columns (hidden plane)")
    fig.suptitle(f"n={g.n}, m=2, importance 0.9^i (colour: dark = most important); sparsity grows to the right")
    fig.tight_layout()
    return fig


def linear_vs_relu(results: Results):
    """n=20, m=5: the linear model and the ReLU-output model across sparsities."""
    rows = [("lvr_linear", "linear"), ("lvr_relu", "ReLU output")]
    g = results.stacks["lvr_linear"].stack
    k = g.k
    fig, axes = plt.subplots(4, k, figsize=(1.7 * k, 6.6), squeeze=False)
    for r, (name, label) in enumerate(rows):
        P = results.stacks[name].shown_params()
        stack = results.stacks[name].stack
        for c in range(k):
            W = P["W"][c]
            _wtw(axes[2 * r, c], W, title=f"{label}\n{_sparsity_label(stack.density[c, 0])}")
            _bars(axes[2 * r + 1, c], W)
    axes[1, 0].set_ylabel("||W_i||")
    axes[3, 0].set_ylabel("||W_i||")
    fig.suptitle(f"n={g.n}, m={g.m}, importance 0.7^i: W^T W and feature norms "
                 "(bar colour: superposition, dark = own direction, yellow = shared)")
    fig.tight_layout()
    return fig


def wtw_matrices(results: Results):
    """n=100, m=20, importance 100^-linspace: W^T W and the norm bars at six sparsities."""
    g = results.stacks["wtw"].stack
    P = results.stacks["wtw"].shown_params()
    order = np.argsort(-g.density[:, 0])
    picks = order[np.unique(np.linspace(0, len(order) - 1, 6).round().astype(int))]
    fig, axes = plt.subplots(2, len(picks), figsize=(2.6 * len(picks), 5.6), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 1]})
    for c, idx in enumerate(picks):
        W = P["W"][idx]
        _wtw(axes[0, c], W, title=_sparsity_label(g.density[idx, 0]))
        _bars(axes[1, c], W)
    fig.suptitle(f"n={g.n}, m={g.m}, importance 100^-linspace(0,1,n): W^T W (top; red +1, blue -1) and ||W_i|| "
                 "coloured by superposition (bottom; dark = own direction, yellow = shared)")
    fig.tight_layout()
    return fig


def dimensionality(results: Results):
    """D* against 1/(1-S) with every feature's D_i, and the sticky fractions as lines."""
    g = results.stacks["geometry"].stack
    s = results.stacks["geometry"].summary
    x = 1.0 / g.density[:, 0]
    fig, ax = plt.subplots(figsize=(8, 5))
    for frac, name in zip(A.STICKY_FRACTIONS, A.STICKY_NAMES):
        ax.axhline(frac, color="0.75", lw=0.8, ls="--", zorder=0)
        ax.text(x.max() * 1.05, frac, f"{name} ({frac:.3g})", fontsize=7, va="center")
    N = s.d_star.shape[0]
    for i in range(N):
        rep = s.norms[i] >= A.REPRESENTED
        pent = results.geometry_pentagons.member[i] & rep
        xs = np.broadcast_to(x[:, None], rep.shape) * np.exp(np.random.default_rng(i).normal(0, 0.015, rep.shape))
        ax.scatter(xs[rep & ~pent], s.dimensionality[i][rep & ~pent], s=3, alpha=0.35, color="tab:blue",
                   label="D_i (represented features)" if i == 0 else None)
        ax.scatter(xs[pent], s.dimensionality[i][pent], s=6, alpha=0.8, color="tab:red",
                   label="D_i of pentagon members" if i == 0 and pent.any() else None)
        ax.plot(x, s.d_star[i], "k-", lw=1.5, alpha=0.8 if N == 1 else 0.5,
                label="D* = m / ||W||_F^2" if i == 0 else None)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.1)
    ax.set(xlabel="1 / (1 - S)", ylabel="dimensions per feature",
           title=f"n={g.n}, m={g.m}, equal importance" + (f" ({N} seeds)" if N > 1 else ""))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def phase_diagrams(results: Results):
    """n=2, m=1 and n=3, m=2: phase of the last feature over relative importance and density,
    with the analytic n=2, m=1 boundary."""
    r, s = results.phase_importance, results.phase_density
    cmap = ListedColormap(PHASE_COLOURS)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    lr, ls = np.log10(r), np.log10(s)
    dr, ds = lr[1] - lr[0], ls[0] - ls[1]
    extent = [lr[0] - dr / 2, lr[-1] + dr / 2, ls[-1] + ds / 2, ls[0] - ds / 2]
    panels = [(results.phases["phase_2_1"].shown, "n=2, m=1 (trained)"),
              (results.phase_analytic, "n=2, m=1 (analytic)"),
              (results.phases["phase_3_2"].shown, "n=3, m=2 (trained)")]
    rr = np.geomspace(r[0], r[-1], 200)
    for ax, (z, title) in zip(axes, panels):
        ax.imshow(np.asarray(z).T, cmap=cmap, vmin=-0.5, vmax=2.5, origin="upper", extent=extent, aspect="auto",
                  interpolation="nearest")
        ax.set(title=title, xlabel="log10 relative importance of the last feature", ylabel="log10 feature density")
        ax.set_ylim(extent[2], extent[3])
        if "n=2" in title:
            ax.plot(np.log10(rr), np.log10(np.asarray(A.analytic_boundary_n2m1(rr))), "k--", lw=1.5,
                    label="analytic boundary")
            ax.axvline(0, color="k", lw=0.5, ls=":")
    axes[0].legend(handles=[Patch(color=c, label=l) for c, l in zip(PHASE_COLOURS, A.PHASE_NAMES)]
                   + [plt.Line2D([], [], color="k", ls="--", label="analytic boundary")], fontsize=8, loc="lower left")
    fig.suptitle("phase of the last feature (best of the tries per grid point)")
    fig.tight_layout()
    return fig


def _neuron_grid(ax, W, title):
    heatmap(ax, W, cmap=WEIGHT_CMAP, symmetric=True, colorbar=False)
    ax.set_title(title, fontsize=7)
    ax.set_xlabel("feature", fontsize=7)
    ax.set_ylabel("neuron", fontsize=7)
    ax.tick_params(labelsize=6)


def hidden_relu_neurons(results: Results):
    """n=10, m=5 with a ReLU hidden layer: which features each neuron reads (W, neurons x features)
    and the feature norms, per sparsity."""
    res = results.stacks["hidden_relu"]
    g = res.stack
    P = res.shown_params()
    counts = results.hidden_neuron_counts
    fig, axes = plt.subplots(2, g.k, figsize=(2.3 * g.k, 4.6), squeeze=False, gridspec_kw={"height_ratios": [1, 1.2]})
    for c in range(g.k):
        W = P["W"][c]
        cnt = counts[res.shown[c], c]
        _neuron_grid(axes[0, c], W, f"{_sparsity_label(g.density[c, 0])}\nfeatures per neuron {cnt.tolist()}")
        _bars(axes[1, c], W)
    fig.suptitle(f"hidden-ReLU model n={g.n}, m={g.m}: neuron weights (red +, blue -) and ||W_i|| "
                 "(dense: monosemantic neurons; sparse: neurons serve several features)", fontsize=10)
    fig.tight_layout()
    return fig


def absolute_value_neurons(results: Results):
    """Absolute value: n=20, m=10 (antipodal neuron pairs) and n=100, m=40 across sparsities."""
    pair, big = results.stacks["abs_pair"], results.stacks["abs"]
    Pp, Pb = pair.shown_params(), big.shown_params()
    k = big.stack.k
    fig = plt.figure(figsize=(2.4 * (k + 1), 6.2))
    gs = fig.add_gridspec(2, k + 1, height_ratios=[1, 1])
    W = Pp["W"][0]
    info = results.abs_pairs["abs_pair"]
    i0 = pair.shown[0]
    order = _pair_order(info.partner[i0, 0], info.cosine[i0, 0])
    ax = fig.add_subplot(gs[:, 0])
    _neuron_grid(ax, W[order], f"n={pair.stack.n}, m={pair.stack.m}, S={1 - pair.stack.density[0, 0]:.2g}\n"
                               f"{int(info.n_pairs[i0, 0])} antipodal neuron pairs (adjacent rows)")
    for c in range(k):
        Wb = Pb["W"][c]
        npairs = int(results.abs_pairs["abs"].n_pairs[big.shown[c], c])
        top = np.argsort(-np.abs(Wb).max(1))
        _neuron_grid(fig.add_subplot(gs[0, c + 1]), Wb[top][:, :40],
                     f"n={big.stack.n}, m={big.stack.m}\n{_sparsity_label(big.stack.density[c, 0])}, {npairs} pairs")
        _bars(fig.add_subplot(gs[1, c + 1]), Wb, max_features=40)
    fig.suptitle("absolute-value model |x| = ReLU(W_out ReLU(W x) + b): neuron input weights W (first 40 features "
                 "shown for n=100) and ||W_i||", fontsize=10)
    fig.tight_layout()
    return fig


def _pair_order(partner: np.ndarray, cosine: np.ndarray) -> np.ndarray:
    """Neuron order that puts each antipodal pair's members next to each other."""
    seen, order = set(), []
    for j in np.argsort(cosine):
        if j in seen:
            continue
        order.append(int(j))
        seen.add(int(j))
        q = int(partner[j])
        if q not in seen and partner[q] == j and cosine[j] <= -0.9:
            order.append(q)
            seen.add(q)
    return np.array(order)


SET_ROWS = (("corr_pairs", "correlated pairs"), ("anti_pairs", "anti-correlated pairs"),
            ("corr_collapse", "correlated pairs, too many to fit"))
SET_COLOURS = ("tab:red", "tab:green", "tab:blue", "tab:orange", "tab:purple", "tab:brown")


def _plane(ax, W, set_size):
    """A 2-D W's columns as arrows from the origin, coloured by set; a set's first feature solid,
    its others dashed."""
    for i in range(W.shape[1]):
        colour = SET_COLOURS[(i // set_size) % len(SET_COLOURS)]
        ax.plot([0, W[0, i]], [0, W[1, i]], color=colour, lw=1.8, ls="-" if i % set_size == 0 else "--")
        ax.scatter(W[0, i], W[1, i], color=colour, s=14, zorder=3, marker="o" if i % set_size == 0 else "s")
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def correlated_features(results: Results):
    """The correlated-feature sweeps in the hidden plane, per sparsity (dense left, sparse right):
    two correlated pairs, two anti-correlated pairs, and three correlated pairs; a colour per pair."""
    cols = max(results.set_sweeps[name].density.size for name, _ in SET_ROWS)
    fig, axes = plt.subplots(len(SET_ROWS), cols, figsize=(1.9 * cols, 2.25 * len(SET_ROWS)), squeeze=False)
    for r, (name, label) in enumerate(SET_ROWS):
        sweep = results.set_sweeps[name]
        for c in range(cols):
            ax = axes[r, c]
            if c >= sweep.density.size:
                ax.axis("off")
                continue
            i = sweep.shown[c]
            _plane(ax, sweep.W[i, c], sweep.stack.set_size)
            cos = ", ".join(f"{x:+.2f}" for x in sweep.geometry.within_cos[i, c])
            ax.set_title(f"p = {sweep.density[c]:.3g}\npair cos {cos}", fontsize=7)
        axes[r, 0].set_ylabel(f"{label}\n(n={sweep.stack.n}, m={sweep.stack.m})", fontsize=8)
    fig.suptitle("features in the hidden plane, a colour per pair (first feature solid, second dashed); "
                 "lowest-loss try per sparsity; sparsity grows to the right", fontsize=9)
    fig.tight_layout()
    return fig


def correlated_interference(results: Results):
    """Per sweep, against feature probability: the cosine between a pair's two features (mean over
    pairs) and between features of different pairs, every seed; the claims' cosine levels dotted."""
    fig, axes = plt.subplots(1, len(SET_ROWS), figsize=(4.6 * len(SET_ROWS), 3.8), squeeze=False)
    for ax, (name, label) in zip(axes[0], SET_ROWS):
        sweep = results.set_sweeps[name]
        g = sweep.geometry
        N = g.within_cos.shape[0]
        for i in range(N):
            alpha = 0.9 if N == 1 else 0.5
            ax.plot(sweep.density, g.within_cos[i].mean(-1), "o-", color="tab:red", alpha=alpha, ms=3,
                    label="within a pair" if i == 0 else None)
            ax.plot(sweep.density, g.between_cos[i], "s--", color="tab:blue", alpha=alpha, ms=3,
                    label="between pairs" if i == 0 else None)
        for level in (-0.9, -0.2, 0.2, 0.9):
            ax.axhline(level, color="0.7", lw=0.7, ls=":", zorder=0)
        ax.set_xscale("log")
        ax.set_xticks(sweep.density, [f"{p:.3g}" for p in sweep.density], fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.invert_xaxis()
        ax.set_ylim(-1.08, 1.08)
        ax.set(title=f"{label} (n={sweep.stack.n}, m={sweep.stack.m})", xlabel="feature probability p (sparser ->)",
               ylabel="mean cos(W_i, W_j)")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("where the interference goes: within pairs or between them" + (f" ({N} seeds)" if N > 1 else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig


FIGURES = (intro_geometry, linear_vs_relu, wtw_matrices, dimensionality, phase_diagrams, hidden_relu_neurons,
           absolute_value_neurons, correlated_features, correlated_interference)

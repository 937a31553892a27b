"""Figures of the fact-lookup memoriser, each a function of the analysed run
(`analyses.Results`); FIGURES lists them in order. Curves over table size show the median over
seeds with a min-max band; the mechanistic figures use the random-label instances at capacity
(the table size storing the most bits, per width) of the first seed.
"""

from __future__ import annotations

import numpy as np

from toymodels.memorisation.analyses import (
    PATHS,
    PAPER_BITS_PER_PARAM,
    Results,
    capacity_instance,
    capacity_table,
    random_structured_pairs,
)
from toymodels.plotting import band, band_note, plt, subplots

# ---------------------------------------------------------------------------------------------
# Helpers


def _grid(results: Results, structured: bool = False):
    """{width: (table sizes, instance index array (n_sizes, n_seeds))} for one label kind."""
    insts = results.instances
    out = {}
    for w in sorted({int(i["width"]) for i in insts}):
        sizes = sorted({int(i["n"]) for i in insts if int(i["width"]) == w and bool(i["structured"]) == structured})
        if not sizes:
            continue
        rows = [[j for j, i in enumerate(insts) if int(i["width"]) == w and int(i["n"]) == n
                 and bool(i["structured"]) == structured] for n in sizes]
        k = min(len(r) for r in rows)
        out[w] = (np.array(sizes), np.array([r[:k] for r in rows]))
    return out


def _at_capacity(results: Results) -> list[int]:
    """Per width, the first seed's random-label instance at its capacity table size."""
    table = capacity_table(results)
    first_seed = min((row["seed"] for row in table), default=None)
    return [capacity_instance(results, row) for row in table if row["seed"] == first_seed]


def _label(results: Results, i: int) -> str:
    inst = results.instances[i]
    return f"n={inst['n']}, width {inst['width']}"


def _colors(k):
    return plt.cm.viridis(np.linspace(0.1, 0.85, max(k, 1)))


# ---------------------------------------------------------------------------------------------
# Figures


def capacity_curves(results: Results):
    """Accuracy and bits stored against table size, one line per width; the dotted lines mark
    2 bits per trainable parameter for each width, the grey line n^2 (everything memorised)."""
    cap = results.final.capacity
    grid = _grid(results)
    fig, (ax_acc, ax_bits) = subplots(2, size=(5.2, 3.8))
    nseeds = min((idx.shape[1] for _, idx in grid.values()), default=1)
    for (w, (sizes, idx)), c in zip(grid.items(), _colors(len(grid))):
        band(ax_acc, sizes, cap.accuracy[idx], label=f"width {w}", color=c, marker="o")
        band(ax_bits, sizes, cap.bits[idx], label=f"width {w}", color=c, marker="o")
        ax_bits.axhline(PAPER_BITS_PER_PARAM * results.n_params[idx[0, 0]], color=c, ls=":", lw=1)
    if grid:
        all_n = np.unique(np.concatenate([s for s, _ in grid.values()]))
        ax_bits.plot(all_n, all_n**2, color="gray", lw=1, label="n² (whole table)")
    ax_bits.plot([], [], color="k", ls=":", lw=1, label="2 bits / parameter")
    ax_acc.set(xlabel="table size n (n² facts)", ylabel="accuracy on the table", title="Accuracy" + band_note(nseeds))
    ax_bits.set(xlabel="table size n (n² facts)", ylabel="bits stored  n²(ln2 − loss)/ln2", title="Bits stored")
    ax_acc.axhline(1.0, color="gray", lw=0.5)
    ax_acc.legend(fontsize=8)
    ax_bits.legend(fontsize=8)
    fig.suptitle("Capacity of a 2-MLP memoriser on random binary tables")
    return fig


def bits_per_parameter(results: Results):
    """Bits per trainable parameter against parameter count: every random-label instance (small
    dots) and each width's best table size (large markers), with the ~2 bits/param reference."""
    cap = results.final.capacity
    fig, ax = plt.subplots(figsize=(5.5, 4))
    rand = [i for i, inst in enumerate(results.instances) if not inst["structured"]]
    ax.scatter(results.n_params[rand], cap.bits_per_param[rand], s=10, color="gray", alpha=0.6,
               label="each (table size, seed)")
    table = capacity_table(results)
    for sat, marker, text in ((True, "o", "best table, width saturated"), (False, "^", "best table, not saturated")):
        rows = [r for r in table if r["saturated"] == sat]
        if rows:
            ax.scatter([r["params"] for r in rows], [r["bits_per_param"] for r in rows], s=50, marker=marker,
                       color="tab:red" if sat else "tab:blue", label=text, zorder=3)
    ax.axhline(PAPER_BITS_PER_PARAM, color="k", ls=":", label="~2 bits/param (published)")
    ax.set_xscale("log")
    ax.set(xlabel="trainable parameters (embeddings frozen)", ylabel="bits stored per trainable parameter",
           title="Bits per parameter")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return fig


def probe_accuracy(results: Results):
    """Linear-probe accuracy on the residual stream at the embeddings, after MLP0, after MLP1,
    random against structured labels, for each width at its capacity table size (and the
    structured instance of the same size)."""
    probes = results.final.probes
    chosen = _at_capacity(results)
    twin = dict(random_structured_pairs(results))
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(3)
    colors = _colors(len(chosen))
    for i, c in zip(chosen, colors):
        ax.plot(x, probes[i], marker="o", color=c, label=f"random, {_label(results, i)}")
        if i in twin:
            ax.plot(x, probes[twin[i]], marker="s", ls="--", color=c, label=f"structured ({results.structure})")
    ax.axhline(0.5, color="gray", lw=0.5)
    ax.set_xticks(x, ["embeddings\nE0[a]+E1[b]", "after MLP0", "after MLP1"])
    ax.set(ylabel="probe accuracy (fit on all pairs)", ylim=(0.4, 1.02),
           title="Where the label becomes linearly readable")
    ax.legend(fontsize=7)
    return fig


def path_contributions(results: Results):
    """Share of the mean signed logit carried by each path (they sum to 1), per width at its
    capacity table size, and table accuracy with each MLP mean-ablated."""
    f = results.final
    chosen = _at_capacity(results)
    fig, (ax, ax2) = subplots(2, size=(5.2, 3.8))
    x = np.arange(len(chosen))
    bottom_pos, bottom_neg = np.zeros(len(chosen)), np.zeros(len(chosen))
    for j, (k, c) in enumerate(zip(PATHS, ("tab:gray", "tab:blue", "tab:orange", "tab:green"))):
        v = f.paths.share[chosen, j]
        base = np.where(v >= 0, bottom_pos, bottom_neg)
        ax.bar(x, v, bottom=base, color=c, label=k.replace("_", " ").replace("to", "→"))
        bottom_pos += np.maximum(v, 0)
        bottom_neg += np.minimum(v, 0)
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xticks(x, [_label(results, i) for i in chosen], fontsize=7)
    ax.set(ylabel="share of mean signed logit", title="Logit paths (exact split)")
    ax.legend(fontsize=7)
    names = ("none", "MLP0", "MLP1")
    for j, c in enumerate(("k", "tab:blue", "tab:orange")):
        ax2.bar(x + (j - 1) * 0.27, f.layer_ablations[chosen, j], width=0.27, color=c, label=f"ablated: {names[j]}")
    ax2.axhline(0.5, color="gray", lw=0.5)
    ax2.set_xticks(x, [_label(results, i) for i in chosen], fontsize=7)
    ax2.set(ylabel="accuracy on the table", ylim=(0, 1.05), title="Mean-ablating a whole layer")
    ax2.legend(fontsize=7)
    return fig


def neurons_per_fact(results: Results):
    """Histograms over facts of the neurons needed for 50% and 90% of each fact's attribution
    (single-neuron ablation effects, both layers), per width at capacity; a one-neuron-per-fact
    network would put every fact at 1."""
    neurons = results.final.neurons
    chosen = _at_capacity(results)
    fig, axes = subplots(2, size=(5.2, 3.6))
    for ax, key in zip(axes, ("k50_ablation", "k90_ablation")):
        for i, c in zip(chosen, _colors(len(chosen))):
            k = getattr(neurons, key)[i]
            k = k[np.isfinite(k)]
            if k.size:
                bins = np.arange(0.5, k.max() + 1.5)
                ax.hist(k, bins=bins, histtype="step", color=c, lw=1.5, density=True,
                        label=f"{_label(results, i)} ({int(results.instances[i]['width']) * results.layers} neurons)")
        ax.axvline(1, color="k", ls=":", lw=1)
        ax.set(xlabel=f"neurons for {key[1:3]}% of a fact's ablation effects", ylabel="share of facts",
               title=f"Neurons per fact ({key[1:3]}%)")
        ax.legend(fontsize=7)
    return fig


def neuron_effect_correlation(results: Results):
    """Correlation across neurons of facts' direct-logit-attribution vectors (facts sorted by
    label) for the narrowest width at capacity, and the mean correlation for facts with the
    same and with opposite labels per width."""
    corr = results.final.correlation
    chosen = _at_capacity(results)
    fig, (ax, ax2) = subplots(2, size=(5.4, 4.2))
    fig.subplots_adjust(wspace=0.5)
    if chosen:
        i = chosen[0]
        order = np.argsort(corr.labels[i], kind="stable")
        im = ax.imshow(corr.matrix[i][np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="correlation")
        n0 = int((corr.labels[i] < 0.5).sum())
        ax.axhline(n0 - 0.5, color="k", lw=0.5)
        ax.axvline(n0 - 0.5, color="k", lw=0.5)
        ax.set(title=f"Neuron-effect correlation, {_label(results, i)}", xlabel="fact (label 0 | label 1)",
               ylabel="fact")
    x = np.arange(len(chosen))
    ax2.bar(x - 0.2, corr.same_label[chosen], width=0.4, label="same label")
    ax2.bar(x + 0.2, corr.opposite_label[chosen], width=0.4, label="opposite label")
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_xticks(x, [_label(results, i) for i in chosen], fontsize=7)
    ax2.set(ylabel="mean correlation between facts", title="Do facts share neurons?")
    ax2.legend(fontsize=7)
    return fig


def loss_curves(results: Results):
    """Table loss over training for every random-label instance (one panel per width, one line
    per table size): the plateau the `converged` claim measures."""
    m = results.metrics
    grid = _grid(results)
    fig, axes = subplots(max(len(grid), 1), size=(4.2, 3.4), layout="constrained")
    for ax, (w, (sizes, idx)) in zip(axes, grid.items()):
        for n, row, c in zip(sizes, idx, _colors(len(sizes))):
            band(ax, m["step"], m["table_loss"][:, row], label=f"n={n}", color=c)
        ax.set_yscale("log")
        ax.set(xlabel="step", title=f"width {w}")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("table loss (nats)")
    fig.suptitle("Training loss on random tables")
    return fig


FIGURES = (capacity_curves, bits_per_parameter, probe_accuracy, path_contributions, neurons_per_fact,
           neuron_effect_correlation, loss_curves)

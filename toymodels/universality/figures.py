"""Figures of the universality experiment (Chughtai et al. 2023): per run (median and band over
seeds) and across seeds. Every function takes the analysed run's `Results` and returns a figure;
FIGURES lists them in the order they are drawn."""

from __future__ import annotations

import numpy as np

from toymodels import stats
from toymodels.plotting import band, band_note, plt, subplots
from toymodels.universality import analyses as U
from toymodels.universality.analyses import Results


def _colors(n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _learned_any(results) -> np.ndarray:
    """(R,) irreps key in at least one seed (the trivial one never)."""
    return results.final.key.any(axis=0)


def _steps(results):
    return np.maximum(results.checkpoint_steps, 1)


def loss_curves(results: Results):
    m = results.metrics
    n = m["train_loss"].shape[1]
    fig, axes = subplots(2, size=(5, 3.6))
    for split, color in (("train", "C0"), ("test", "C1")):  # one colour per split in both panels
        band(axes[0], m["step"], m[f"{split}_loss"], label=split, color=color)
        band(axes[1], m["step"], m[f"{split}_acc"], label=split, color=color)
    axes[0].set(yscale="log", xlabel="step", ylabel="cross-entropy", title=f"{results.group} loss" + band_note(n))
    axes[1].set(xlabel="step", ylabel="accuracy", title="accuracy")
    for ax in axes:
        ax.legend()
    return fig


def logit_similarity(results: Results):
    o, names = results.over_training, results.irreps
    n = o.similarity.shape[1]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r, (name, c) in enumerate(zip(names, _colors(len(names)))):
        if r == 0:
            continue
        lw = 1.5 if _learned_any(results)[r] else 0.8
        band(ax, _steps(results), o.similarity[:, :, r], label=name, color=c, lw=lw)
    ax.axhline(results.key_threshold, color="gray", ls=":", lw=1, label="key threshold")
    ax.set(xscale="log", xlabel="step", ylabel="cos(logits, χ(abc⁻¹))",
           title=f"logit similarity per irrep{band_note(n)}")
    ax.legend(fontsize=7, ncol=2)
    return fig


def embedding_fve(results: Results):
    e, names = results.final.embedding_fve, results.irreps  # (N, 3, R)
    fig, axes = subplots(3, ncols=3, size=(4.2, 3.4))
    x = np.arange(len(names))
    for k, ax in enumerate(axes):
        vals = e[:, k]
        ax.bar(x, np.median(vals, 0), color="tab:blue", alpha=0.7, label="median over seeds")
        for i in range(len(vals)):
            ax.scatter(x + 0.15 * (np.random.default_rng(i).random(len(x)) - 0.5), vals[i], s=6, color="k", alpha=0.5)
        ax.set_xticks(x, names, rotation=60, fontsize=7)
        ax.set(ylim=(0, 1), ylabel="fraction of squared norm", title=f"{U.EMBEDDING_PARTS[k]} embedding by irrep")
    axes[0].legend(fontsize=7)
    return fig


def irrep_losses(results: Results):
    o, names = results.over_training, results.irreps
    fig, axes = subplots(2, size=(5.5, 3.8))
    for r, (name, c) in enumerate(zip(names, _colors(len(names)))):
        if not _learned_any(results)[r]:
            continue
        band(axes[0], _steps(results), o.restricted_loss_per_irrep[:, :, r], label=name, color=c)
        band(axes[1], _steps(results), o.excluded_loss_per_irrep[:, :, r], label=name, color=c)
    band(axes[0], _steps(results), o.restricted_loss, label="all key irreps", color="k", ls="--")
    band(axes[1], _steps(results), o.excluded_loss, label="all key irreps", color="k", ls="--")
    band(axes[0], _steps(results), o.test_loss, label="test loss", color="gray", ls=":")
    band(axes[1], _steps(results), o.train_loss, label="train loss", color="gray", ls=":")
    axes[0].set(xscale="log", yscale="log", xlabel="step", title="restricted loss (keep one irrep's ρ(ab); all pairs)")
    axes[1].set(xscale="log", yscale="log", xlabel="step",
                title="excluded loss (remove one irrep's ρ(ab); train pairs)")
    for ax in axes:
        ax.legend(fontsize=7)
    return fig


def weight_norm(results: Results):
    o = results.over_training
    fig, ax = plt.subplots(figsize=(5, 3.6))
    band(ax, _steps(results), o.sum_squared_weights)
    ax.set(xscale="log", xlabel="step", ylabel="Σ w²",
           title="sum of squared weights" + band_note(o.sum_squared_weights.shape[1]))
    return fig


def restricted_ratio(results: Results):
    o = results.over_training
    fig, ax = plt.subplots(figsize=(5, 3.6))
    with np.errstate(all="ignore"):
        band(ax, _steps(results), o.test_loss / o.restricted_loss)
    ax.axhline(1, color="gray", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="step", ylabel="test loss / restricted loss",
           title="test / restricted loss" + band_note(o.test_loss.shape[1]))
    return fig


def hidden_fve(results: Results):
    h, names = results.final.hidden_fve, results.irreps  # (N, R, 3)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(len(names))
    for k, lab in enumerate(("ρ(a)", "ρ(b)", "ρ(ab)")):
        ax.bar(x + (k - 1) * 0.27, np.median(h[:, :, k], 0), width=0.27, label=lab)
    ax.set_xticks(x, names, rotation=60, fontsize=7)
    ax.set(ylabel="fraction of hidden variance",
           title="hidden activations explained by ρ(a), ρ(b), ρ(ab) (median over seeds)")
    ax.legend()
    return fig


def key_irrep_frequency(results: Results):
    """How often each irrep is learned (sustained above order_threshold to the end, and key at the
    end), with 95% Wilson intervals; for S5 the paper's 50-seed counts beside, with theirs."""
    names, dims = results.irreps[1:], results.dims[1:]  # the trivial irrep is never learned: nothing to show
    learned = U.learned(results)[:, 1:]
    n = learned.shape[0]
    x = np.arange(len(names))
    est = [stats.proportion(int(k), n) for k in learned.sum(0)]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.bar(x - 0.18, [e.value for e in est], width=0.36, color=_colors(len(names) + 1)[1:], label=f"this run ({n} seeds)")
    ax.errorbar(x - 0.18, [e.value for e in est], yerr=_wilson_bars(est), fmt="none", ecolor="k", capsize=2, lw=0.8)
    if results.group.upper() == "S5":
        ref = [stats.proportion(U.PAPER_S5_COUNTS[nm], U.PAPER_S5_SEEDS) if nm in U.PAPER_S5_COUNTS else None
               for nm in names]
        at = [i for i, e in enumerate(ref) if e is not None]
        ax.errorbar(x[at] + 0.18, [ref[i].value for i in at], yerr=_wilson_bars([ref[i] for i in at]), fmt="s",
                    color="k", ms=4, capsize=2, lw=0.8, label=f"paper ({U.PAPER_S5_SEEDS} seeds)")
    ax.set_xticks(x, [f"{nm}\n(d={d})" for nm, d in zip(names, dims)], rotation=60, fontsize=7)
    ax.set(ylabel="fraction of seeds that learned it", ylim=(0, 1.05),
           title="how often each irrep is learned (bars: 95% Wilson intervals)")
    ax.legend(fontsize=7)
    return fig


def _wilson_bars(est) -> np.ndarray:
    return np.array([[e.value - e.low for e in est], [e.high - e.value for e in est]])


def key_irrep_count(results: Results):
    k = results.final.key.sum(1)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.hist(k, bins=np.arange(0, len(results.irreps) + 1) - 0.5, rwidth=0.8)
    ax.set(xlabel="number of key irreps", ylabel="seeds", title="key irreps per seed")
    return fig


def first_learned(results: Results):
    """How often each irrep was learned first alone, how often several tied for first (learned at
    the same checkpoint: never broken by irrep index), and how often nothing was learned."""
    first = U.first_learned(results)
    names = results.irreps[1:]
    bars = [sum(f == (nm,) for f in first) for nm in names] + [sum(len(f) > 1 for f in first),
                                                                 sum(not f for f in first)]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.bar(np.arange(len(bars)), bars, color=_colors(len(names) + 1)[1:] + ["0.5", "0.8"])
    ax.set_xticks(np.arange(len(bars)), [*names, "tie", "none"], rotation=60, fontsize=7)
    ax.set(ylabel="seeds", title=f"first irrep learned (similarity > {results.order_threshold:g} to the end)")
    return fig


def learning_order(results: Results):
    """For each irrep, how many seeds learned it 1st, 2nd, 3rd, ... (irreps learned at the same
    checkpoint share a place: a tie is never broken), and how many never learned it."""
    names = results.irreps[1:]
    orders = U.learning_order(results)
    places = max([len(o) for o in orders] + [1])
    counts = np.zeros((len(names), places + 1))
    for order in orders:
        seen = set()
        for place, tied in enumerate(order):
            for nm in tied:
                counts[names.index(nm), place] += 1
                seen.add(nm)
        for nm in set(names) - seen:
            counts[names.index(nm), places] += 1
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    bottom = np.zeros(len(names))
    colors = [plt.get_cmap("viridis")(i / max(places - 1, 1)) for i in range(places)] + ["0.85"]
    for place in range(places + 1):
        label = "never" if place == places else f"learned {place + 1}{'st' if place == 0 else 'nd' if place == 1 else 'rd' if place == 2 else 'th'}"
        ax.bar(np.arange(len(names)), counts[:, place], bottom=bottom, color=colors[place], label=label)
        bottom += counts[:, place]
    ax.set_xticks(np.arange(len(names)), names, rotation=60, fontsize=7)
    ax.set(ylabel="seeds", title="order in which irreps are learned (ties share a place)")
    ax.legend(fontsize=6, ncols=2)
    return fig


def neuron_clusters(results: Results):
    f, names = results.final, results.irreps
    n = f.neuron_cluster.shape[0]
    fig, axes = subplots(2, size=(5.5, 3.8))
    counts = np.stack([np.bincount(f.neuron_cluster[i][f.neuron_share[i] >= 0.9], minlength=len(names))
                       for i in range(n)])
    axes[0].bar(np.arange(len(names)), np.median(counts, 0), color=_colors(len(names)))
    axes[0].set_xticks(np.arange(len(names)), names, rotation=60, fontsize=7)
    axes[0].set(ylabel="neurons (median over seeds)", title="neurons by irrep (share >= 0.9)")
    axes[1].hist(f.neuron_share[0], bins=30)
    axes[1].set(xlabel="largest irrep share of a neuron's input weights", ylabel="neurons",
                title="seed 0: neuron purity")
    return fig


def coset_view(results: Results):
    """Seed 0: the left input of up to 4 neurons of each coset irrep, as a function of a, with
    the elements grouped by the neuron's best coset partition (one colour per coset)."""
    f, names, want = results.final, results.irreps, results.coset_irreps or results.irreps[1:2]
    T = U.tables(results.group)
    panels = []
    for name in want:
        r = names.index(name)
        sel = np.nonzero((f.neuron_cluster[0] == r) & (f.neuron_share[0] >= 0.9))[0][:4]
        panels += [(name, j) for j in sel]
    fig, axes = subplots(max(len(panels), 1), size=(4.4, 3.8), layout="constrained")
    if not panels:
        axes[0].text(0.5, 0.5, "no neurons of the coset irreps in seed 0", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    for ax, (name, j) in zip(axes, panels):
        p = f.coset_best[0][j]
        proj = T.partitions[p]
        # coset label = the first element of each coset (rows of the projector with equal support)
        label = np.argmax(proj > 0, axis=1)
        order = np.lexsort((np.arange(len(label)), label))
        x = f.left_input[0][:, j]
        _, coset_idx = np.unique(label[order], return_inverse=True)
        ax.scatter(np.arange(len(x)), x[order], c=coset_idx, cmap="tab10", s=8)
        ax.set(xlabel="element a (grouped by coset)", ylabel="left input",
               title=f"{name} neuron {j}: {T.partition_names[p]}\ncoset FVE {f.coset_fve[0][j]:.2f}")
        ax.title.set_fontsize(8)
    return fig


FIGURES = (loss_curves, logit_similarity, embedding_fve, irrep_losses, weight_norm, restricted_ratio, hidden_fve,
           key_irrep_frequency, key_irrep_count, first_learned, learning_order, neuron_clusters, coset_view)

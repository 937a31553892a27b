"""Figures of the modular-addition grokking experiment (Nanda et al. 2023, Figs 1-7).

Each figure is a function of the analysed run (`analyses.Results`); FIGURES lists them in order.
Curves over training show the median over instances with a min-max band (a single curve for
one seed) and the phase boundaries as dashed verticals; the mechanistic figures use instance 0.
"""

from __future__ import annotations

import math

import numpy as np

from toymodels.algebra.fourier import fourier_basis, n_freqs
from toymodels.grokking.analyses import Results
from toymodels.plotting import band, band_note, heatmap, plt, subplots

KEY_COLOR = "tab:red"
PHASE_STYLE = {  # boundary name -> (label, colour)
    "memorisation_end": ("memorisation ends", "tab:purple"),
    "cleanup_start": ("cleanup starts", "tab:olive"),
    "cleanup_end": ("cleanup ends", "tab:cyan"),
}


def phase_lines(ax, phases, label: bool = False) -> None:
    """Dashed verticals at the phase boundaries. `phases` is one dict {name: step} or a list of
    them (one per instance: the median over instances is drawn). NaN boundaries are skipped; with
    label, a legend entry says when none was detected."""
    if isinstance(phases, dict):
        phases = [phases]
    drawn = False
    for name, (text, color) in PHASE_STYLE.items():
        vals = np.array([ph.get(name, np.nan) for ph in phases], float)
        if np.isfinite(vals).any():
            ax.axvline(np.nanmedian(vals), ls="--", lw=1, color=color, label=text if label else None)
            drawn = True
    if label and not drawn:
        ax.plot([], [], ls="--", lw=1, color="gray", label="no phase boundaries detected")


# ---------------------------------------------------------------------------------------------
# Helpers


def _with_test_pairs(results: Results, y) -> np.ndarray | None:
    """A (T, N) curve of a test-pair quantity, restricted to the instances that have test pairs;
    None when none has (frac_train=1: there is no test loss to draw)."""
    has = np.asarray(results.n_test) > 0
    return np.asarray(y)[:, has] if has.any() else None


def _no_test_note(ax) -> None:
    ax.text(0.5, 0.5, "no test pairs (frac_train=1): no test curve", transform=ax.transAxes, ha="center",
            va="center", fontsize=8, color="gray")


def _keys(results: Results, i: int = 0) -> list[int]:
    return list(results.key_freqs[i])


def _keys_text(keys) -> str:
    return f"key frequencies {', '.join(map(str, keys))}" if keys else "no key frequencies found"


def fourier_ticks(ax, p: int, keys=(), axis: str = "x", every: int | None = None) -> None:
    """Label Fourier-basis positions (const, cos k, sin k) on an axis: all of them for small p,
    else const and cos k for every `every`-th k; cos/sin of the key frequencies in red."""
    names = fourier_basis(p)[1]
    if n_freqs(p) <= 15:  # few enough to label every component
        ticks = {i: "black" for i in range(p)}
    else:
        every = every or math.ceil(n_freqs(p) / 12)
        ticks = {0: "black"} | {2 * k - 1: "black" for k in range(every, n_freqs(p) + 1, every)}
    ticks |= {i: KEY_COLOR for k in keys for i in (2 * k - 1, 2 * k)}
    pos = sorted(ticks)
    (ax.set_xticks if axis == "x" else ax.set_yticks)(pos, [names[i] for i in pos], fontsize=7,
                                                    rotation=90 if axis == "x" else 0)
    for lab, i in zip(ax.get_xticklabels() if axis == "x" else ax.get_yticklabels(), pos):
        lab.set_color(ticks[i])


def _over_training_axes(ax, results, title: str, ylabel: str, log: bool = False, phases=None, label=False):
    phase_lines(ax, results.phases if phases is None else phases, label=label)
    ax.set(title=title, xlabel="step", ylabel=ylabel)
    if log:
        ax.set_yscale("log")


# ---------------------------------------------------------------------------------------------
# Figures


def loss_curves(results: Results):
    """Train/test loss (log) and accuracy over training, from the in-loop metrics."""
    m = results.metrics
    n = m["train_loss"].shape[1]
    fig, (a1, a2) = subplots(2, size=(5.5, 3.8))
    band(a1, m["step"], m["train_loss"], "train loss", "tab:blue")
    band(a2, m["step"], m["train_acc"], "train accuracy", "tab:blue")
    test_loss, test_acc = _with_test_pairs(results, m["test_loss"]), _with_test_pairs(results, m["test_acc"])
    if test_loss is None:
        _no_test_note(a1)
        _no_test_note(a2)
    else:
        band(a1, m["step"], test_loss, "test loss", "tab:orange")
        band(a2, m["step"], test_acc, "test accuracy", "tab:orange")
    _over_training_axes(a1, results, "Cross-entropy loss", "loss (log scale)", log=True, label=True)
    _over_training_axes(a2, results, "Accuracy", "accuracy")
    a1.legend(fontsize=7)
    a2.legend(fontsize=7)
    fig.suptitle(f"(a + b) mod {results.p}: train {results.frac_train:.0%} of pairs{band_note(n)}")
    fig.tight_layout()
    return fig


def fourier_norms(results: Results):
    """Norms of W_E (rows a) and W_L = W_out W_U along each Fourier component, instance 0."""
    p, keys, f = results.p, _keys(results), results.final
    fig, axes = subplots(2, ncols=1, size=(11, 3.0))
    key_idx = {i for k in keys for i in (2 * k - 1, 2 * k)}
    colors = [KEY_COLOR if i in key_idx else "tab:gray" for i in range(p)]
    for ax, arr, what in ((axes[0], f.embed_fourier_norms[0], "Embedding W_E"),
                          (axes[1], f.neuron_logit_fourier_norms[0], "Neuron-logit map W_L = W_out W_U")):
        ax.bar(np.arange(p), arr, color=colors, width=0.8)
        for k in keys:
            i = 2 * k - 1 + int(arr[2 * k] > arr[2 * k - 1])
            ax.annotate(str(k), (i, arr[i]), ha="center", va="bottom", fontsize=7, color=KEY_COLOR)
        fourier_ticks(ax, p, keys)
        ax.margins(y=0.12)
        ax.set(xlim=(-1, p), ylabel="norm", title=f"{what}: norm of each Fourier component (red: {_keys_text(keys)})")
    axes[1].set_xlabel("Fourier component (of a for W_E, of the output c for W_L)")
    fig.tight_layout()
    return fig


def attention(results: Results):
    """Attention from `=` to `a` per head over all (a, b), instance 0."""
    att = results.final.attention_to_a[0]
    fig, axes = subplots(att.shape[0], size=(3.6, 3.2))
    for h, ax in enumerate(axes):
        im = heatmap(ax, att[h], f"head {h}", vmin=0, vmax=1, colorbar=False)
        ax.set(xlabel="b", ylabel="a")
    fig.colorbar(im, ax=list(axes), fraction=0.02, pad=0.02, label="attention weight to a")
    fig.suptitle("Attention from the '=' token to token a (the rest to b and '='), instance 0", y=1.02)
    return fig


def _pick_neurons(f, n: int = 4) -> list[int]:
    """Best-FVE neurons of the largest clusters (round-robin), or the most active if none cluster."""
    cl, fve = f.neuron_cluster[0], f.neuron_fve[0]
    sizes = np.bincount(cl)
    clusters = [c for c in np.argsort(-sizes) if c > 0 and sizes[c] > 0]
    if not clusters:
        return list(np.argsort(-f.mlp_acts[0].var(axis=(0, 1)))[:n])
    members = [list(np.flatnonzero(cl == c)[np.argsort(-fve[cl == c])]) for c in clusters]
    picked = []
    while len(picked) < n and any(members):
        for mem in members:
            if mem and len(picked) < n:
                picked.append(mem.pop(0))
    return picked


def neuron_activations(results: Results):
    """Post-ReLU activations of a few neurons from the largest frequency clusters over (a, b)."""
    f = results.final
    picked = _pick_neurons(f)
    fig, axes = subplots(len(picked), size=(3.6, 3.2))
    for ax, j in zip(axes, picked):
        heatmap(ax, f.mlp_acts[0][:, :, j], f"neuron {j}: freq {f.neuron_freq[0][j]}, FVE {f.neuron_fve[0][j]:.2f}",
                cmap="magma", aspect="equal")
        ax.set(xlabel="b", ylabel="a")
    fig.suptitle("MLP neuron activations at '=' over all inputs (a, b), instance 0", y=1.02)
    fig.tight_layout()
    return fig


def logit_fourier_norms(results: Results):
    """Norm over c of the centred logits' 2D Fourier coefficients (a component x b component)."""
    p, keys = results.p, _keys(results)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    heatmap(ax, results.final.logit_fourier_norms[0], cmap="Blues")
    fourier_ticks(ax, p, keys, "x")
    fourier_ticks(ax, p, keys, "y")
    ax.set(xlabel="Fourier component of b", ylabel="Fourier component of a",
           title=f"Logits in the 2D Fourier basis: norm over outputs c, instance 0\n(red ticks: {_keys_text(keys)})")
    return fig


def neuron_fve_histogram(results: Results, threshold: float = 0.85):
    """Histogram of each neuron's variance explained by its best frequency, all instances pooled."""
    fve = results.final.neuron_fve.ravel()
    n = results.final.neuron_fve.shape[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(fve, bins=np.linspace(0, 1, 41), color="tab:blue")
    ax.axvline(threshold, ls="--", color=KEY_COLOR, label=f"threshold {threshold}: {np.mean(fve >= threshold):.0%} of neurons above")
    ax.set(yscale="log", xlabel="fraction of the neuron's variance explained by its frequency",
           ylabel="number of neurons (log scale)",
           title=f"Neurons are well explained by one frequency ({fve.size} neurons, {n} instance{'s' * (n > 1)})")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def cluster_neuron_logit_map(results: Results):
    """W_L rows of the neurons in the largest frequency cluster, in the Fourier basis (instance 0)."""
    p, f = results.p, results.final
    cl = f.neuron_cluster[0]
    sizes = np.bincount(cl, minlength=n_freqs(p) + 1)
    sizes[0] = 0
    if sizes.max() > 0:
        k = int(sizes.argmax())
        neurons, what = np.flatnonzero(cl == k), f"the frequency-{k} cluster"
    else:  # nothing passes the FVE threshold: fall back to the most common best frequency
        k = int(np.bincount(f.neuron_freq[0]).argmax())
        neurons, what = np.flatnonzero(f.neuron_freq[0] == k), f"neurons whose best frequency is {k} (none passes FVE 0.85)"
    F, _ = fourier_basis(p)
    W_L = f.neuron_logit_map[0] @ np.asarray(F).T  # (d_mlp, p)
    fig, ax = plt.subplots(figsize=(10, min(8, 2 + 0.12 * len(neurons))))
    heatmap(ax, W_L[neurons], cmap="RdBu_r", symmetric=True)
    fourier_ticks(ax, p, [k])
    ax.set(xlabel="Fourier component of the output logit c", ylabel=f"neuron index ({len(neurons)} neurons)",
           title=f"Neuron-logit map W_L of {what}, in the Fourier basis, instance 0"
                 f"\n(it should be non-zero only at cos {k} and sin {k})")
    step = max(1, len(neurons) // 15)
    ax.set_yticks(range(0, len(neurons), step), neurons[::step], fontsize=7)
    return fig


def progress_measures(results: Results):
    """Excluded/restricted loss, test/restricted ratio, weights and Gini over checkpoints."""
    s, o = results.checkpoint_steps, results.over_training
    n = o.test_loss.shape[1]
    fig, axes = subplots(6, ncols=3, size=(5, 3.6))
    ref = {"lw": 1, "alpha": 0.8}
    test_loss = _with_test_pairs(results, o.test_loss)
    band(axes[0], s, o.excluded_loss, "excluded loss (train pairs)", "tab:red")
    band(axes[0], s, o.train_loss, "train loss", "tab:blue", **ref)
    _over_training_axes(axes[0], results, "Excluded loss: key frequencies removed", "loss (log scale)", log=True)
    band(axes[1], s, o.restricted_loss, "restricted loss (all pairs)", "tab:green")
    _over_training_axes(axes[1], results, "Restricted loss: only key frequencies kept", "loss (log scale)", log=True)
    if test_loss is None:
        _no_test_note(axes[2])
    else:
        band(axes[0], s, test_loss, "test loss", "tab:orange", **ref)
        band(axes[1], s, test_loss, "test loss", "tab:orange", **ref)
        band(axes[2], s, test_loss / _with_test_pairs(results, o.restricted_loss), "test / restricted loss", "tab:purple")
        axes[2].axhline(1, color="gray", lw=0.8)
    _over_training_axes(axes[2], results, "Test loss / restricted loss", "ratio (log scale)", log=True)
    band(axes[3], s, o.sum_squared_weights, "sum of squared weights", "black")
    _over_training_axes(axes[3], results, "Total sum of squared weights", "sum of squares", label=True)
    band(axes[4], s, o.gini_embed, "W_E", "tab:blue")
    band(axes[4], s, o.gini_neuron_logit, "W_L", "tab:orange")
    _over_training_axes(axes[4], results, "Gini of Fourier-component norms", "Gini coefficient")
    band(axes[5], s, o.key_logit_fve, "key cos(w(a+b-c)) terms", "tab:green")
    band(axes[5], s, o.restricted_accuracy, "restricted accuracy", "tab:gray", **ref)
    _over_training_axes(axes[5], results, "Logit variance explained by key terms", "fraction")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    keys = "; ".join(", ".join(map(str, k)) or "none" for k in results.key_freqs)
    fig.suptitle(f"Progress measures over training{band_note(n)}; key frequencies {'per seed ' * (n > 1)}{keys}")
    fig.tight_layout()
    return fig


def excluded_loss_per_frequency(results: Results):
    """Train loss after removing each key frequency alone, over training (instance 0)."""
    s, o, keys = results.checkpoint_steps, results.over_training, _keys(results)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.get_cmap("tab10")
    for j, k in enumerate(keys):
        ax.plot(s, o.excluded_loss_per_frequency[:, 0, k - 1], color=colors(j % 10), label=f"frequency {k} removed")
    ax.plot(s, o.excluded_loss[:, 0], "k:", label="all key frequencies removed")
    ax.plot(s, o.train_loss[:, 0], color="black", label="train loss")
    _over_training_axes(ax, results, "Excluded loss per key frequency (train pairs), instance 0",
                        "loss (log scale)", log=True, phases=results.phases[0], label=True)
    ax.legend(fontsize=7)
    return fig


def cos_coefficients(results: Results):
    """Coefficient of the unit-norm cos(w(a+b-c)) in the logits per frequency over training."""
    s, c, keys = results.checkpoint_steps, results.over_training.cos_coefficients[:, 0], _keys(results)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    others = [k for k in range(1, c.shape[1] + 1) if k not in keys]
    for j, k in enumerate(others):
        ax.plot(s, c[:, k - 1], color="lightgray", lw=0.8, label=None if j else "other frequencies")
    colors = plt.get_cmap("tab10")
    for j, k in enumerate(keys):
        ax.plot(s, c[:, k - 1], color=colors(j % 10), lw=1.8, label=f"frequency {k}")
    _over_training_axes(ax, results, "Coefficients of cos(w(a+b-c)) in the logits, instance 0",
                        "coefficient (logit norm along the term)", phases=results.phases[0], label=True)
    ax.legend(fontsize=7)
    return fig


FIGURES = (loss_curves, fourier_norms, attention, neuron_activations, logit_fourier_norms, neuron_fve_histogram,
           cluster_neuron_logit_map, progress_measures, excluded_loss_per_frequency, cos_coefficients)

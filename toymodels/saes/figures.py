"""The SAE figures, each a function of the Results (`toymodels.plotting.write_figures` saves them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from toymodels.saes.analyses import Results, Score
from toymodels.saes.config import OWN_SETTING

COLOURS = {"relu": "tab:blue", "topk": "tab:orange", "jumprelu": "tab:green"}


def _variants(results: Results) -> list[str]:
    return [v for v in COLOURS if any(s.variant == v for s in results.scores)]


def _sizes(results: Results) -> list[int]:
    return sorted({s.dict_size for s in results.scores})


def _median_curve(scores: list[Score], x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Median over seeds of (x, y) per setting, ordered by x."""
    settings = sorted({s.setting for s in scores})
    pts = [(np.median([getattr(s, x) for s in scores if s.setting == v]),
            np.median([getattr(s, y) for s in scores if s.setting == v])) for v in settings]
    pts.sort()
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def pareto(results: Results):
    """L0 against FVU, a panel per dictionary size: every SAE a dot, each variant's seed-median
    front a line; lower-left is better."""
    sizes = _sizes(results)
    fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.6), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], sizes):
        for v in _variants(results):
            sc = [s for s in results.scores if s.variant == v and s.dict_size == m]
            ax.scatter([s.l0 for s in sc], [s.fvu for s in sc], s=14, alpha=0.5, color=COLOURS[v])
            ax.plot(*_median_curve(sc, "l0", "fvu"), "-o", ms=3, color=COLOURS[v], label=v)
        ax.set(xscale="log", xlabel="L0 (active latents per input)", title=f"dictionary {m}")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("FVU")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"reconstruction against sparsity ({len(results.truth)} true features)")
    fig.tight_layout()
    return fig


def mmcs_heatmap(results: Results):
    """Median MMCS (true -> decoder) over seeds, dictionary size x sparsity setting, per variant."""
    variants = _variants(results)
    sizes = _sizes(results)
    fig, axes = plt.subplots(1, len(variants), figsize=(4.2 * len(variants), 3.4), squeeze=False)
    for ax, v in zip(axes[0], variants):
        settings = sorted({s.setting for s in results.scores if s.variant == v})
        grid = np.full((len(sizes), len(settings)), np.nan)
        for i, m in enumerate(sizes):
            for j, c in enumerate(settings):
                vals = [s.mmcs for s in results.scores if (s.variant, s.dict_size, s.setting) == (v, m, c)]
                grid[i, j] = np.median(vals) if vals else np.nan
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto", origin="lower")
        for (i, j), val in np.ndenumerate(grid):
            if np.isfinite(val):
                ax.text(j, i, f"{val:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if val > 0.6 else "white")
        ax.set(xticks=range(len(settings)), xticklabels=[f"{c:g}" for c in settings], yticks=range(len(sizes)),
               yticklabels=sizes, xlabel=OWN_SETTING[v], ylabel="dictionary size", title=v)
    fig.colorbar(im, ax=axes[0].tolist(), label="MMCS (true features -> latents)")
    fig.suptitle(f"feature recovery ({len(results.truth)} true features)")
    return fig


def recovered_directions(results: Results):
    """The true features (black) and the live latents' directions (colour) of each variant's
    best-MMCS SAE. Exact for a 2-D source (the TMS intro model); otherwise projected on the
    plane of the truth's top two principal directions."""
    variants = _variants(results)
    truth = results.truth
    d = truth.shape[1]
    plane = np.eye(d)[:2] if d == 2 else np.linalg.svd(truth, full_matrices=False)[2][:2]
    fig, axes = plt.subplots(1, len(variants), figsize=(3.6 * len(variants), 3.6), squeeze=False)
    for ax, v in zip(axes[0], variants):
        i = max((i for i, s in enumerate(results.scores) if s.variant == v), key=lambda i: results.scores[i].mmcs)
        s = results.scores[i]
        for f in truth @ plane.T:
            ax.plot([0, f[0]], [0, f[1]], color="black", lw=2.5, alpha=0.6)
        for w in results.decoders[i][results.alive[i]] @ plane.T:
            ax.plot([0, w[0]], [0, w[1]], color=COLOURS[v], lw=1.2, ls="--")
            ax.plot(*w, "o", color=COLOURS[v], ms=3)
        ax.set(xlim=(-1.15, 1.15), ylim=(-1.15, 1.15), aspect="equal", xticks=[], yticks=[],
               title=f"{v}, {s.dict_size} latents, {OWN_SETTING[v]}={s.setting:g}\nMMCS {s.mmcs:.3f}, seed {s.seed}")
    where = "the source's 2-D space" if d == 2 else f"projected from {d}-D onto the truth's top 2 principal directions"
    fig.suptitle(f"true features (black) and SAE latents (dashed), {where}", fontsize=9)
    fig.tight_layout()
    return fig


def dead_latents(results: Results):
    """The share of each SAE's latents that never fire on the evaluation batch, against its
    sparsity penalty (ReLU's L1 coefficient, JumpReLU's L0 coefficient), a line per dictionary size."""
    penalised = [v for v in ("relu", "jumprelu") if v in _variants(results)] or ["relu"]
    fig, axes = plt.subplots(1, len(penalised), figsize=(4.4 * len(penalised), 3.4), squeeze=False)
    for ax, v in zip(axes[0], penalised):
        for m in _sizes(results):
            sc = [s for s in results.scores if s.variant == v and s.dict_size == m]
            if sc:
                ax.scatter([s.setting for s in sc], [s.dead for s in sc], s=12, alpha=0.5)
                ax.plot(*_median_curve(sc, "setting", "dead"), "-", label=f"dictionary {m}")
        ax.set(xscale="log", ylim=(-0.03, 1.03), xlabel=OWN_SETTING[v], ylabel="dead latents (share)", title=v)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def dictionary_growth(results: Results):
    """As the dictionary grows: the share of latents that merge features, the share of recovered
    features split over several latents, and (hierarchical sources) absorption, per variant at
    its best-MMCS setting."""
    measures = ["merged", "split"] + (["absorption"] if results.config.structure == "hierarchical" else [])
    fig, axes = plt.subplots(1, len(measures), figsize=(3.8 * len(measures), 3.3), squeeze=False)
    sizes = _sizes(results)
    for v in _variants(results):
        sc = [s for s in results.scores if s.variant == v]
        best = max(sc, key=lambda s: s.mmcs).setting
        for ax, key in zip(axes[0], measures):
            ys = [np.median([getattr(s, key) for s in sc if s.dict_size == m and s.setting == best] or [np.nan])
                  for m in sizes]
            ax.plot(sizes, ys, "-o", color=COLOURS[v], label=f"{v} ({OWN_SETTING[v]}={best:g})")
    for ax, key in zip(axes[0], measures):
        ax.axvline(len(results.truth), color="grey", ls=":", lw=1)
        ax.set(xscale="log", xlabel="dictionary size (dotted: true features)", ylabel=key, ylim=(-0.05, 1.05))
        ax.set_xticks(sizes, [str(m) for m in sizes])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig

"""Plotting pieces shared by every toy: writing a toy's figures (PNG + PDF), median-and-band
curves over instances, heatmaps. Uses matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from toymodels.store import atomic_write_bytes  # noqa: E402

DPI = 150


def write_figures(figures: Sequence[Callable[[Any], Any]], results: Any, out_dir: str | Path,
                  only: str | None = None, caption: str = "") -> list[Path]:
    """Draw each figure function on the toy's results (or only the one named `only`) and save it
    as <out_dir>/<function name>.png and .pdf, `caption` (a cell's hyperparameters) written
    under it; return the paths written."""
    paths = []
    for fn in figures:
        if only in (None, fn.__name__):
            fig = fn(results)
            if caption:
                fig.text(0.5, 0.0, caption, ha="center", va="top", fontsize=9, color="0.3")
            paths += save(fig, out_dir, fn.__name__)
    return paths


def save(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Write `fig` as <out_dir>/<name>.png (DPI) and .pdf, close it, return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    try:
        for path in paths:  # whole files only, renamed into place: a kill never leaves half a figure
            buf = io.BytesIO()
            fig.savefig(buf, format=path.suffix[1:], dpi=DPI, bbox_inches="tight")
            atomic_write_bytes(path, buf.getvalue())
    finally:
        plt.close(fig)
    return paths


def subplots(n: int, ncols: int | None = None, size: tuple[float, float] = (4.2, 3.4), **kw):
    """A grid of at least n axes (flattened array; unused ones hidden)."""
    ncols = ncols or min(n, 4)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kw)
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def band(ax, x, y, label: str | None = None, color=None, spread: str = "minmax", **kw):
    """Plot y (T,) or (T, N) against x: one curve for N = 1, else the median over instances and a
    shaded band (spread "minmax" or "iqr"). Non-finite values are ignored."""
    y = np.asarray(y, float)
    if y.ndim == 1 or y.shape[1] == 1:
        return ax.plot(x, y.reshape(len(x), -1)[:, 0], label=label, color=color, **kw)[0]
    with np.errstate(all="ignore"):
        y = np.where(np.isfinite(y), y, np.nan)
        lo, hi = (np.nanmin(y, 1), np.nanmax(y, 1)) if spread == "minmax" else np.nanpercentile(y, [25, 75], axis=1)
        line = ax.plot(x, np.nanmedian(y, 1), label=label, color=color, **kw)[0]
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def band_note(n: int, spread: str = "minmax") -> str:
    """Title suffix saying what the band shows ('' for a single instance)."""
    return "" if n <= 1 else f" (median of {n} seeds, band: {'min–max' if spread == 'minmax' else 'IQR'})"


def heatmap(ax, z, title: str = "", cmap: str = "viridis", symmetric: bool = False, colorbar: bool = True, **kw):
    """imshow of a 2D array with origin at the top-left (row index down), optional colour bar;
    symmetric centres a diverging colour map on 0."""
    if symmetric:
        m = float(np.nanmax(np.abs(z))) or 1.0
        kw.setdefault("vmin", -m)
        kw.setdefault("vmax", m)
    kw.setdefault("aspect", "auto")
    im = ax.imshow(z, cmap=cmap, interpolation="nearest", **kw)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    return im


def sweep_figure(rows: list[dict], keys: list[str], column: str, label: str,
                 references: dict[str, tuple[str, dict]] | None = None):
    """An outcome (`column` of the per-instance table) against the swept hyperparameters, seeds
    as the spread; diverged instances and those that never reached the outcome (NaN) are counted,
    never plotted. 1 key: each seed a dot, the median a line, the band min–max, published values
    (`references[key]` = (label, {x: y})) dashed beside it. 2+ keys: heatmaps of the median over
    the first two keys, one panel per value of the others; each square says how many seeds reached it."""
    kept = [r for r in rows if not r.get("diverged")]

    def outcomes(match: dict) -> tuple[np.ndarray, int, int]:
        sel = [r for r in rows if all(r[k] == v for k, v in match.items())]
        vals = np.array([np.nan if r.get(column) is None or r.get("diverged") else float(r[column]) for r in sel])
        return vals[np.isfinite(vals)], len(sel), sum(bool(r.get("diverged")) for r in sel)

    values = {k: sorted({r[k] for r in rows}) for k in keys}
    if len(keys) == 1:
        (key,) = keys
        fig, ax = plt.subplots(figsize=(5.6, 3.8))
        xs, med, lo, hi = [], [], [], []
        for x in values[key]:
            got, n, gone = outcomes({key: x})
            ax.scatter([x] * len(got), got, s=12, color="0.55", zorder=3)
            if len(got):
                xs.append(x), med.append(np.median(got)), lo.append(got.min()), hi.append(got.max())
            if len(got) < n:
                ax.annotate(f"{len(got)}/{n}" + (f"\n{gone} div." if gone else ""), (x, 0.02),
                            xycoords=("data", "axes fraction"), ha="center", fontsize=7, color="C3",
                            annotation_clip=False)
        line = ax.plot(xs, med, "o-", color="C0", label="median of seeds (band min–max, dots: seeds)")[0]
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        ref_y = []
        for ref_label, points in ([references[key]] if references and key in references else []):
            px = [x for x in sorted(points) if min(values[key]) <= x <= max(values[key])]  # within the sweep
            ref_y += [points[x] for x in px]
            ax.plot(px, [points[x] for x in px], "s--", color="k", ms=4, label=ref_label)
        positive = [v for v in (*med, *lo, *hi, *ref_y) if v > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_yscale("log")
        xv = np.asarray(values[key], float)
        if xv.min() > 0 and xv.max() / xv.min() > 20:
            ax.set_xscale("log")
            ax.set_xlim(xv.min() / 2, xv.max() * 2)
        else:
            pad = 0.08 * ((xv.max() - xv.min()) or 1.0)
            ax.set_xlim(xv.min() - pad, xv.max() + pad)
        ax.set_xlabel(key)
        ax.set_ylabel(label)
        ax.set_title(f"{label} against {key}" + ("" if len(kept) == len(rows) else f" ({len(rows) - len(kept)} diverged)"),
                     fontsize=9)
        ax.legend(fontsize=7)
        return fig
    k1, k2, rest = keys[0], keys[1], keys[2:]
    panels = list(itertools.product(*[values[k] for k in rest]))
    fig, axes = subplots(len(panels), size=(4.6, 3.8))
    for ax, combo in zip(axes, panels):
        fixed = dict(zip(rest, combo))
        z = np.full((len(values[k1]), len(values[k2])), np.nan)
        for a, x in enumerate(values[k1]):
            for b, y in enumerate(values[k2]):
                got, n, gone = outcomes({**fixed, k1: x, k2: y})
                if len(got):
                    z[a, b] = np.median(got)
                ax.text(b, a, (f"{z[a, b]:.3g}" if len(got) else "none") + f"\n{len(got)}/{n}"
                        + (f", {gone} div." if gone else ""), ha="center", va="center", fontsize=7, color="k",
                        bbox={"facecolor": "w", "alpha": 0.7, "linewidth": 0})  # readable on any colour, and on NaN's blank
        heatmap(ax, z, title=", ".join(f"{k}={v}" for k, v in fixed.items()) or f"median {label}")
        ax.set_xticks(range(len(values[k2])), [str(v) for v in values[k2]])
        ax.set_yticks(range(len(values[k1])), [str(v) for v in values[k1]])
        ax.set_xlabel(k2)
        ax.set_ylabel(k1)
    fig.suptitle(f"{label}: median over seeds (text: median, seeds that reached it / seeds)", fontsize=9)
    return fig

"""Plotting pieces shared by every toy: writing a toy's figures (PNG + PDF), median-and-band
curves over instances, heatmaps. Uses matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import io
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
                  only: str | None = None) -> list[Path]:
    """Draw each figure function on the toy's results (or only the one named `only`) and save it
    as <out_dir>/<function name>.png and .pdf; return the paths written."""
    paths = []
    for fn in figures:
        if only in (None, fn.__name__):
            paths += save(fn(results), out_dir, fn.__name__)
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

"""Plotting pieces shared by every experiment: saving PNG + PDF, median-and-band curves over
instances, phase lines, heatmaps. Uses matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 150
PHASE_STYLE = {  # boundary name -> (label, colour)
    "memorisation_end": ("memorisation ends", "tab:purple"),
    "cleanup_start": ("cleanup starts", "tab:olive"),
    "cleanup_end": ("cleanup ends", "tab:cyan"),
}


def save(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Write `fig` as <out_dir>/<name>.png (DPI) and .pdf, close it, return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
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

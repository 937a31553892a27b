"""Analyses of superposition (Elhage et al. 2022): pure jnp functions of ONE model's weight matrix
W (m hidden dimensions, n features; column W_i is feature i's direction), vmappable over models.

Definitions chosen:
    feature norm              ||W_i||
    interference              Ŵ_i · W_j, with Ŵ_i = W_i / ||W_i|| (0 for a zero column)
    polysemanticity           sqrt(sum_{j != i} (Ŵ_i · W_j)^2)
    dimensions per feature    D* = m / ||W||_F^2
    feature dimensionality    D_i = ||W_i||^2 / sum_j (Ŵ_i · W_j)^2 (j includes i; 0 for a zero column)
    represented               ||W_i|| >= REPRESENTED (0.5)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

STICKY_FRACTIONS = (1.0, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8)
STICKY_NAMES = ("dedicated", "tetrahedron", "triangle", "antipodal pair", "pentagon", "square antiprism")
REPRESENTED = 0.5
NOT_REPRESENTED, DEDICATED, SUPERPOSITION = 0, 1, 2
PHASE_NAMES = ("not represented", "dedicated dimension", "superposition")
_EPS = 1e-12


def feature_norms(W: jax.Array) -> jax.Array:
    """||W_i|| for each feature: (n,)."""
    return jnp.sqrt(jnp.sum(W**2, axis=0))


def unit_directions(W: jax.Array) -> jax.Array:
    """Ŵ: columns scaled to unit length (zero columns stay zero)."""
    norms = feature_norms(W)
    return W / jnp.where(norms > _EPS, norms, 1.0)


def interference(W: jax.Array) -> jax.Array:
    """(n, n) matrix Ŵ_i · W_j (row i, column j); the diagonal is ||W_i||."""
    return unit_directions(W).T @ W


def polysemanticity(W: jax.Array) -> jax.Array:
    """sqrt(sum_{j != i} (Ŵ_i · W_j)^2): how much other features project onto feature i's direction."""
    I = interference(W)
    off = I * (1.0 - jnp.eye(W.shape[1]))
    return jnp.sqrt(jnp.sum(off**2, axis=1))


def dimensions_per_feature(W: jax.Array) -> jax.Array:
    """D* = m / ||W||_F^2."""
    return W.shape[0] / jnp.sum(W**2)


def feature_dimensionality(W: jax.Array) -> jax.Array:
    """D_i = ||W_i||^2 / sum_j (Ŵ_i · W_j)^2: the share of a dimension feature i gets (n,)."""
    I = interference(W)
    num = jnp.sum(W**2, axis=0)
    den = jnp.sum(I**2, axis=1)
    return jnp.where(den > _EPS, num / jnp.where(den > _EPS, den, 1.0), 0.0)


def represented(W: jax.Array, threshold: float = REPRESENTED) -> jax.Array:
    return feature_norms(W) >= threshold


# ---------------------------------------------------------------------------------------------
# Sticky fractions: do the D_i of many features form lines?


def sticky_lines(D: jax.Array, mask: jax.Array, fractions=STICKY_FRACTIONS, width: float = 0.02,
                 flank: float = 0.06) -> dict:
    """For each fraction f: `count` of masked D values within `width` of f, and `concentration`:
    that count's density (per unit of D) over the density in the flanks width < |D - f| <= flank,
    where the flanks leave out the windows of the other fractions (2/5 and 3/8 are only 0.025
    apart: a line at 3/8 must not count as the background of 2/5). A line (a cluster of features
    at exactly f) has a concentration far above 1, a smooth spread about 1. The flank count is
    floored at one feature so an empty flank gives a finite ratio."""
    D = jnp.ravel(D)
    mask = jnp.ravel(mask)
    fr = np.asarray(fractions, np.float64)
    dist = jnp.abs(D[None, :] - jnp.asarray(fr, D.dtype)[:, None])
    in_window = dist <= width                                   # (F, n)
    inside = jnp.sum(in_window & mask[None, :], axis=1)
    others = [jnp.any(in_window[np.delete(np.arange(len(fr)), i)], axis=0) for i in range(len(fr))]
    in_flank = (dist > width) & (dist <= flank) & ~jnp.stack(others)
    flanks = jnp.sum(in_flank & mask[None, :], axis=1)
    flank_width = jnp.asarray([_flank_width(fr, i, width, flank) for i in range(len(fr))], D.dtype)
    ratio = (inside / (2 * width)) / (jnp.maximum(flanks, 1) / flank_width)
    near_any = jnp.sum(jnp.any(in_window, axis=0) & mask)
    return {"count": inside, "flank_count": flanks, "concentration": ratio,
            "share_near_any": near_any / jnp.maximum(jnp.sum(mask), 1)}


def _flank_width(fr: np.ndarray, i: int, width: float, flank: float, grid: int = 20001) -> float:
    """Length of fraction i's flanks once the other fractions' windows are taken out (numeric)."""
    x = np.linspace(fr[i] - flank, fr[i] + flank, grid)
    d = np.abs(x - fr[i])
    keep = (d > width) & np.all(np.abs(x[:, None] - np.delete(fr, i)[None, :]) > width, axis=1)
    return float(keep.mean() * 2 * flank)


# ---------------------------------------------------------------------------------------------
# Geometry of a 2-D hidden space


def angles_2d(W: jax.Array) -> jax.Array:
    """Angle of each feature's direction in a 2-D hidden space, radians in [0, 2 pi) (n,)."""
    return jnp.mod(jnp.arctan2(W[1], W[0]), 2 * jnp.pi)


def polygon_2d(W: jax.Array, threshold: float = REPRESENTED, tol_deg: float = 10.0) -> dict:
    """Which regular polygon the represented features of a 2-D model form.

    Returns n_represented, the sorted angular gaps between neighbouring represented features
    (degrees; entries beyond n_represented are 0), the largest deviation of a gap from 360/k,
    and `sides`: k when k >= 2 features are spread evenly (every gap within tol_deg of 360/k:
    2 = antipodal pair, 5 = pentagon), else 0."""
    n = W.shape[1]
    rep = represented(W, threshold)
    k = jnp.sum(rep)
    a = jnp.sort(jnp.where(rep, angles_2d(W), jnp.inf))
    idx = jnp.arange(n)
    nxt = jnp.where(idx + 1 < k, a[jnp.minimum(idx + 1, n - 1)], a[0] + 2 * jnp.pi)
    gaps = jnp.where(idx < k, jnp.degrees(nxt - a), 0.0)
    gaps = jnp.where(jnp.isfinite(gaps), gaps, 0.0)
    ideal = 360.0 / jnp.maximum(k, 1)
    dev = jnp.max(jnp.where(idx < k, jnp.abs(gaps - ideal), 0.0))
    sides = jnp.where((k >= 2) & (dev <= tol_deg), k, 0)
    return {"n_represented": k, "gaps_deg": gaps, "max_gap_deviation_deg": dev, "sides": sides}


# ---------------------------------------------------------------------------------------------
# Phase of a feature (for the phase diagrams)


def feature_phase(W: jax.Array, i: int = -1, threshold: float = REPRESENTED, superposed: float = 0.3) -> jax.Array:
    """Phase of feature i: NOT_REPRESENTED (||W_i|| < threshold), DEDICATED (represented, with
    polysemanticity < `superposed`, i.e. no other feature shares its direction) or SUPERPOSITION."""
    norm = feature_norms(W)[i]
    poly = polysemanticity(W)[i]
    return jnp.where(norm < threshold, NOT_REPRESENTED, jnp.where(poly < superposed, DEDICATED, SUPERPOSITION))


def analytic_phase_n2m1(r, s):
    """The paper's analytic phase of the second feature for n=2, m=1 (relative importance r of the
    second feature, density s of both; REFERENCE section 2): superposition iff s < 4r/(2+5r)
    (r <= 1) or s < 4/(5+2r) (r >= 1); otherwise the more important feature gets the dimension:
    the second is not represented for r < 1, dedicated for r > 1."""
    r = jnp.asarray(r)
    s = jnp.asarray(s)
    boundary = analytic_boundary_n2m1(r)
    return jnp.where(s < boundary, SUPERPOSITION, jnp.where(r < 1, NOT_REPRESENTED, DEDICATED))


def analytic_boundary_n2m1(r):
    """Density below which n=2, m=1 superposes, as a function of relative importance r."""
    r = jnp.asarray(r)
    return jnp.where(r <= 1, 4 * r / (2 + 5 * r), 4 / (5 + 2 * r))


# ---------------------------------------------------------------------------------------------
# Neurons (privileged basis: hidden_relu and absolute_value models)


def neuron_feature_weights(W: jax.Array) -> jax.Array:
    """(m, n): how strongly neuron j reads feature i, W_ji (rows are neurons)."""
    return W


def neuron_feature_counts(W: jax.Array, rel: float = 0.5, floor: float = 0.1) -> jax.Array:
    """Features each neuron serves: those it reads at least `rel` times as strongly as its main
    feature, |W_ji| >= max(rel * max_i |W_ji|, floor). (m,); 1 = monosemantic."""
    a = jnp.abs(W)
    return jnp.sum(a >= jnp.maximum(rel * jnp.max(a, axis=1, keepdims=True), floor), axis=1)


def antipodal_neuron_pairs(W: jax.Array, cos_max: float = -0.9, floor: float = 0.1) -> dict:
    """Neurons whose input weights are (nearly) opposite: for each neuron j (with ||W_j|| >= floor)
    the most negative cosine to another neuron and its partner; `n_pairs` counts mutual partners
    with cosine <= cos_max (each pair once). |x| = ReLU(x) + ReLU(-x) is such a pair."""
    norms = jnp.sqrt(jnp.sum(W**2, axis=1))
    live = norms >= floor
    U = W / jnp.where(live, norms, 1.0)[:, None]
    cos = U @ U.T
    m = W.shape[0]
    valid = live[:, None] & live[None, :] & ~jnp.eye(m, dtype=bool)
    cos = jnp.where(valid, cos, jnp.inf)
    partner = jnp.argmin(cos, axis=1)
    best = jnp.min(cos, axis=1)
    mutual = (partner[partner] == jnp.arange(m)) & (best <= cos_max)
    return {"partner": partner, "cosine": jnp.where(jnp.isfinite(best), best, 0.0),
            "n_pairs": jnp.sum(mutual) // 2}


# ---------------------------------------------------------------------------------------------
# Everything for one model, vmappable


def summary(W: jax.Array) -> dict:
    """Per-model analyses used by the figures and claims."""
    return {"norms": feature_norms(W), "polysemanticity": polysemanticity(W),
            "dimensionality": feature_dimensionality(W), "d_star": dimensions_per_feature(W),
            "n_represented": jnp.sum(represented(W))}


def stack_summary(W: np.ndarray) -> dict:
    """`summary` over any leading axes of W (..., m, n), as numpy."""
    lead = W.shape[:-2]
    flat = jnp.asarray(W).reshape(-1, *W.shape[-2:])
    out = jax.jit(jax.vmap(summary))(flat)
    return {k: np.asarray(v).reshape(*lead, *v.shape[1:]) for k, v in out.items()}

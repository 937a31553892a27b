"""Analyses of superposition (Elhage et al. 2022): pure jnp functions of ONE model's weight matrix
W (m hidden dimensions, n features; column W_i is feature i's direction), vmappable over models,
and `analyse(run)`, which applies them to every model of a run and gathers the `Results` that
claims and figures read.

Definitions chosen:
    feature norm              ||W_i||
    interference              Ŵ_i · W_j, with Ŵ_i = W_i / ||W_i|| (0 for a zero column)
    polysemanticity           sqrt(sum_{j != i} (Ŵ_i · W_j)^2)
    dimensions per feature    D* = m / ||W||_F^2
    feature dimensionality    D_i = ||W_i||^2 / sum_j (Ŵ_i · W_j)^2 (j includes i; 0 for a zero column)
    represented               ||W_i|| >= REPRESENTED (0.5)
    cosine                    Ŵ_i · Ŵ_j (0 with a zero column)
    within-set cosine         mean cosine between the features of one correlated / anti-correlated set
    principal-component share the share of ||W||_F^2 along the sets' principal components, the sums of
                              each set's features: 1 when every set is collapsed onto one direction,
                              1/k for orthogonal features in sets of k, 0 for opposite ones
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.store import Run
from toymodels.superposition import model as sp
from toymodels.superposition.config import Config

STICKY_FRACTIONS = (1.0, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8)
STICKY_NAMES = ("dedicated", "tetrahedron", "triangle", "antipodal pair", "pentagon", "square antiprism")
REPRESENTED = 0.5
NOT_REPRESENTED, DEDICATED, SUPERPOSITION = 0, 1, 2
PHASE_NAMES = ("not represented", "dedicated dimension", "superposition")
EVAL_BATCH = 4096
SET_EVAL_BATCH = 65536  # the correlated-feature sweeps reach p = 0.002: ~400 active sets in a batch this size
EVAL_SEED = 12345
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


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class StickyLines:
    """Per sticky fraction (last axis F): masked features in its window, in its flanks, and the
    window's density over the flanks'; share_near_any: masked features in any window."""

    count: jax.Array
    flank_count: jax.Array
    concentration: jax.Array
    share_near_any: jax.Array


def sticky_lines(D: jax.Array, mask: jax.Array, fractions=STICKY_FRACTIONS, width: float = 0.02,
                 flank: float = 0.06, leave_out_others: bool = False) -> StickyLines:
    """For each fraction f: `count` of masked D values within `width` of f, and `concentration`:
    that count's density (per unit of D) over the density in the flanks width < |D - f| <= flank.
    A line (a cluster of features at exactly f) has a concentration far above 1, a smooth spread
    about 1. The flank count is floored at one feature so an empty flank gives a finite ratio.

    leave_out_others: the flanks leave out the windows of the other fractions (2/5 and 3/8 are
    only 0.025 apart, so a line at 3/8 lies in the flank of 2/5). Off by default: the
    sticky_lines claim was set with plain flanks, before any run (see its recipe)."""
    D = jnp.ravel(D)
    mask = jnp.ravel(mask)
    fr = np.asarray(fractions, np.float64)
    dist = jnp.abs(D[None, :] - jnp.asarray(fr, D.dtype)[:, None])
    in_window = dist <= width                                   # (F, n)
    inside = jnp.sum(in_window & mask[None, :], axis=1)
    in_flank = (dist > width) & (dist <= flank)
    if leave_out_others:
        others = [jnp.any(in_window[np.delete(np.arange(len(fr)), i)], axis=0) for i in range(len(fr))]
        in_flank = in_flank & ~jnp.stack(others)
        widths = [_flank_width(fr, i, width, flank) for i in range(len(fr))]
    else:
        widths = [2 * (flank - width)] * len(fr)
    flanks = jnp.sum(in_flank & mask[None, :], axis=1)
    ratio = (inside / (2 * width)) / (jnp.maximum(flanks, 1) / jnp.asarray(widths, D.dtype))
    near_any = jnp.sum(jnp.any(in_window, axis=0) & mask)
    return StickyLines(inside, flanks, ratio, near_any / jnp.maximum(jnp.sum(mask), 1))


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


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Polygon:
    n_represented: jax.Array
    gaps_deg: jax.Array
    max_gap_deviation_deg: jax.Array
    sides: jax.Array


def polygon_2d(W: jax.Array, threshold: float = REPRESENTED, tol_deg: float = 10.0) -> Polygon:
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
    return Polygon(k, gaps, dev, sides)


# ---------------------------------------------------------------------------------------------
# Pentagons in a many-dimensional hidden space (the mechanism behind D_i = 2/5)


PENTAGON = 5


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Pentagons:
    """Per feature i (n,): `group`, i and the four represented features most aligned with it
    (largest |cos|), (n, 5); `off_plane`, the share of the group's unit directions' squared length
    outside their best 2-D plane; `gap_deviation_deg`, the largest deviation from 72 degrees of a
    neighbouring gap between the five directions in that plane; `leakage`, the largest length of a
    represented feature's unit direction outside the group projected onto the plane; `member`,
    whether i lies in a pentagon that passes every test. `count`: pentagons, each counted once."""

    group: jax.Array
    off_plane: jax.Array
    gap_deviation_deg: jax.Array
    leakage: jax.Array
    member: jax.Array
    count: jax.Array


def pentagons(W: jax.Array, threshold: float = REPRESENTED, off_plane_tol: float = 0.05,
              tol_deg: float = 10.0, leak_tol: float = 0.2) -> Pentagons:
    """Pentagons among the represented features of W (m, n), any m >= 2: groups of five whose
    directions span a (nearly) 2-D plane (off_plane <= off_plane_tol), spread evenly in it (every
    gap within tol_deg of 72 degrees) and nearly orthogonal to every other represented feature
    (leakage <= leak_tol). Each feature's group is itself and its four most aligned represented
    features; a pentagon needs all five members to choose the same group. Vmappable."""
    n = W.shape[1]
    rep = represented(W, threshold)
    U = unit_directions(W)
    score = jnp.where(rep[None, :] & ~jnp.eye(n, dtype=bool), jnp.abs(U.T @ U), -1.0)
    _, partners = jax.lax.top_k(score, PENTAGON - 1)
    group = jnp.concatenate([jnp.arange(n)[:, None], partners], axis=1)            # (n, 5)
    full = rep & jnp.all(rep[group], axis=1)

    def geometry(g):
        G = U[:, g]                                                               # (m, 5)
        u, s, _ = jnp.linalg.svd(G, full_matrices=False)
        plane = u[:, :2]
        off = 1.0 - jnp.sum(s[:2] ** 2) / jnp.maximum(jnp.sum(s**2), _EPS)
        xy = plane.T @ G
        a = jnp.sort(jnp.mod(jnp.arctan2(xy[1], xy[0]), 2 * jnp.pi))
        gaps = jnp.degrees(jnp.diff(jnp.concatenate([a, a[:1] + 2 * jnp.pi])))
        outside = rep & ~jnp.any(jnp.arange(n)[:, None] == g[None, :], axis=1)
        leak = jnp.max(jnp.where(outside, jnp.linalg.norm(plane.T @ U, axis=0), 0.0))
        return off, jnp.max(jnp.abs(gaps - 360.0 / PENTAGON)), leak

    off, dev, leak = jax.vmap(geometry)(group)
    sorted_group = jnp.sort(group, axis=1)
    agree = jnp.all(sorted_group[group] == sorted_group[:, None, :], axis=(1, 2))   # every member picks it
    member = full & agree & (off <= off_plane_tol) & (dev <= tol_deg) & (leak <= leak_tol)
    count = jnp.sum(member & (sorted_group[:, 0] == jnp.arange(n)))
    return Pentagons(group, off, dev, leak, member, count)


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
    second feature, density s of both; docs/papers.md, superposition): superposition iff s < 4r/(2+5r)
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


def neuron_feature_counts(W: jax.Array, rel: float = 0.5, floor: float = 0.1) -> jax.Array:
    """Features each neuron serves: those it reads at least `rel` times as strongly as its main
    feature, |W_ji| >= max(rel * max_i |W_ji|, floor). (m,); 1 = monosemantic."""
    a = jnp.abs(W)
    return jnp.sum(a >= jnp.maximum(rel * jnp.max(a, axis=1, keepdims=True), floor), axis=1)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NeuronPairs:
    partner: jax.Array
    cosine: jax.Array
    n_pairs: jax.Array


def antipodal_neuron_pairs(W: jax.Array, cos_max: float = -0.9, floor: float = 0.1) -> NeuronPairs:
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
    return NeuronPairs(partner, jnp.where(jnp.isfinite(best), best, 0.0), jnp.sum(mutual) // 2)


# ---------------------------------------------------------------------------------------------
# Feature sets: features in consecutive sets of `set_size` (correlated or anti-correlated)


def cosines(W: jax.Array) -> jax.Array:
    """(n, n) matrix Ŵ_i · Ŵ_j; rows and columns of zero features are 0."""
    U = unit_directions(W)
    return U.T @ U


def same_set(n: int, set_size: int) -> np.ndarray:
    """(n, n) bool: i != j in the same consecutive set of `set_size`."""
    s = np.arange(n) // set_size
    return (s[:, None] == s[None, :]) & ~np.eye(n, dtype=bool)


def other_set(n: int, set_size: int) -> np.ndarray:
    s = np.arange(n) // set_size
    return s[:, None] != s[None, :]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SetGeometry:
    """How one model places its feature sets: per set (S,) the mean cosine between its features
    and whether all of them are represented; the mean cosine between features of different sets;
    the principal-component share (module docstring); and the cosines and norms behind them."""

    within_cos: jax.Array
    represented: jax.Array
    between_cos: jax.Array
    pc_share: jax.Array
    cos: jax.Array
    norms: jax.Array


def set_geometry(W: jax.Array, set_size: int = 2) -> SetGeometry:
    m, n = W.shape
    k = set_size
    cos = cosines(W)
    within = jnp.sum(jnp.where(same_set(n, k), cos, 0.0).reshape(n // k, k, n), axis=(1, 2)) / (k * (k - 1))
    between = jnp.sum(jnp.where(other_set(n, k), cos, 0.0)) / max(int(other_set(n, k).sum()), 1)
    norms = feature_norms(W)
    rep = jnp.all((norms >= REPRESENTED).reshape(n // k, k), axis=1)
    sums = jnp.sum(W.reshape(m, n // k, k), axis=2)  # each set's sum direction, |.|^2 / k is its PC part
    pc_share = jnp.sum(sums**2) / k / jnp.maximum(jnp.sum(W**2), _EPS)
    return SetGeometry(within, rep, between, pc_share, cos, norms)


# ---------------------------------------------------------------------------------------------
# Everything for one model, vmappable


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Summary:
    norms: jax.Array
    polysemanticity: jax.Array
    dimensionality: jax.Array
    d_star: jax.Array
    n_represented: jax.Array


def summary(W: jax.Array) -> Summary:
    """Per-model analyses used by the figures and claims."""
    return Summary(feature_norms(W), polysemanticity(W), feature_dimensionality(W), dimensions_per_feature(W),
                   jnp.sum(represented(W)))


# ---------------------------------------------------------------------------------------------
# A run's results: every analysis of every model, as the claims and figures read them


def _numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


@dataclasses.dataclass
class StackResults:
    """One stack's models across the instances of a run."""

    stack: sp.ModelStack
    params: dict           # leaves (N, K, ...)
    loss: np.ndarray       # (N, K), on one fixed large evaluation batch
    shown: np.ndarray      # (K,): the instance the figures show for each model
    summary: Summary       # leaves (N, K, ...)

    def shown_params(self) -> dict:
        """The params the figures show: leaves (K, ...), per model its shown instance."""
        k = np.arange(self.stack.k)
        return {key: v[self.shown, k] for key, v in self.params.items()}


@dataclasses.dataclass
class PhaseDiagram:
    """The phase of the last feature over the (relative importance, density) grid, per grid point
    the lowest-loss of its tries."""

    per_seed: np.ndarray   # (N, R, D)
    shown: np.ndarray      # (R, D): the lowest-loss seed with best_of, else seed 0


@dataclasses.dataclass
class SetSweep:
    """A correlated-feature stack: per instance and sparsity, the lowest-loss of its tries (the
    paper keeps the best of several fits for 2-D models)."""

    stack: sp.ModelStack
    density: np.ndarray       # (P,) feature probability, dense -> sparse
    W: np.ndarray             # (N, P, m, n)
    loss: np.ndarray          # (N, P)
    geometry: SetGeometry     # leaves (N, P, ...)
    shown: np.ndarray         # (P,) the instance the figures show (seed 0, or the lowest-loss one with best_of)


@dataclasses.dataclass
class Results:
    config: Config
    stacks: dict[str, StackResults]
    intro_polygon: Polygon                  # leaves (N, K)
    sticky_lines: StickyLines               # geometry run, per instance, all sparsities pooled: (N, F)
    sticky_lines_per_sparsity: StickyLines  # (N, K, F)
    geometry_pentagons: Pentagons           # every geometry model's pentagons: (N, K, n[, 5])
    phase_importance: np.ndarray            # (R,) relative importance of the last feature
    phase_density: np.ndarray               # (D,)
    phases: dict[str, PhaseDiagram]         # phase_2_1, phase_3_2
    phase_analytic: np.ndarray              # (R, D) the analytic n=2, m=1 phase
    hidden_neuron_counts: np.ndarray        # (N, K, m) features per neuron of the hidden-ReLU models
    abs_pairs: dict[str, NeuronPairs]       # abs, abs_pair: leaves (N, K, ...)
    set_sweeps: dict[str, SetSweep]         # corr_pairs, anti_pairs, corr_collapse
    metrics: dict[str, np.ndarray]

    @property
    def n_instances(self) -> int:
        return self.stacks["intro"].loss.shape[0]


def eval_losses(stack_list: tuple[sp.ModelStack, ...], params: dict, batch: int = EVAL_BATCH,
                seed: int = EVAL_SEED) -> dict:
    """Loss of every model of every stack, every instance (params leaves (N, K, ...)), on one
    fixed large batch: {stack: (N, K)}. One compiled program, mapped over instances."""
    data = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), sp.stack_data(stack_list, 1))
    key = jax.random.PRNGKey(seed)
    fn = jax.jit(lambda ps: jax.lax.map(lambda p: sp.losses(stack_list, p, data, key, batch), ps))
    return _numpy(fn(params))


@jax.jit
def _summaries(Ws: dict) -> dict:
    """`summary` of every model: {stack: Summary with leaves (N, K, ...)}."""
    return {k: jax.vmap(jax.vmap(summary))(W) for k, W in Ws.items()}


# Every model of every instance (leaves (N, K, ...)), one compiled program each, compiled once per shape.
_each_phase = jax.jit(jax.vmap(jax.vmap(feature_phase)))
_each_polygon = jax.jit(jax.vmap(jax.vmap(polygon_2d)))
_pooled_sticky_lines = jax.jit(jax.vmap(sticky_lines))      # D (N, K, n): every sparsity pooled
_each_sticky_lines = jax.jit(jax.vmap(jax.vmap(sticky_lines)))
_each_pentagons = jax.jit(jax.vmap(jax.vmap(pentagons)))
_each_neuron_counts = jax.jit(jax.vmap(jax.vmap(neuron_feature_counts)))
_each_neuron_pairs = jax.jit(jax.vmap(jax.vmap(antipodal_neuron_pairs)))
_each_set_geometry = jax.jit(lambda W, k: jax.vmap(jax.vmap(lambda w: set_geometry(w, k)))(W), static_argnums=1)


def _best_tries(loss: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    """Index (into K) of the lowest-loss try per grid point, per instance, for a grid (tries,
    *points): (N, *points)."""
    N, t, rest = loss.shape[0], grid[0], math.prod(grid[1:])
    best_t = np.argmin(loss.reshape(N, t, rest), axis=1)
    return (best_t * rest + np.arange(rest)).reshape(N, *grid[1:])


def _phase_diagram(res: StackResults, best_of: bool) -> PhaseDiagram:
    idx = _best_tries(res.loss, res.stack.grid)  # (N, R, D)
    phase = np.asarray(_each_phase(res.params["W"]))  # (N, K)
    flat = idx.reshape(len(phase), -1)
    per_seed = np.take_along_axis(phase, flat, 1).reshape(idx.shape)
    loss = np.take_along_axis(res.loss, flat, 1).reshape(idx.shape)
    shown = np.take_along_axis(per_seed, np.argmin(loss, 0)[None], 0)[0] if best_of else per_seed[0]
    return PhaseDiagram(per_seed, shown)


def set_stack_losses(cfg: Config, final: dict) -> dict:
    """`eval_losses` of the correlated-feature sweeps, on SET_EVAL_BATCH: {stack: (N, K)}."""
    sets = tuple(s for s in sp.stacks(cfg) if s.name in sp.SET_STACKS)
    return eval_losses(sets, {s.name: final[s.name] for s in sets}, batch=SET_EVAL_BATCH)


def set_sweeps(cfg: Config, final: dict, losses: dict) -> dict[str, SetSweep]:
    """The correlated-feature sweeps of `final` (params as `analyse_params` reads them), each
    model the lowest-loss of its tries by `losses` ({stack: (N, K)}, from `set_stack_losses`)."""
    out = {}
    for stack in sp.stacks(cfg):
        if stack.name not in sp.SET_STACKS:
            continue
        idx = _best_tries(np.asarray(losses[stack.name]), stack.grid)  # (N, P)
        W = np.take_along_axis(np.asarray(final[stack.name]["W"]), idx[:, :, None, None], 1)
        loss = np.take_along_axis(np.asarray(losses[stack.name]), idx, 1)
        geometry = _numpy(_each_set_geometry(jnp.asarray(W), stack.set_size))
        shown = np.argmin(loss, 0) if cfg.best_of else np.zeros(idx.shape[1], int)
        out[stack.name] = SetSweep(stack, stack.density[:idx.shape[1], 0], W, loss, geometry, shown)
    return out


def analyse(run: Run) -> Results:
    """`analyse_params` of a run's final params."""
    return analyse_params(Config(**run.config), _numpy(run.final_params()), run.metrics)


def analyse_params(cfg: Config, final: dict, metrics: dict | None = None) -> Results:
    """Per stack: eval losses (N, K), analyses of every model (N, K, ...), the instance shown in
    the figures per model; plus the phase grids, polygons, sticky lines, neuron quantities and the
    correlated-feature sweeps (their losses on a larger batch: they are sparser). `final` is {stack: {"W": (N, K, m, n), "b": (N, K, n)[, "W_out"]}} for every stack of
    `model.stacks(cfg)`: a run's final params, or hand-built / random ones (tests)."""
    final = _numpy(final)
    stack_list = sp.stacks(cfg)
    main = tuple(s for s in stack_list if s.name not in sp.SET_STACKS)
    losses = {**eval_losses(main, {s.name: final[s.name] for s in main}), **set_stack_losses(cfg, final)}
    summaries = _numpy(_summaries({s.name: final[s.name]["W"] for s in stack_list}))
    stacks = {}
    for s in stack_list:
        shown = np.argmin(losses[s.name], axis=0) if cfg.best_of else np.zeros(s.k, int)
        stacks[s.name] = StackResults(s, final[s.name], losses[s.name], shown, summaries[s.name])

    geo = stacks["geometry"].summary
    D, M = jnp.asarray(geo.dimensionality), jnp.asarray(geo.norms >= REPRESENTED)
    r, s = sp.phase_axes(cfg)
    return Results(
        config=cfg,
        stacks=stacks,
        intro_polygon=_numpy(_each_polygon(stacks["intro"].params["W"])),
        sticky_lines=_numpy(_pooled_sticky_lines(D, M)),
        sticky_lines_per_sparsity=_numpy(_each_sticky_lines(D, M)),
        geometry_pentagons=_numpy(_each_pentagons(jnp.asarray(stacks["geometry"].params["W"]))),
        phase_importance=r,
        phase_density=s,
        phases={name: _phase_diagram(stacks[name], cfg.best_of) for name in ("phase_2_1", "phase_3_2")},
        phase_analytic=np.asarray(analytic_phase_n2m1(r[:, None], s[None, :])),
        hidden_neuron_counts=np.asarray(_each_neuron_counts(stacks["hidden_relu"].params["W"])),
        abs_pairs={name: _numpy(_each_neuron_pairs(stacks[name].params["W"]))
                   for name in ("abs", "abs_pair")},
        set_sweeps=set_sweeps(cfg, final, losses),
        metrics=dict(metrics or {}),
    )

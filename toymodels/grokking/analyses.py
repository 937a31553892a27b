"""Progress measures and mechanistic analyses for modular-addition grokking (Nanda et al. 2023).

Pure functions of ONE model's params or arrays, written in jnp so callers can `jax.vmap` them
over instances and checkpoints (and jit them). p is read from array shapes. Frequencies are
k = 1..(p-1)//2 (angular w = 2πk/p); a set of frequencies is passed either as a sequence of
ints or as a bool mask of length (p-1)//2 (index k-1), the form to vmap when the key
frequencies differ per instance. Logit arrays are (p, p, p) indexed [a, b, c], `=` dropped.

Exceptions: `key_frequencies` and `phase_boundaries` return Python/numpy values and run
outside jit.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.algebra.fourier import (
    fourier_basis,
    fourier_transform_2d,
    frequency_norms,
    n_freqs,
)
from toymodels.grokking import model as ma
from toymodels.grokking.config import Config
from toymodels.models import pairs, transformer
from toymodels.models.pairs import sum_squared_weights
from toymodels.store import Run

# ---------------------------------------------------------------------------------------------
# Helpers


def _p(params: dict) -> int:
    return params["W_E"].shape[-2] - 1


def _p_of_logits(logits: jnp.ndarray) -> int:
    return logits.shape[-1]


def freq_mask(freqs, p: int) -> jnp.ndarray:
    """Float mask ((p-1)//2,) over frequencies 1..(p-1)//2 from ints or a bool mask."""
    n = n_freqs(p)
    if isinstance(freqs, (jnp.ndarray, np.ndarray)) and freqs.dtype == bool:
        if freqs.shape != (n,):
            raise ValueError(f"a frequency mask must have shape ({n},), got {freqs.shape}")
        return jnp.asarray(freqs, jnp.float32)
    if not isinstance(freqs, jax.Array):  # host values can be checked; traced ones cannot
        f = np.asarray(freqs).reshape(-1)
        if f.size and (f.min() < 1 or f.max() > n):
            raise ValueError(f"frequencies must lie in [1, {n}] (got {f.tolist()})")
    freqs = jnp.asarray(freqs, jnp.int32).reshape(-1)
    return jnp.zeros(n, jnp.float32).at[freqs - 1].set(1.0, mode="drop")


def _labels_2d(p: int) -> jnp.ndarray:
    return jnp.asarray(ma.labels(p).reshape(p, p))


def pair_losses(logits: jnp.ndarray) -> jnp.ndarray:
    """Per-pair cross-entropy (p, p) of (p, p, p) logits against (a + b) % p."""
    return pairs.cross_entropy(logits, _labels_2d(_p_of_logits(logits)))


def mean_loss(logits: jnp.ndarray, mask: jnp.ndarray | None = None) -> jnp.ndarray:
    """Mean cross-entropy over all pairs, or over pairs where `mask` (p*p or (p, p)) is true."""
    ce = pair_losses(logits)
    if mask is None:
        return ce.mean()
    w = jnp.reshape(mask, ce.shape).astype(ce.dtype)
    return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)


def accuracy(logits: jnp.ndarray, mask: jnp.ndarray | None = None) -> jnp.ndarray:
    """Share of pairs (all, or where `mask`) whose argmax logit is (a + b) % p."""
    ok = (jnp.argmax(logits, -1) == _labels_2d(_p_of_logits(logits))).astype(jnp.float32)
    if mask is None:
        return ok.mean()
    w = jnp.reshape(mask, ok.shape).astype(ok.dtype)
    return jnp.sum(ok * w) / jnp.maximum(jnp.sum(w), 1.0)


# ---------------------------------------------------------------------------------------------
# Weights in the Fourier basis


def fourier_norms_embed(params: dict, per_frequency: bool = False) -> jnp.ndarray:
    """Norm of W_E[:p] (the `=` row dropped) along each Fourier basis row: (p,) in basis order
    (const, cos 1, sin 1, ...); with per_frequency, sqrt(cos² + sin²) per k: ((p-1)//2,)."""
    p = _p(params)
    F, _ = fourier_basis(p)
    norms = jnp.linalg.norm(F @ params["W_E"][:p], axis=-1)
    return frequency_norms(norms) if per_frequency else norms


def neuron_logit_map(params: dict) -> jnp.ndarray:
    """W_L = W_out @ W_U[:, :p]: each neuron's direct effect on the answer logits, (d_mlp, p)."""
    p = _p(params)
    return params["W_out"] @ params["W_U"][:, :p]


def fourier_norms_neuron_logit(params: dict, per_frequency: bool = False) -> jnp.ndarray:
    """Norm over neurons of W_L's Fourier coefficients along the logit axis: (p,), or per
    frequency ((p-1)//2,) with per_frequency."""
    p = _p(params)
    F, _ = fourier_basis(p)
    norms = jnp.linalg.norm(neuron_logit_map(params) @ F.T, axis=0)
    return frequency_norms(norms) if per_frequency else norms


def gini(x: jnp.ndarray) -> jnp.ndarray:
    """Gini coefficient of a non-negative vector: sum_i (2i - n - 1) x_(i) / (n sum x) over the
    ascending order x_(1..n). 0 for all-equal entries, (n-1)/n for one non-zero entry; 0 for
    an all-zero vector."""
    x = jnp.sort(jnp.ravel(x))
    n = x.shape[0]
    i = jnp.arange(1, n + 1, dtype=x.dtype)
    total = jnp.sum(x)
    return jnp.where(total > 0, jnp.sum((2 * i - n - 1) * x) / (n * jnp.where(total > 0, total, 1.0)), 0.0)


def gini_embed(params: dict) -> jnp.ndarray:
    """Gini of W_E's per-basis-row Fourier norms (p values, constant included)."""
    return gini(fourier_norms_embed(params))


def gini_neuron_logit(params: dict) -> jnp.ndarray:
    """Gini of W_L's per-basis-row Fourier norms (p values, constant included)."""
    return gini(fourier_norms_neuron_logit(params))


# ---------------------------------------------------------------------------------------------
# Activations over all inputs


def _cache(params: dict) -> tuple[jnp.ndarray, dict]:
    return transformer.run_with_cache(params, jnp.asarray(ma.tokens(_p(params))))


def mlp_activations(params: dict) -> jnp.ndarray:
    """Post-ReLU MLP activations at the `=` position for every (a, b): (p, p, d_mlp)."""
    p = _p(params)
    _, cache = _cache(params)
    return cache["mlp_post"][:, -1].reshape(p, p, -1)


def attention_from_eq(params: dict) -> jnp.ndarray:
    """Attention weight from the `=` position to position 0 (token a), per head: (n_heads, p, p)
    indexed [head, a, b]."""
    p = _p(params)
    _, cache = _cache(params)
    return jnp.moveaxis(cache["pattern"][:, :, 2, 0].reshape(p, p, -1), -1, 0)


def logits_over_pairs(params: dict) -> jnp.ndarray:
    """Answer logits at the `=` position for every (a, b): (p, p, p) [a, b, c], `=` dropped."""
    p = _p(params)
    ab = jnp.asarray(ma.all_pairs(p))
    return transformer.last_logits(params, ab[:, 0], ab[:, 1])[:, :p].reshape(p, p, p)


# ---------------------------------------------------------------------------------------------
# Neuron frequency clusters


def neuron_frequencies(acts: jnp.ndarray, threshold: float = 0.85):
    """Each neuron's frequency from its activations (p, p, d_mlp) or (p*p, d_mlp).

    Centre each neuron over the p² inputs, take the 2D Fourier transform, and for each k
    measure the share of the variance in the 3×3 block of terms {const, cos k, sin k}(a) ×
    {const, cos k, sin k}(b) (the linear terms in a and b and their products; the paper code's
    extract_freq_2d). All k = 1..(p-1)//2 are scanned. Returns (freq, fve, cluster), each
    (d_mlp,): the best k, its share, and the cluster id (= freq where fve >= threshold, else 0
    for the leftover cluster). A dead neuron (no variance) gets fve 0."""
    p = math.isqrt(acts.shape[0] * (acts.shape[1] if acts.ndim == 3 else 1))
    acts = acts.reshape(p, p, -1)
    centred = acts - acts.mean(axis=(0, 1))
    energy = fourier_transform_2d(centred, p) ** 2  # (p, p, d)
    k = np.arange(1, n_freqs(p) + 1)
    idx = np.stack([np.zeros_like(k), 2 * k - 1, 2 * k], axis=1)  # (n, 3)
    block = energy[idx[:, :, None], idx[:, None, :]].sum(axis=(1, 2))  # (n, d)
    total = energy.sum(axis=(0, 1))
    fve_all = jnp.where(total > 0, block / jnp.where(total > 0, total, 1.0), 0.0)
    freq = jnp.argmax(fve_all, axis=0) + 1
    fve = jnp.max(fve_all, axis=0)
    cluster = jnp.where(fve >= threshold, freq, 0)
    return freq, fve, cluster


def cluster_sizes(cluster: jnp.ndarray, p: int) -> jnp.ndarray:
    """Neurons per cluster id: ((p-1)//2 + 1,), index 0 is the leftover cluster."""
    return jnp.bincount(jnp.ravel(cluster), length=n_freqs(p) + 1)


def default_min_neurons(d_mlp: int) -> int:
    """Smallest cluster that counts as a key frequency: 1% of the neurons, at least 2."""
    return max(2, math.ceil(0.01 * d_mlp))


def key_frequencies(cluster, p: int, min_neurons: int | None = None) -> list[int]:
    """Sorted distinct frequencies whose cluster (neurons with FVE >= threshold at that k) has
    at least `min_neurons` neurons (default `default_min_neurons(d_mlp)`: 1% of d_mlp, >= 2).

    Why a minimum: the algorithm needs a population of neurons at a frequency with spread
    phases (averaging over phases is what isolates the cos(w(a+b-c)) harmonic; one ReLU neuron
    alone writes a distorted pattern), and trained nets build clusters of tens of neurons per
    key frequency (44 at k=14 on the mainline); a lone neuron that happens to clear the
    threshold, e.g. a leftover of a frequency being cleaned up, is not a circuit. The
    the paper's code takes every winner with no size or FVE filter. Runs outside jit; pass one
    instance's cluster ids (d_mlp,)."""
    cluster = np.asarray(cluster).ravel()
    if min_neurons is None:
        min_neurons = default_min_neurons(cluster.size)
    sizes = np.bincount(cluster, minlength=n_freqs(p) + 1)
    return [int(k) for k in np.nonzero(sizes >= min_neurons)[0] if k > 0]


# ---------------------------------------------------------------------------------------------
# Logits in the Fourier basis


def _xpy_directions(p: int) -> np.ndarray:
    """Unit-norm (a, b) patterns cos(w(a+b)) and sin(w(a+b)) per frequency: (n, 2, p, p).
    They equal the paper code's (cos_a cos_b - sin_a sin_b)/√2 and (sin_a cos_b + cos_a sin_b)/√2
    in the 2D Fourier basis."""
    k = np.arange(1, n_freqs(p) + 1)[:, None, None]
    s = np.arange(p)[:, None] + np.arange(p)[None, :]
    ang = 2 * np.pi * k * s / p
    return (np.sqrt(2) / p * np.stack([np.cos(ang), np.sin(ang)], axis=1)).astype(np.float32)


def xpy_components(logits: jnp.ndarray, freqs) -> jnp.ndarray:
    """The part of the logits along cos(w(a+b)) and sin(w(a+b)) (as functions of (a, b), for
    each c separately) summed over the given frequencies: (p, p, p). This is the paper code's
    get_component_cos_xpy + get_component_sin_xpy."""
    p = _p_of_logits(logits)
    D = jnp.asarray(_xpy_directions(p))
    coef = jnp.einsum("kxab,abc->kxc", D, logits) * freq_mask(freqs, p)[:, None, None]
    return jnp.einsum("kxab,kxc->abc", D, coef)


def restricted_logits(logits: jnp.ndarray, freqs) -> jnp.ndarray:
    """Keep only the cos/sin(w(a+b)) components at `freqs`, plus the mean correction of the
    paper's code (bias_correction): add back the mean over inputs of what was removed."""
    kept = xpy_components(logits, freqs)
    return kept + jnp.mean(logits - kept, axis=(0, 1))


def restricted_loss(logits: jnp.ndarray, freqs) -> jnp.ndarray:
    """Cross-entropy of `restricted_logits` over ALL p² pairs."""
    return mean_loss(restricted_logits(logits, freqs))


def restricted_accuracy(logits: jnp.ndarray, freqs) -> jnp.ndarray:
    """Accuracy of `restricted_logits` over all p² pairs."""
    return accuracy(restricted_logits(logits, freqs))


def excluded_loss(logits: jnp.ndarray, freqs, is_train: jnp.ndarray) -> jnp.ndarray:
    """Cross-entropy on the TRAIN pairs (is_train: p*p bool in all_pairs order) after removing
    the cos/sin(w(a+b)) components at `freqs` (no mean correction, as the paper's code)."""
    return mean_loss(logits - xpy_components(logits, freqs), is_train)


def excluded_loss_per_frequency(logits: jnp.ndarray, is_train: jnp.ndarray) -> jnp.ndarray:
    """`excluded_loss` with one frequency removed at a time: ((p-1)//2,), entry k-1 for k."""
    p = _p_of_logits(logits)
    D = jnp.asarray(_xpy_directions(p))
    coef = jnp.einsum("kxab,abc->kxc", D, logits)  # projected once, not once per frequency

    def without(k):
        return mean_loss(logits - jnp.einsum("xab,xc->abc", D[k], coef[k]), is_train)

    return jax.lax.map(without, jnp.arange(n_freqs(p)))


def cos_coefficients(logits: jnp.ndarray) -> jnp.ndarray:
    """For k = 1..(p-1)//2, the projection of the logits on the unit-norm cos(w(a+b-c)) over
    the p×p×p cube (the paper code's calculate_coefficients): ((p-1)//2,)."""
    p = _p_of_logits(logits)
    k = np.arange(1, n_freqs(p) + 1)[:, None]
    ang_c = 2 * np.pi * k * np.arange(p) / p  # (n, p)
    D = jnp.asarray(_xpy_directions(p))  # √2/p cos, sin of w(a+b)
    proj = jnp.einsum("kxab,abc->kxc", D, logits)  # (n, 2, p)
    # cos(w(a+b-c)) = cos(w(a+b)) cos(wc) + sin(w(a+b)) sin(wc) has squared norm p³/2 over the
    # cube, so its unit version is sqrt(2/p³) cos(...) = (√2/p)(1/√p) cos(...).
    cs = jnp.asarray(np.stack([np.cos(ang_c), np.sin(ang_c)], axis=1).astype(np.float32))
    return jnp.sum(proj * cs, axis=(1, 2)) / np.sqrt(p)


def key_logit_fve(logits: jnp.ndarray, freqs) -> jnp.ndarray:
    """Fraction of the logits' variance explained by the cos(w(a+b-c)) terms at `freqs`: sum of
    squared `cos_coefficients` over freqs divided by the squared norm of the logits centred per
    input (the mean over c, invisible to softmax, removed; the cos terms are orthogonal to it)."""
    p = _p_of_logits(logits)
    centred = logits - logits.mean(axis=-1, keepdims=True)
    return jnp.sum(cos_coefficients(logits) ** 2 * freq_mask(freqs, p)) / jnp.sum(centred**2)


# ---------------------------------------------------------------------------------------------
# Phases of training


def _running_median(y: np.ndarray, window: int) -> np.ndarray:
    """Running median over `window` points (odd), the window truncated at the ends."""
    h = window // 2
    if h < 1 or len(y) <= 2 * h:
        return y
    out = np.empty_like(y)
    out[h:-h] = np.median(np.lib.stride_tricks.sliding_window_view(y, 2 * h + 1), axis=-1)
    for i in range(h):
        out[i] = np.median(y[: i + h + 1])
        out[-1 - i] = np.median(y[len(y) - 1 - i - h:])
    return out


def _hinge_fit(t: np.ndarray, y: np.ndarray, n_breaks: int, max_candidates: int):
    """Least-squares continuous piecewise-linear fits of y(t) with n_breaks (1 or 2) breakpoints
    at t values (interior points, subsampled to max_candidates). Returns, per candidate
    breakpoint set, (breakpoints (m, n_breaks), slope of each piece (m, n_breaks+1), SSE (m,))."""
    cand = np.unique(np.linspace(1, len(t) - 2, min(max_candidates, len(t) - 2)).round().astype(int))
    if n_breaks == 1:
        bps = cand[:, None]
    else:
        i, j = np.triu_indices(len(cand), k=1)
        bps = np.stack([cand[i], cand[j]], axis=1)
    tb = t[bps]
    slopes, sse = [], []
    for chunk in np.array_split(np.arange(len(bps)), max(1, len(bps) // 1000)):
        X = np.concatenate([np.ones((len(chunk), len(t), 1)), np.broadcast_to(t[None, :, None], (len(chunk), len(t), 1)),
                            np.maximum(t[None, :, None] - tb[chunk][:, None, :], 0.0)], axis=-1)
        XtX = np.einsum("mti,mtj->mij", X, X) + 1e-9 * np.eye(X.shape[-1])
        beta = np.linalg.solve(XtX, np.einsum("mti,t->mi", X, y)[..., None])[..., 0]
        sse.append(np.sum((np.einsum("mti,mi->mt", X, beta) - y) ** 2, axis=-1))
        slopes.append(np.cumsum(beta[:, 1:], axis=-1))
    return tb, np.concatenate(slopes), np.concatenate(sse)


def phase_boundaries(steps, train_loss, test_loss, smooth: int = 5, peak_smooth: float = 0.02,
                     min_drop: float = 1.0, max_candidates: int = 100, max_points: int = 400) -> dict:
    """Phase boundaries read off the loss curves (numpy, outside jit).

    Curves are taken in log10 and smoothed by a running median over `smooth` checkpoints, so
    isolated loss spikes do not move the answer (then subsampled to at most `max_points`).
    - memorisation_end: the step of the maximum of the log test loss, smoothed here by a running
      median over `peak_smooth` of the checkpoints (the peak is broad). While the network
      memorises, train loss falls and test loss rises; it turns down once the general circuit
      starts forming.
    - cleanup_start, cleanup_end: the two breakpoints of the best least-squares continuous
      3-piece linear fit of the smoothed log test loss from that maximum to the end, with the
      middle piece falling fastest and by at least `min_drop` decades (breakpoints searched
      among `max_candidates` evenly spaced checkpoints): where the sudden test-loss drop (grokking) begins, and where
      the test loss levels off at its floor.
    Phases: memorisation [0, memorisation_end], circuit formation (train and test loss roughly
    flat) up to cleanup_start, cleanup (test loss drops suddenly) up to cleanup_end.
    On the paper code's float32 p=113 run (saved_runs/low_precision_mod_addition.pth) this gives
    1.31k / 8.1k / 11.5k, and memorisation_end 1.42k on its 0.3 train-fraction sweep run; the
    paper's lines are 1.4k / 9.4k / 14k. `train_loss` only enters as `train_knee`: the
    breakpoint of a continuous 2-piece fit of log train loss up to cleanup_start (where its fast
    fall flattens), a secondary marker. Returns a dict of floats in step units, NaN where the
    curves show no test-loss drop (no grokking)."""
    t = np.asarray(steps, np.float64)
    log_te = np.log10(np.maximum(np.asarray(test_loss, np.float64), 1e-30))
    ytr = _running_median(np.log10(np.maximum(np.asarray(train_loss, np.float64), 1e-30)), smooth)
    yte = _running_median(log_te, smooth)
    ypk = _running_median(log_te, max(smooth, 2 * int(peak_smooth * len(t) / 2) + 1))
    if len(t) > max_points:  # fits on an even subsample of the smoothed curves
        keep = np.unique(np.linspace(0, len(t) - 1, max_points).round().astype(int))
        t, ytr, yte, ypk = t[keep], ytr[keep], yte[keep], ypk[keep]
    out = dict.fromkeys(("memorisation_end", "cleanup_start", "cleanup_end", "train_knee"), math.nan)
    i_pk = int(np.argmax(ypk))
    if len(t) - i_pk < 5:
        return out
    tb, slopes, sse = _hinge_fit(t[i_pk:], yte[i_pk:], 2, max_candidates)
    fall = -slopes[:, 1] * (tb[:, 1] - tb[:, 0])
    ok = (fall >= min_drop) & (slopes[:, 1] < np.minimum(slopes[:, 0], slopes[:, 2]))
    if not ok.any():
        return out
    best = np.argmin(np.where(ok, sse, np.inf))
    out["memorisation_end"] = float(t[i_pk])
    out["cleanup_start"], out["cleanup_end"] = (float(x) for x in tb[best])
    i_c = int(np.searchsorted(t, out["cleanup_start"]))
    if i_c >= 4:
        tb1, _, sse1 = _hinge_fit(t[: i_c + 1], ytr[: i_c + 1], 1, max_candidates)
        out["train_knee"] = float(tb1[np.argmin(sse1), 0])
    return out


# ---------------------------------------------------------------------------------------------
# A finished run, analysed: key frequencies from the final model, progress measures at every
# checkpoint (vmapped over instances, mapped over checkpoints to bound memory).


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FinalAnalyses:
    """Analyses of each instance's final model; leading axis: instance."""

    neuron_freq: np.ndarray                 # (N, d_mlp) each neuron's frequency
    neuron_fve: np.ndarray                  # (N, d_mlp) share of its variance that frequency explains
    neuron_cluster: np.ndarray              # (N, d_mlp) frequency, or 0 below the 0.85 threshold
    embed_fourier_norms: np.ndarray         # (N, p) W_E's norm along each Fourier basis row
    neuron_logit_fourier_norms: np.ndarray  # (N, p) likewise for W_L
    embed_freq_norms: np.ndarray            # (N, (p-1)//2) W_E's norm per frequency
    neuron_logit_map: np.ndarray            # (N, d_mlp, p) W_L = W_out W_U over the answer logits
    attention_to_a: np.ndarray              # (N, n_heads, p, p) attention from `=` to a, [head, a, b]
    logit_fourier_norms: np.ndarray         # (N, p, p) centred logits' norm in the 2D Fourier basis
    mlp_acts: np.ndarray                    # (1, p, p, d_mlp) instance 0's neurons at `=` (all would be N p^2 d_mlp)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ProgressMeasures:
    """The paper's progress measures at every checkpoint; leading axes: (checkpoint, instance)."""

    test_loss: np.ndarray
    train_loss: np.ndarray
    restricted_loss: np.ndarray
    restricted_accuracy: np.ndarray
    excluded_loss: np.ndarray
    excluded_loss_per_frequency: np.ndarray  # (..., (p-1)//2)
    cos_coefficients: np.ndarray             # (..., (p-1)//2)
    key_logit_fve: np.ndarray
    gini_embed: np.ndarray
    gini_neuron_logit: np.ndarray
    sum_squared_weights: np.ndarray


@dataclasses.dataclass(frozen=True)
class Results:
    """Everything the grokking claims and figures read."""

    p: int
    frac_train: float
    instances: list[dict]
    key_freqs: list[list[int]]          # per instance
    key_mask: np.ndarray                # (N, (p-1)//2)
    checkpoint_steps: np.ndarray        # (C,)
    final: FinalAnalyses
    over_training: ProgressMeasures
    phases: list[dict[str, float]]      # per instance: memorisation_end, cleanup_start, cleanup_end
    metrics: dict[str, np.ndarray]      # in-loop metrics {"step": (T,), name: (T, N)}
    n_test: np.ndarray                  # (N,) held-out pairs per instance (0 at frac_train=1: test curves NaN)


def _progress_measures(params, key_mask, is_train) -> ProgressMeasures:
    logits = logits_over_pairs(params)
    return ProgressMeasures(
        test_loss=mean_loss(logits, ~is_train), train_loss=mean_loss(logits, is_train),
        restricted_loss=restricted_loss(logits, key_mask), restricted_accuracy=restricted_accuracy(logits, key_mask),
        excluded_loss=excluded_loss(logits, key_mask, is_train),
        excluded_loss_per_frequency=excluded_loss_per_frequency(logits, is_train),
        cos_coefficients=cos_coefficients(logits), key_logit_fve=key_logit_fve(logits, key_mask),
        gini_embed=gini_embed(params), gini_neuron_logit=gini_neuron_logit(params),
        sum_squared_weights=sum_squared_weights(params))


@jax.jit
def _measures_over_training(params, key_mask, is_train) -> ProgressMeasures:
    """Progress measures at every checkpoint (mapped, to bound memory) of every instance (vmapped)."""
    per_instance = jax.vmap(_progress_measures)
    return jax.lax.map(lambda prm: per_instance(prm, key_mask, is_train), params)


@jax.jit
def _final_analyses(params) -> FinalAnalyses:
    def one(prm):
        acts = mlp_activations(prm)
        freq, fve, cluster = neuron_frequencies(acts)
        logits = logits_over_pairs(prm)
        centred = logits - logits.mean(axis=-1, keepdims=True)
        p = prm["W_E"].shape[0] - 1
        return FinalAnalyses(
            neuron_freq=freq, neuron_fve=fve, neuron_cluster=cluster,
            embed_fourier_norms=fourier_norms_embed(prm), neuron_logit_fourier_norms=fourier_norms_neuron_logit(prm),
            embed_freq_norms=fourier_norms_embed(prm, per_frequency=True), neuron_logit_map=neuron_logit_map(prm),
            attention_to_a=attention_from_eq(prm),
            logit_fourier_norms=jnp.sqrt(jnp.sum(fourier_transform_2d(centred, p) ** 2, axis=-1)), mlp_acts=acts)

    return jax.vmap(one)(params)


@functools.partial(jax.jit, static_argnames="p")
def _metrics_at(params, data, p: int) -> dict:
    return jax.lax.map(lambda prm: jax.vmap(functools.partial(ma.metrics, p=p))(prm, data), params)


def checkpoint_metrics(cfg: Config, instances: list[dict], params) -> dict[str, np.ndarray]:
    """The in-loop metrics (`model.metrics`) of params stacked (checkpoint, instance, ...): each
    (n_checkpoints, n_instances), as a run records them (without its "step" axis)."""
    data = jax.tree_util.tree_map(jnp.asarray, ma.make_data(cfg, instances))
    return {k: np.asarray(v) for k, v in _metrics_at(params, data, cfg.p).items()}


def analyse(run: Run) -> Results:
    return analyse_params(Config(**run.config), run.instances, run.steps, run.params, run.metrics)


def analyse_params(cfg: Config, instances: list[dict], steps, params, metrics: dict | None = None) -> Results:
    """Results from any weights: `params` stacked (checkpoint, instance, ...) at `steps` (a run's, a
    hand-built network's, a random init's). `metrics` are the in-loop curves {"step": (T,), name:
    (T, N)}; without them they are computed at the checkpoints.

    Instances without test pairs (frac_train=1) get NaN wherever a test-pair quantity would be
    (test loss and accuracy, in-loop and per checkpoint) and NaN phases: the phases are read off
    the test loss. (The in-loop metrics report 0 there.)"""
    p = cfg.p
    final = _final_analyses(jax.tree_util.tree_map(lambda x: x[-1], params))
    final = jax.tree_util.tree_map(np.asarray, dataclasses.replace(final, mlp_acts=final.mlp_acts[:1]))
    key_freqs = [key_frequencies(c, p) for c in final.neuron_cluster]
    key_mask = np.stack([np.asarray(freq_mask(k, p)) > 0 if k else np.zeros(p // 2, bool) for k in key_freqs])
    is_train = ma.make_data(cfg, instances)["is_train"]
    n_test = (~np.asarray(is_train)).sum(-1)
    no_test = n_test == 0
    measures = jax.tree_util.tree_map(np.asarray, _measures_over_training(params, key_mask, is_train))
    measures = dataclasses.replace(measures, test_loss=np.where(no_test, np.nan, measures.test_loss))
    if metrics is None:
        metrics = {"step": np.asarray(steps), **checkpoint_metrics(cfg, instances, params)}
    m = dict(metrics)
    for name in ("test_loss", "test_acc"):
        if name in m:
            m[name] = np.where(no_test, np.nan, np.asarray(m[name], float))
    nan_phases = dict.fromkeys(("memorisation_end", "cleanup_start", "cleanup_end", "train_knee"), math.nan)
    phases = [dict(nan_phases) if no_test[i] else phase_boundaries(m["step"], m["train_loss"][:, i], m["test_loss"][:, i])
              for i in range(len(key_freqs))]
    return Results(p=p, frac_train=cfg.frac_train, instances=instances, key_freqs=key_freqs, key_mask=key_mask,
                   checkpoint_steps=np.asarray(steps), final=final, over_training=measures, phases=phases, metrics=m,
                   n_test=n_test)

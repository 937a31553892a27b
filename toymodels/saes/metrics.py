"""How well a sparse autoencoder's dictionary recovers features whose directions are known.

Conventions: true features are the rows of `true` (n, d); the SAE's decoder directions are the
rows of `decoder` (m, d); codes are (batch, m). Every function but `hungarian_cosine` is a pure
jnp function of one SAE, so callers `jax.vmap` it over instances.

Definitions
- cosines: (n, m) cosine similarity of every true feature with every decoder direction (a zero
  row has cosine 0 with everything).
- MMCS (mean max cosine similarity), both ways: true -> decoder averages, over the true
  features, the best cosine any decoder direction reaches (does the dictionary contain each
  feature?); decoder -> true averages, over the live latents, the best cosine with any true
  feature (is each latent a feature?).
- recovered: the share of true features some decoder direction matches with cosine >= threshold.
- Hungarian cosine: the mean cosine of the best one-to-one matching of true features to
  latents (min(n, m) pairs), which a dictionary that merges or duplicates features cannot game.
- L0: mean number of non-zero codes per input. Dead latents: never non-zero over the batch;
  dense latents: non-zero on more than `dense_above` of inputs.
- FVU: fraction of variance unexplained, Σ||x - x̂||² / Σ||x - mean(x)||².
- shrinkage: <x̂, x> / <x, x> over the batch; 1 means no shrinkage, an L1 penalty pulls it below 1.
- splitting: per true feature, how many latents match it with cosine >= threshold (more than one:
  the feature is split over several latents).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment


def _unit(x: jnp.ndarray) -> jnp.ndarray:
    norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
    return jnp.where(norm > 0, x / jnp.where(norm > 0, norm, 1.0), 0.0)


def cosines(true: jnp.ndarray, decoder: jnp.ndarray) -> jnp.ndarray:
    return _unit(true) @ _unit(decoder).T


def mmcs(true: jnp.ndarray, decoder: jnp.ndarray, alive: jnp.ndarray | None = None) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(true -> decoder, decoder -> true) mean max cosine similarity; `alive` (m,) bool leaves
    dead latents out of both."""
    c = cosines(true, decoder)
    alive = jnp.ones(decoder.shape[0], bool) if alive is None else alive
    masked = jnp.where(alive[None, :], c, -1.0)
    to_decoder = jnp.maximum(masked.max(axis=1), 0.0).mean()
    to_true = jnp.sum(jnp.where(alive, c.max(axis=0), 0.0)) / jnp.maximum(alive.sum(), 1)
    return to_decoder, to_true


def recovered(true: jnp.ndarray, decoder: jnp.ndarray, threshold: float = 0.9) -> jnp.ndarray:
    return (cosines(true, decoder).max(axis=1) >= threshold).mean()


def splitting(true: jnp.ndarray, decoder: jnp.ndarray, threshold: float = 0.9) -> jnp.ndarray:
    """(n,) latents matching each true feature with cosine >= threshold."""
    return (cosines(true, decoder) >= threshold).sum(axis=1)


def hungarian_cosine(true: np.ndarray, decoder: np.ndarray) -> float:
    """Mean cosine of the best one-to-one matching (numpy; not traced)."""
    return matching_cosine(np.asarray(cosines(jnp.asarray(true), jnp.asarray(decoder))))


def matching_cosine(c: np.ndarray) -> float:
    """The Hungarian mean cosine from a cosine matrix (n, m) already computed."""
    rows, cols = linear_sum_assignment(-c)
    return float(c[rows, cols].mean())


def latent_activity(codes: jnp.ndarray, dense_above: float = 0.5, mask: jnp.ndarray | None = None) -> dict[str, jnp.ndarray]:
    """L0, and the share of dead and of dense latents, over a batch of codes (batch, m); `mask`
    (m,) says which latents the SAE has (a padded SAE's others are neither dead nor dense)."""
    active = codes != 0
    freq = active.mean(axis=0)
    mask = jnp.ones(codes.shape[-1], bool) if mask is None else mask.astype(bool)
    share = lambda flags: jnp.sum(flags & mask) / jnp.maximum(mask.sum(), 1)  # noqa: E731
    return {"l0": active.sum(axis=1).mean(), "dead": share(freq == 0), "dense": share(freq > dense_above)}


def fvu(x: jnp.ndarray, x_hat: jnp.ndarray) -> jnp.ndarray:
    return jnp.sum((x - x_hat) ** 2) / jnp.maximum(jnp.sum((x - x.mean(axis=0)) ** 2), 1e-30)


def shrinkage(x: jnp.ndarray, x_hat: jnp.ndarray) -> jnp.ndarray:
    return jnp.sum(x_hat * x) / jnp.maximum(jnp.sum(x * x), 1e-30)

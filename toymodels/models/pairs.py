"""Pair tasks: learn a binary operation c = a * b over every pair (a, b) of a finite set of n
elements, from a seeded share of the pairs. Modular addition (grokking) is the table of Z_p,
group composition (universality) the table of any finite group.

Pairs are indexed a * n + b. Every instance of a run has its own train split; splits of
different sizes (a swept train fraction) are padded to the largest with weight 0, so the
instances share one compiled program.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def train_mask(n_pairs: int, frac_train: float, rng_seed: int | Sequence[int]) -> np.ndarray:
    """Boolean mask over the pairs marking a seeded random split of int(frac * n_pairs) train pairs."""
    n_train = int(frac_train * n_pairs)
    order = np.random.default_rng(rng_seed).permutation(n_pairs)
    mask = np.zeros(n_pairs, dtype=bool)
    mask[order[:n_train]] = True
    return mask


def padded_train_data(masks: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Stacked per-instance data: train pair indices padded to the largest train set
    (train_idx, train_weight 0 on padding) and the masks themselves (is_train)."""
    n_max = max(int(m.sum()) for m in masks)
    idx = np.zeros((len(masks), n_max), dtype=np.int32)
    weight = np.zeros((len(masks), n_max), dtype=np.float32)
    for i, m in enumerate(masks):
        (train_idx,) = np.nonzero(m)
        idx[i, : len(train_idx)] = train_idx
        weight[i, : len(train_idx)] = 1.0
    return {"train_idx": idx, "train_weight": weight, "is_train": np.stack(masks)}


def cross_entropy(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Per-example cross-entropy, written as softplus(logsumexp_{j != c}(l_j - l_c)).

    The usual logsumexp(l) - l_c cancels catastrophically once the loss drops below float32
    resolution (~1e-7), which is why the papers' code computed it in float64; this form keeps
    full relative precision at any loss, in float32."""
    correct = jnp.take_along_axis(logits, target[..., None], axis=-1)
    others = jnp.where(jax.nn.one_hot(target, logits.shape[-1], dtype=bool), -jnp.inf, logits - correct)
    return jax.nn.softplus(jax.nn.logsumexp(others, axis=-1))


Logits = Callable[[jax.Array, jax.Array], jax.Array]  # (a, b) -> logits (batch, vocab)


def loss(logits: Logits, table: np.ndarray, data: dict) -> jax.Array:
    """Mean cross-entropy over the instance's train pairs (padding has weight 0)."""
    n = table.shape[0]
    idx, w = data["train_idx"], data["train_weight"]
    ce = cross_entropy(logits(idx // n, idx % n), jnp.asarray(table.reshape(-1))[idx])
    return jnp.sum(ce * w) / jnp.sum(w)


def metrics(logits: Logits, table: np.ndarray, data: dict, params: dict) -> dict[str, jax.Array]:
    """Train/test loss and accuracy over all n^2 pairs, and the sum of squared weights."""
    n = table.shape[0]
    a, b = np.divmod(np.arange(n * n), n)
    lg = logits(jnp.asarray(a), jnp.asarray(b))
    y = jnp.asarray(table.reshape(-1))
    ce = cross_entropy(lg, y)
    correct = (jnp.argmax(lg, -1) == y).astype(jnp.float32)
    tr = data["is_train"].astype(jnp.float32)
    te = 1.0 - tr
    n_te = jnp.maximum(te.sum(), 1.0)  # frac_train = 1 leaves no test pairs: report 0
    return {
        "train_loss": (ce * tr).sum() / tr.sum(),
        "test_loss": (ce * te).sum() / n_te,
        "train_acc": (correct * tr).sum() / tr.sum(),
        "test_acc": (correct * te).sum() / n_te,
        "weight_norm": sum_squared_weights(params),
    }


def sum_squared_weights(params) -> jax.Array:
    """The sum of every parameter squared (the paper's 'total sum of squared weights')."""
    return sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(params))

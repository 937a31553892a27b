"""Modular addition (a + b) mod p with the one-layer transformer of Nanda et al. (2023): the
data, the loss and the optimiser. The model is the shared `toymodels.models.transformer`
(vocabulary p + 1, the last token `=`); training reads only the `=` position's logits, through
its fast path `last_logits`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from toymodels.grokking.config import Config
from toymodels.models import pairs, transformer


def all_pairs(p: int) -> np.ndarray:
    """All p^2 inputs (a, b) in row-major order: index a * p + b."""
    a, b = np.divmod(np.arange(p * p), p)
    return np.stack([a, b], axis=1)


def tokens(p: int) -> np.ndarray:
    """All p^2 input sequences [a, b, =] in the order of `all_pairs`."""
    return np.concatenate([all_pairs(p), np.full((p * p, 1), p)], axis=1)


def labels(p: int) -> np.ndarray:
    ab = all_pairs(p)
    return (ab[:, 0] + ab[:, 1]) % p


def addition_table(p: int) -> np.ndarray:
    """(p, p): the table of Z_p, (a + b) mod p."""
    return labels(p).reshape(p, p)


def train_mask(p: int, frac_train: float, seed: int) -> np.ndarray:
    """Boolean mask over `all_pairs` marking a seeded random train split of int(frac * p^2) pairs."""
    return pairs.train_mask(p * p, frac_train, seed)


def make_data(cfg: Config, instances: list[dict]) -> dict[str, np.ndarray]:
    """Stacked per-instance train splits, padded to the largest (see models.pairs)."""
    return pairs.padded_train_data([train_mask(cfg.p, inst["frac_train"], inst["seed"]) for inst in instances])


def init_params(cfg: Config, key: jax.Array) -> dict[str, jax.Array]:
    return transformer.init_params(key, d_vocab=cfg.d_vocab, **cfg.transformer_sizes())


def run_with_cache(params: dict, toks: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The transformer on token sequences [a, b, =] (rows of `tokens(p)`): logits (batch, 3, p + 1)
    and every named activation (`toymodels.models.module` lists the names)."""
    return transformer.run_with_cache(params, toks)


def loss(params: dict, data: dict, p: int) -> jax.Array:
    """Mean cross-entropy over the instance's train pairs, over all p + 1 logits (`=` included,
    as in the paper's code)."""
    return pairs.loss(lambda a, b: transformer.last_logits(params, a, b), addition_table(p), data)


def metrics(params: dict, data: dict, p: int) -> dict[str, jax.Array]:
    """Train/test loss and accuracy over all p^2 pairs, and the sum of squared weights."""
    return pairs.metrics(lambda a, b: transformer.last_logits(params, a, b), addition_table(p), data, params)


def optimizer(cfg: Config, hp: dict) -> optax.GradientTransformation:
    """AdamW with a linear warmup multiplying the learning rate (and so the decay, as in
    PyTorch's LambdaLR): factor min(step / warmup, 1), 0 at the first step as in the paper's code."""
    warmup = max(cfg.warmup_steps, 1)
    lr = hp["lr"]

    def schedule(count):
        return lr * jnp.minimum(count / warmup, 1.0) if cfg.warmup_steps else lr

    return optax.adamw(schedule, b1=cfg.beta1, b2=cfg.beta2, eps=cfg.eps, weight_decay=hp["weight_decay"])

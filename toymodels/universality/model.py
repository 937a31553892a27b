"""Group composition a∘b over all |G|² pairs of a finite group (Chughtai, Chan, Nanda 2023): the
models, the data, the loss and the optimiser. Elements are the indices 0..|G|-1 of
`toymodels.algebra.groups`; pairs are indexed a*|G| + b (`toymodels.models.pairs`).

Two models:

- "mlp" (`GroupMLP`): separate left/right embeddings E_left, E_right (|G| x d_embed),
  concatenated (2·d_embed) -> W (2·d_embed x d_hidden) -> ReLU -> W_U (d_hidden x |G|). No
  biases. W is stored as W_left, W_right (the halves acting on each embedding), so that
  E_left @ W_left is a's contribution to the hidden pre-activations.
- "transformer": the shared one-layer transformer (`toymodels.models.transformer`) over tokens
  [a, b, =] with vocabulary |G|+1; the loss reads the `=` position's |G|+1 logits (the `=` logit
  kept, as in grokking).

Training: AdamW (lr 1e-3, weight decay 1, betas (0.9, 0.98)), full batch over the train
pairs, float32 with the cancellation-free cross-entropy of `pairs` (the paper used float64 to
avoid exactly that cancellation).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from toymodels.algebra.groups import group_order
from toymodels.models import module, pairs, transformer
from toymodels.models.module import record
from toymodels.universality.config import Config

TRAIN_SPLIT_SALT = 0x6C0  # mixed into each seed, so every seed (0 included) shuffles the pairs


# ---------------------------------------------------------------------------------------------
# Data


def make_data(cfg: Config, instances: list[dict]) -> dict[str, np.ndarray]:
    """Stacked per-instance train splits of the |G|² pairs, padded to the largest (see models.pairs)."""
    n = group_order(cfg.group)
    return pairs.padded_train_data([pairs.train_mask(n * n, inst["frac_train"], [inst["seed"], TRAIN_SPLIT_SALT])
                                    for inst in instances])


# ---------------------------------------------------------------------------------------------
# The MLP


def _mlp_shapes(order: int, d_embed: int, d_hidden: int) -> dict[str, tuple[tuple[int, int], int]]:
    """name -> (shape, fan-in of its N(0, 1)/sqrt(fan-in) init)."""
    return {"E_left": ((order, d_embed), d_embed), "E_right": ((order, d_embed), d_embed),
            "W_left": ((d_embed, d_hidden), 2 * d_embed), "W_right": ((d_embed, d_hidden), 2 * d_embed),
            "W_U": ((d_hidden, order), d_hidden)}


class GroupMLP(nnx.Module):
    """Init as the paper's code: N(0, 1)/sqrt(d_embed) for the embeddings, N(0, 1)/sqrt(fan_in)
    for W and W_U, cut from one normal draw (one draw compiles much faster than one per matrix)."""

    def __init__(self, order: int, d_embed: int, d_hidden: int, key: jax.Array):
        shapes = _mlp_shapes(order, d_embed, d_hidden)
        sizes = [math.prod(s) for s, _ in shapes.values()]
        draws = jnp.split(jax.random.normal(key, (sum(sizes),), jnp.float32), np.cumsum(sizes)[:-1])
        for (name, (shape, fan_in)), z in zip(shapes.items(), draws):
            setattr(self, name, nnx.Param(z.reshape(shape) / np.sqrt(fan_in)))

    def __call__(self, a: jax.Array, b: jax.Array, cache: dict | None = None) -> jax.Array:
        """Logits (batch, |G|) of pairs (a, b), each (batch,) element indices."""
        p = module.params_of(self)
        embed = record(cache, "embed", jnp.stack([p["E_left"][a], p["E_right"][b]], axis=1))  # (batch, 2, d_embed)
        mlp_pre = record(cache, "mlp_pre", embed[:, 0] @ p["W_left"] + embed[:, 1] @ p["W_right"])
        mlp_post = record(cache, "mlp_post", jax.nn.relu(mlp_pre))
        return record(cache, "logits", mlp_post @ p["W_U"])


def bind_mlp(params: dict) -> GroupMLP:
    order, d_embed = params["E_left"].shape
    d_hidden = params["W_U"].shape[0]
    return module.bind(lambda: GroupMLP(order, d_embed, d_hidden, jax.random.PRNGKey(0)), params)


def is_transformer(params: dict) -> bool:
    return "W_Q" in params


def run_with_cache(params: dict, a: jax.Array, b: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Either model's forward on pairs (a, b): its logits and every named activation (the
    transformer's over the tokens [a, b, =], logits at all three positions)."""
    if is_transformer(params):
        eq = params["W_E"].shape[0] - 1
        return transformer.run_with_cache(params, jnp.stack([a, b, jnp.full_like(a, eq)], axis=-1))
    return module.run_with_cache(bind_mlp(params), a, b)


def mlp_hidden(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
    """Hidden activations (post-ReLU) of the MLP for pairs (a, b): (batch, d_hidden); the
    module's `mlp_post` without binding a module. Each input's contribution to the hidden layer
    is a table of |G| rows, computed once and looked up per pair (rather than a
    d_embed x d_hidden matmul per pair); its gradient is a scatter-add over those rows."""
    left = params["E_left"] @ params["W_left"]  # (|G|, d_hidden)
    right = params["E_right"] @ params["W_right"]
    return jax.nn.relu(left[a] + right[b])


# ---------------------------------------------------------------------------------------------
# Either model


def init_params(cfg: Config, key: jax.Array) -> dict[str, jax.Array]:
    n = group_order(cfg.group)
    if cfg.model == "transformer":
        return transformer.init_params(key, d_vocab=n + 1, **cfg.transformer_sizes())
    return module.params_of(GroupMLP(n, cfg.d_embed, cfg.d_hidden, key))


def logits(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
    """Logits over the |G| elements for pairs (a, b): (batch, |G|), either model (the
    transformer's `=` logit dropped)."""
    out = training_logits(params, a, b)
    return out[:, :-1] if is_transformer(params) else out


def training_logits(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
    """What the loss reads: the MLP's logits, or the transformer's at `=` with the `=` logit kept
    in the softmax (as in grokking)."""
    if is_transformer(params):
        return transformer.last_logits(params, a, b)
    return mlp_hidden(params, a, b) @ params["W_U"]


# ---------------------------------------------------------------------------------------------
# Loss, metrics, optimiser


def loss(params: dict, data: dict, table: np.ndarray) -> jax.Array:
    """Mean cross-entropy over the instance's train pairs (padding has weight 0)."""
    return pairs.loss(lambda a, b: training_logits(params, a, b), table, data)


def metrics(params: dict, data: dict, table: np.ndarray) -> dict[str, jax.Array]:
    """Train/test loss and accuracy over all |G|² pairs, and the sum of squared weights."""
    return pairs.metrics(lambda a, b: training_logits(params, a, b), table, data, params)


def optimizer(cfg: Config, hp: dict) -> optax.GradientTransformation:
    """AdamW, constant learning rate (the paper's group runs use no warmup)."""
    return optax.adamw(hp["lr"], b1=cfg.beta1, b2=cfg.beta2, eps=cfg.eps, weight_decay=hp["weight_decay"])

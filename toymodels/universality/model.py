"""Group composition a∘b over all |G|² pairs of a finite group (Chughtai, Chan, Nanda 2023).

Two models, both over element indices 0..|G|-1 of `toymodels.algebra.groups`:

- "mlp": separate left/right embeddings E_left, E_right (|G| x d_embed), concatenated
  (2·d_embed) -> W (2·d_embed x d_hidden) -> ReLU -> W_U (d_hidden x |G|). No biases. Init as
  the reference: N(0, 1)/sqrt(d_embed) for the embeddings, N(0, 1)/sqrt(fan_in) for W and W_U.
  W is stored as W_left, W_right (the halves acting on each embedding), so that
  E_left @ W_left is a's contribution to the hidden pre-activations.
- "transformer": the one-layer transformer of the grokking task
  (`toymodels.grokking.model`, imported, unchanged) over tokens [a, b, =] with
  vocabulary |G|+1; the loss reads the `=` position's |G|+1 logits (the `=` logit kept, as there).

Training: AdamW (lr 1e-3, weight decay 1, betas (0.9, 0.98)), full batch over the train
pairs, float32 with the cancellation-free cross-entropy of modular_addition (the paper used
float64 to avoid exactly that cancellation).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from toymodels.errors import ConfigError
from toymodels.algebra.groups import Group, group as make_group, group_order
from toymodels.grokking import model as ma

MODELS = ("mlp", "transformer")
MAX_ANALYSED_ORDER = 645  # the analyses hold |G|^3 float32 logits per model: <= 1 GiB


@dataclasses.dataclass(frozen=True)
class Config:
    group: str = "S5"
    model: str = "mlp"
    frac_train: float = 0.4
    # MLP
    d_embed: int = 256
    d_hidden: int = 128
    # transformer (grokking sizes)
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    # optimiser
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-8
    # schedule
    steps: int = 250_000
    eval_every: int = 1000
    checkpoint_every: int = 0
    log_checkpoints: int = 60
    seed: int = 0
    seeds: int = 1
    # analyses
    key_threshold: float = 0.005  # logit similarity above which an irrep is "key" (REFERENCE §3)
    order_threshold: float = 0.05  # logit similarity at which an irrep counts as learned (learning order)
    coset_irreps: str = "auto"  # irreps whose neurons the coset view shows ("auto": standard,sign where they exist)

    def validate(self) -> None:
        n = group_order(self.group)  # unknown or too-large groups: ConfigError
        if n > MAX_ANALYSED_ORDER:
            raise ConfigError(f"group {self.group} has {n} elements; the analyses hold |G|^3 logits, "
                              f"so at most {MAX_ANALYSED_ORDER} elements are supported")
        if n < 2:
            raise ConfigError(f"group {self.group} is trivial; nothing to learn")
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; known: {', '.join(MODELS)}")
        if not 0.0 < self.frac_train <= 1.0:
            raise ConfigError(f"frac_train must lie in (0, 1] (got {self.frac_train})")
        if int(self.frac_train * n * n) < 1:
            raise ConfigError(f"frac_train={self.frac_train} leaves no training pairs for {self.group}")
        for name in ("d_embed", "d_hidden", "d_model", "n_heads", "d_head", "d_mlp", "steps", "eval_every", "seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer (got {getattr(self, name)})")
        for name in ("checkpoint_every", "log_checkpoints"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0 (got lr={self.lr}, weight_decay={self.weight_decay})")
        if not (0 < self.key_threshold < 1 and 0 < self.order_threshold < 1):
            raise ConfigError("key_threshold and order_threshold must lie in (0, 1)")
        self.coset_irrep_names()  # unknown irrep names: ConfigError

    def coset_irrep_names(self) -> list[str]:
        from toymodels.algebra.irreps import irrep_index, irreps

        g = self.group_obj()
        if self.coset_irreps == "auto":
            names = {r.name for r in irreps(g)}
            return [n for n in ("standard", "sign") if n in names]
        wanted = [s.strip() for s in self.coset_irreps.split("+") if s.strip()]
        return [irreps(g)[irrep_index(g, s)].name for s in wanted]

    def group_obj(self) -> Group:
        return make_group(self.group)


# ---------------------------------------------------------------------------------------------
# Data


def train_mask(order: int, frac_train: float, seed: int) -> np.ndarray:
    """Boolean mask over the |G|² pairs (index a*|G| + b) marking a seeded random split of
    int(frac * |G|²) train pairs. Every seed, 0 included, shuffles (the reference's seed 0 did not)."""
    n_pairs = order * order
    n_train = int(frac_train * n_pairs)
    perm = np.random.default_rng([seed, 0x6C0]).permutation(n_pairs)
    mask = np.zeros(n_pairs, dtype=bool)
    mask[perm[:n_train]] = True
    return mask


def make_data(cfg: Config, instances: list[dict]) -> dict[str, np.ndarray]:
    """Per-instance train indices (padded to the largest train set with weight 0) and masks."""
    n = group_order(cfg.group)
    masks = [train_mask(n, inst["frac_train"], inst["seed"]) for inst in instances]
    n_max = max(int(m.sum()) for m in masks)
    idx = np.zeros((len(masks), n_max), dtype=np.int32)
    weight = np.zeros((len(masks), n_max), dtype=np.float32)
    for i, m in enumerate(masks):
        (train_idx,) = np.nonzero(m)
        idx[i, : len(train_idx)] = train_idx
        weight[i, : len(train_idx)] = 1.0
    return {"train_idx": idx, "train_weight": weight, "is_train": np.stack(masks)}


# ---------------------------------------------------------------------------------------------
# Models


def transformer_config(cfg: Config) -> ma.Config:
    """The grokking transformer's config with vocabulary |G|+1 (p stands for |G|; never validated)."""
    return ma.Config(p=group_order(cfg.group), d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head,
                     d_mlp=cfg.d_mlp)


def init_params(cfg: Config, key: jax.Array) -> dict[str, jax.Array]:
    if cfg.model == "transformer":
        return ma.init_params(transformer_config(cfg), key)
    n = group_order(cfg.group)
    shapes = {"E_left": ((n, cfg.d_embed), cfg.d_embed), "E_right": ((n, cfg.d_embed), cfg.d_embed),
              "W_left": ((cfg.d_embed, cfg.d_hidden), 2 * cfg.d_embed),
              "W_right": ((cfg.d_embed, cfg.d_hidden), 2 * cfg.d_embed),
              "W_U": ((cfg.d_hidden, n), cfg.d_hidden)}
    sizes = [math.prod(s) for s, _ in shapes.values()]
    draws = jnp.split(jax.random.normal(key, (sum(sizes),), jnp.float32), np.cumsum(sizes)[:-1])
    return {name: z.reshape(shape) / np.sqrt(fan) for (name, (shape, fan)), z in zip(shapes.items(), draws)}


def mlp_hidden(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
    """Hidden activations (post-ReLU) of the MLP for pairs (a, b): (batch, d_hidden)."""
    pre = params["E_left"][a] @ params["W_left"] + params["E_right"][b] @ params["W_right"]
    return jax.nn.relu(pre)


def logits(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
    """Logits over the |G| elements for pairs (a, b): (batch, |G|), either model (the
    transformer's `=` logit dropped)."""
    if "W_Q" in params:
        return ma.last_logits(params, a, b)[:, :-1]
    return mlp_hidden(params, a, b) @ params["W_U"]


def _training_logits(params: dict, a, b) -> jax.Array:
    if "W_Q" in params:
        return ma.last_logits(params, a, b)  # the `=` logit stays in the softmax, as in grokking
    return mlp_hidden(params, a, b) @ params["W_U"]


# ---------------------------------------------------------------------------------------------
# Loss, metrics, optimiser


def loss(params: dict, data: dict, table: np.ndarray) -> jax.Array:
    """Mean cross-entropy over the instance's train pairs (padding has weight 0)."""
    n = table.shape[0]
    idx, w = data["train_idx"], data["train_weight"]
    a, b = idx // n, idx % n
    ce = ma.cross_entropy(_training_logits(params, a, b), jnp.asarray(table.reshape(-1))[idx])
    return jnp.sum(ce * w) / jnp.sum(w)


def metrics(params: dict, data: dict, table: np.ndarray) -> dict[str, jax.Array]:
    """Train/test loss and accuracy over all |G|² pairs, and the sum of squared weights."""
    n = table.shape[0]
    a, b = np.divmod(np.arange(n * n), n)
    lg = _training_logits(params, jnp.asarray(a), jnp.asarray(b))
    y = jnp.asarray(table.reshape(-1))
    ce = ma.cross_entropy(lg, y)
    correct = (jnp.argmax(lg, -1) == y).astype(jnp.float32)
    tr = data["is_train"].astype(jnp.float32)
    te = 1.0 - tr
    n_te = jnp.maximum(te.sum(), 1.0)
    return {
        "train_loss": (ce * tr).sum() / tr.sum(),
        "test_loss": (ce * te).sum() / n_te,
        "train_acc": (correct * tr).sum() / tr.sum(),
        "test_acc": (correct * te).sum() / n_te,
        "weight_norm": sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(params)),
    }


def optimizer(cfg: Config, hp: dict) -> optax.GradientTransformation:
    """AdamW, constant learning rate (the paper's group runs use no warmup)."""
    return optax.adamw(hp["lr"], b1=cfg.beta1, b2=cfg.beta2, eps=cfg.eps, weight_decay=hp["weight_decay"])

"""Modular addition (a + b) mod p with the one-layer transformer of Nanda et al. (2023).

Parameters are a flat dict of named arrays, TransformerLens-style shapes:

    W_E   (p+1, d_model)            token embedding; row p is the `=` token
    W_pos (3, d_model)              learned positional embedding
    W_Q, W_K, W_V (n_heads, d_model, d_head)
    W_O   (n_heads, d_head, d_model)
    W_in  (d_model, d_mlp), b_in (d_mlp,)
    W_out (d_mlp, d_model), b_out (d_model,)
    W_U   (d_model, p+1)            unembedding (the `=` logit is kept, as in the reference)

Two forward passes compute the same function:
- `run_with_cache` is the plain model over all three positions and returns every named
  activation; analyses use it.
- `last_logits` is what training uses. The loss reads only the `=` position, and in a
  one-layer model that position's query is the same for every input (it sees the `=` token
  at position 2), while keys and values at positions 0 and 1 depend on one token each. So
  attention scores and each head's OV output are per-token tables of p rows, looked up per
  pair; only the MLP and unembedding run per example. Tests check the two agree.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from toymodels.errors import ConfigError

N_CTX = 3


@dataclasses.dataclass(frozen=True)
class Config:
    p: int = 113
    frac_train: float = 0.3
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-8
    warmup_steps: int = 10
    steps: int = 40_000
    eval_every: int = 100
    checkpoint_every: int = 200
    log_checkpoints: int = 0  # extra checkpoints at this many log-spaced steps (dense early on)
    seed: int = 0
    seeds: int = 1

    def validate(self) -> None:
        if self.p < 3 or self.p % 2 == 0 or not _is_prime(self.p):
            raise ConfigError(f"p must be an odd prime >= 3 (got p={self.p})")
        if 4 * self.p**3 > 2**30:
            raise ConfigError(f"p={self.p} is too large: the analyses hold all p^3 logits of a model "
                              f"({4 * self.p**3 / 2**30:.1f} GiB); use p <= 645")
        if not 0.0 < self.frac_train <= 1.0:
            raise ConfigError(f"frac_train must lie in (0, 1] (got {self.frac_train})")
        if int(self.frac_train * self.p**2) < 1:
            raise ConfigError(f"frac_train={self.frac_train} leaves no training pairs for p={self.p}")
        for name in ("d_model", "n_heads", "d_head", "d_mlp", "steps", "eval_every", "checkpoint_every", "seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer (got {getattr(self, name)})")
        for name in ("warmup_steps", "log_checkpoints"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0 (got lr={self.lr}, weight_decay={self.weight_decay})")

    @property
    def d_vocab(self) -> int:
        return self.p + 1


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, int(math.isqrt(n)) + 1))


# ---------------------------------------------------------------------------------------------
# Data


def all_pairs(p: int) -> np.ndarray:
    """All p^2 inputs (a, b) in row-major order: index a * p + b."""
    a, b = np.divmod(np.arange(p * p), p)
    return np.stack([a, b], axis=1)


def tokens(p: int) -> np.ndarray:
    """All p^2 input sequences [a, b, =] in the order of `all_pairs`."""
    ab = all_pairs(p)
    return np.concatenate([ab, np.full((p * p, 1), p)], axis=1)


def labels(p: int) -> np.ndarray:
    ab = all_pairs(p)
    return (ab[:, 0] + ab[:, 1]) % p


def train_mask(p: int, frac_train: float, seed: int) -> np.ndarray:
    """Boolean mask over `all_pairs` marking a seeded random train split of int(frac * p^2) pairs."""
    n_train = int(frac_train * p * p)
    order = np.random.default_rng(seed).permutation(p * p)
    mask = np.zeros(p * p, dtype=bool)
    mask[order[:n_train]] = True
    return mask


def make_data(cfg: Config, instances: list[dict]) -> dict[str, np.ndarray]:
    """Stacked per-instance data. Train indices are padded to the largest train set with
    weight 0, so instances with different train fractions share one program."""
    masks = [train_mask(cfg.p, inst["frac_train"], inst["seed"]) for inst in instances]
    n_max = max(int(m.sum()) for m in masks)
    idx = np.zeros((len(masks), n_max), dtype=np.int32)
    weight = np.zeros((len(masks), n_max), dtype=np.float32)
    for i, m in enumerate(masks):
        (train_idx,) = np.nonzero(m)
        idx[i, : len(train_idx)] = train_idx
        weight[i, : len(train_idx)] = 1.0
    return {"train_idx": idx, "train_weight": weight, "is_train": np.stack(masks)}


# ---------------------------------------------------------------------------------------------
# Model


def init_params(cfg: Config, key: jax.Array) -> dict[str, jax.Array]:
    """Reference init: N(0, 1)/sqrt(d_model) everywhere except W_U ~ N(0, 1)/sqrt(d_vocab);
    MLP biases zero; no other biases. One normal draw is cut into the matrices: compiling a
    draw per matrix takes 5-10x longer, and init is compiled on every run."""
    shapes = {
        "W_E": (cfg.d_vocab, cfg.d_model),
        "W_pos": (N_CTX, cfg.d_model),
        "W_Q": (cfg.n_heads, cfg.d_model, cfg.d_head),
        "W_K": (cfg.n_heads, cfg.d_model, cfg.d_head),
        "W_V": (cfg.n_heads, cfg.d_model, cfg.d_head),
        "W_O": (cfg.n_heads, cfg.d_head, cfg.d_model),
        "W_in": (cfg.d_model, cfg.d_mlp),
        "W_out": (cfg.d_mlp, cfg.d_model),
        "W_U": (cfg.d_model, cfg.d_vocab),
    }
    sizes = [math.prod(s) for s in shapes.values()]
    draws = jnp.split(jax.random.normal(key, (sum(sizes),), jnp.float32), np.cumsum(sizes)[:-1])
    params = {}
    for (name, shape), z in zip(shapes.items(), draws):
        scale = cfg.d_vocab if name == "W_U" else cfg.d_model
        params[name] = z.reshape(shape) / np.sqrt(scale)
    params["b_in"] = jnp.zeros((cfg.d_mlp,), jnp.float32)
    params["b_out"] = jnp.zeros((cfg.d_model,), jnp.float32)
    return params


def run_with_cache(params: dict, toks: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The full model on token sequences (batch, 3). Returns logits (batch, 3, p+1) and every
    named activation: resid_pre, q, k, v, attn_scores, pattern (batch, head, query, key), z,
    attn_out, resid_mid, mlp_pre, mlp_post, mlp_out, resid_post."""
    d_head = params["W_Q"].shape[-1]
    resid_pre = params["W_E"][toks] + params["W_pos"][: toks.shape[-1]]
    q = jnp.einsum("bpd,hde->bhpe", resid_pre, params["W_Q"])
    k = jnp.einsum("bpd,hde->bhpe", resid_pre, params["W_K"])
    v = jnp.einsum("bpd,hde->bhpe", resid_pre, params["W_V"])
    scores = jnp.einsum("bhqe,bhke->bhqk", q, k) / np.sqrt(d_head)
    n = toks.shape[-1]
    causal = jnp.tril(jnp.ones((n, n), dtype=bool))
    scores = jnp.where(causal, scores, -jnp.inf)
    pattern = jax.nn.softmax(scores, axis=-1)
    z = jnp.einsum("bhqk,bhke->bhqe", pattern, v)
    attn_out = jnp.einsum("bhqe,hed->bqd", z, params["W_O"])
    resid_mid = resid_pre + attn_out
    mlp_pre = resid_mid @ params["W_in"] + params["b_in"]
    mlp_post = jax.nn.relu(mlp_pre)
    mlp_out = mlp_post @ params["W_out"] + params["b_out"]
    resid_post = resid_mid + mlp_out
    logits = resid_post @ params["W_U"]
    cache = dict(resid_pre=resid_pre, q=q, k=k, v=v, attn_scores=scores, pattern=pattern, z=z,
                 attn_out=attn_out, resid_mid=resid_mid, mlp_pre=mlp_pre, mlp_post=mlp_post,
                 mlp_out=mlp_out, resid_post=resid_post)
    return logits, cache


def last_logits(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
    """Logits at the `=` position for inputs a, b (each (batch,) ints): (batch, p+1).
    Equal to run_with_cache(params, [a, b, =])[0][:, -1], with per-token tables for attention."""
    eq = params["W_E"].shape[0] - 1
    d_head = params["W_Q"].shape[-1]
    x_a = params["W_E"][:eq] + params["W_pos"][0]  # (p, d): residual at position 0 per token
    x_b = params["W_E"][:eq] + params["W_pos"][1]
    x_eq = params["W_E"][eq] + params["W_pos"][2]  # (d,): residual at the `=` position
    q = jnp.einsum("d,hde->he", x_eq, params["W_Q"]) / np.sqrt(d_head)
    W_OV = jnp.einsum("hde,hef->hdf", params["W_V"], params["W_O"])
    wk_q = jnp.einsum("hde,he->dh", params["W_K"], q)  # scores are x @ (W_K q)
    score_a, score_b, score_eq = x_a @ wk_q, x_b @ wk_q, x_eq @ wk_q  # (p, h), (p, h), (h,)
    ov_a = jnp.einsum("td,hdf->thf", x_a, W_OV)  # (p, h, d)
    ov_b = jnp.einsum("td,hdf->thf", x_b, W_OV)
    ov_eq = jnp.einsum("d,hdf->hf", x_eq, W_OV)
    scores = jnp.stack([score_a[a], score_b[b], jnp.broadcast_to(score_eq, score_a[a].shape)], -1)
    pattern = jax.nn.softmax(scores, axis=-1)  # (batch, h, 3)
    attn_out = (jnp.einsum("bh,bhf->bf", pattern[..., 0], ov_a[a])
                + jnp.einsum("bh,bhf->bf", pattern[..., 1], ov_b[b])
                + pattern[..., 2] @ ov_eq)
    resid_mid = x_eq + attn_out
    mlp_post = jax.nn.relu(resid_mid @ params["W_in"] + params["b_in"])
    resid_post = resid_mid + mlp_post @ params["W_out"] + params["b_out"]
    return resid_post @ params["W_U"]


# ---------------------------------------------------------------------------------------------
# Loss, metrics, optimiser


def cross_entropy(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Per-example cross-entropy, written as softplus(logsumexp_{j != c}(l_j - l_c)).

    The usual logsumexp(l) - l_c cancels catastrophically once the loss drops below float32
    resolution (~1e-7), which is the float32 bug of the reference code; this form keeps full
    relative precision at any loss, in float32, so no float64 is needed."""
    correct = jnp.take_along_axis(logits, target[..., None], axis=-1)
    others = jnp.where(jax.nn.one_hot(target, logits.shape[-1], dtype=bool), -jnp.inf, logits - correct)
    return jax.nn.softplus(jax.nn.logsumexp(others, axis=-1))


def loss(params: dict, data: dict, p: int) -> jax.Array:
    """Mean cross-entropy over the instance's train pairs (padding has weight 0)."""
    idx, w = data["train_idx"], data["train_weight"]
    a, b = idx // p, idx % p
    ce = cross_entropy(last_logits(params, a, b), (a + b) % p)
    return jnp.sum(ce * w) / jnp.sum(w)


def metrics(params: dict, data: dict, p: int) -> dict[str, jax.Array]:
    """Train/test loss and accuracy over all p^2 pairs, and the sum of squared weights."""
    ab = jnp.asarray(all_pairs(p))
    logits = last_logits(params, ab[:, 0], ab[:, 1])
    y = (ab[:, 0] + ab[:, 1]) % p
    ce = cross_entropy(logits, y)
    correct = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
    tr = data["is_train"].astype(jnp.float32)
    te = 1.0 - tr
    n_te = jnp.maximum(te.sum(), 1.0)  # frac_train = 1 leaves no test pairs: report 0
    return {
        "train_loss": (ce * tr).sum() / tr.sum(),
        "test_loss": (ce * te).sum() / n_te,
        "train_acc": (correct * tr).sum() / tr.sum(),
        "test_acc": (correct * te).sum() / n_te,
        "weight_norm": sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(params)),
    }


def optimizer(cfg: Config, hp: dict) -> optax.GradientTransformation:
    """AdamW with a linear warmup multiplying the learning rate (and so the decay, as in
    PyTorch's LambdaLR): factor min(step / warmup, 1), 0 at the first step as in the reference."""
    warmup = max(cfg.warmup_steps, 1)
    lr = hp["lr"]

    def schedule(count):
        return lr * jnp.minimum(count / warmup, 1.0) if cfg.warmup_steps else lr

    return optax.adamw(schedule, b1=cfg.beta1, b2=cfg.beta2, eps=cfg.eps, weight_decay=hp["weight_decay"])

"""A planted source of activations with known features, and the sparse autoencoders trained on it.

Planted source: a dictionary of n unit feature directions in R^d (rows); each input is
x = Σ_i a_i f_i with feature i present independently with probability p and, when present,
a magnitude drawn uniformly from [0, 2] (mean 1).

SAE (one instance; callers vmap): codes = act(W_enc (x - b_dec) + b_enc), x̂ = codes W_dec + b_dec,
with W_dec's rows (the latents' directions) of unit norm: the decoder is stored unnormalised and
normalised in the forward pass, so no optimiser step can leave it off the sphere.
- "relu": act = ReLU; loss = ||x - x̂||² + coef · Σ|codes| (the standard L1 recipe; the unit-norm
  decoder keeps the penalty from being dodged by shrinking codes and growing directions).
- "topk" (Gao et al. 2024): act keeps the k largest pre-activations (ReLU'd), zeroes the rest;
  loss = ||x - x̂||², sparsity set by k.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from toymodels import engine
from toymodels.saes import metrics as M

VARIANTS = ("relu", "topk")
TRUTH_SALT = 0x7E0


def planted_dictionary(key: jax.Array, n: int, d: int) -> jax.Array:
    """(n, d) random unit feature directions."""
    f = jax.random.normal(key, (n, d))
    return f / jnp.linalg.norm(f, axis=1, keepdims=True)


def planted_batch(key: jax.Array, dictionary: jax.Array, p: float, batch: int) -> tuple[jax.Array, jax.Array]:
    """(x (batch, d), true coefficients (batch, n))."""
    k_on, k_mag = jax.random.split(key)
    n = dictionary.shape[0]
    a = jax.random.bernoulli(k_on, p, (batch, n)) * jax.random.uniform(k_mag, (batch, n), maxval=2.0)
    return a @ dictionary, a


def init_params(key: jax.Array, d: int, m: int) -> dict[str, jax.Array]:
    """Unit-norm random decoder directions, the encoder their transpose, zero biases."""
    w = jax.random.normal(key, (m, d))
    w = w / jnp.linalg.norm(w, axis=1, keepdims=True)
    return {"W_enc": w.T, "b_enc": jnp.zeros(m), "W_dec": w, "b_dec": jnp.zeros(d)}


def decoder(params: dict) -> jax.Array:
    """(m, d) unit-norm latent directions."""
    w = params["W_dec"]
    return w / jnp.maximum(jnp.linalg.norm(w, axis=1, keepdims=True), 1e-12)


def encode(params: dict, x: jax.Array, variant: str, k: jax.Array | int = 0) -> jax.Array:
    """Codes (batch, m). TopK's k may be traced (a per-instance hyperparameter): the k-th
    largest pre-activation is read off a sort rather than lax.top_k, whose k must be static."""
    pre = (x - params["b_dec"]) @ params["W_enc"] + params["b_enc"]
    if variant == "relu":
        return jax.nn.relu(pre)
    if variant == "topk":
        kth = jnp.take(jnp.sort(pre, axis=-1), pre.shape[-1] - jnp.asarray(k, jnp.int32), axis=-1)[..., None]
        return jnp.where(pre >= kth, jax.nn.relu(pre), 0.0)
    raise ValueError(f"unknown SAE variant {variant!r}; known: {', '.join(VARIANTS)}")


def decode(params: dict, codes: jax.Array) -> jax.Array:
    return codes @ decoder(params) + params["b_dec"]


def loss(params: dict, x: jax.Array, variant: str, coef: jax.Array | float = 0.0, k: jax.Array | int = 0) -> jax.Array:
    codes = encode(params, x, variant, k)
    mse = jnp.sum((x - decode(params, codes)) ** 2, axis=-1).mean()
    return mse + (coef * jnp.abs(codes).sum(axis=-1).mean() if variant == "relu" else 0.0)


# ---------------------------------------------------------------------------------------------
# Training on the engine: one planted truth for every instance; coef and k per instance (data)


def make_data(cfg, instances: list[dict]) -> dict[str, np.ndarray]:
    # salted: an instance's init draws from PRNGKey(seed), and seed 0's must not be the truth itself
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.source_seed), TRUTH_SALT)
    truth = np.asarray(planted_dictionary(key, cfg.n_features, cfg.d))
    n = len(instances)
    return {"truth": np.broadcast_to(truth, (n, *truth.shape)).copy(),
            "coef": np.array([i["coef"] for i in instances], np.float32),
            "k": np.array([i["k"] for i in instances], np.float32)}


def task(cfg) -> engine.Task:
    def batch(data, key):
        return planted_batch(key, data["truth"], cfg.feature_prob, cfg.batch)[0]

    def train_loss(params, data, key):
        return loss(params, batch(data, key), cfg.variant, data["coef"], data["k"])

    def metrics(params, data, key):
        x = batch(data, jax.random.fold_in(key, 1))
        codes = encode(params, x, cfg.variant, data["k"])
        to_decoder, to_true = M.mmcs(data["truth"], decoder(params), (codes != 0).any(axis=0))
        return {"loss": loss(params, x, cfg.variant, data["coef"], data["k"]),
                "fvu": M.fvu(x, decode(params, codes)), "l0": M.latent_activity(codes)["l0"],
                "mmcs": to_decoder, "mmcs_latents": to_true}

    return engine.Task(init_params=lambda key: init_params(key, cfg.d, cfg.dict_size), loss=train_loss,
                       metrics=metrics, optimizer=lambda hp: optax.adam(hp["lr"]), stochastic=True)

"""A planted source of activations with known features, and the sparse autoencoders trained on it.

Planted source: a dictionary of n unit feature directions in R^d (rows); each input is
x = Σ_i a_i f_i with feature i present independently with probability p and, when present,
a magnitude drawn uniformly from [0, 2] (mean 1).

SAE (one instance; callers vmap): codes = act(W_enc (x - b_dec) + b_enc), x̂ = codes W_dec + b_dec,
with W_dec's rows (the latents' directions) of unit norm.
- "relu": act = ReLU; loss = ||x - x̂||² + coef · Σ|codes| (the standard L1 recipe; the unit-norm
  decoder keeps the penalty from being dodged by shrinking codes and growing directions).
- "topk" (Gao et al. 2024): act keeps the k largest pre-activations (ReLU'd), zeroes the rest;
  loss = ||x - x̂||², sparsity set by k.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

VARIANTS = ("relu", "topk")


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


def encode(params: dict, x: jax.Array, variant: str, k: int = 0) -> jax.Array:
    pre = (x - params["b_dec"]) @ params["W_enc"] + params["b_enc"]
    if variant == "relu":
        return jax.nn.relu(pre)
    if variant == "topk":
        kth = jax.lax.top_k(pre, k)[0][..., -1:]
        return jnp.where(pre >= kth, jax.nn.relu(pre), 0.0)
    raise ValueError(f"unknown SAE variant {variant!r}; known: {', '.join(VARIANTS)}")


def decode(params: dict, codes: jax.Array) -> jax.Array:
    return codes @ params["W_dec"] + params["b_dec"]


def loss(params: dict, x: jax.Array, variant: str, coef: float = 0.0, k: int = 0) -> jax.Array:
    codes = encode(params, x, variant, k)
    mse = jnp.sum((x - decode(params, codes)) ** 2, axis=-1).mean()
    return mse + (coef * jnp.abs(codes).sum(axis=-1).mean() if variant == "relu" else 0.0)


def normalise_decoder(params: dict) -> dict:
    """Project the decoder rows back to unit norm (after each optimiser step)."""
    w = params["W_dec"]
    return {**params, "W_dec": w / jnp.maximum(jnp.linalg.norm(w, axis=1, keepdims=True), 1e-12)}

"""A hand-built modular-addition network with a known answer: the Fourier algorithm of
Nanda et al. (2023) written directly into the weights of `tasks.modular_addition`'s model.

Residual stream layout (d_model = 3 + 8F for F frequencies, optionally zero-padded):
    [0, 3)                      one-hot position dims
    token  [3, 3+2F)            token t < p -> (cos w t, sin w t) per frequency w; `=` -> 0
    A      next 2F dims         copy of a's token dims (written by head 0)
    B      next 2F dims         copy of b's token dims (written by head 1)
    OUT    next 2F dims         (cos, sin) coordinates of the answer per frequency (MLP output)

Attention: every head's query is a constant read from the `=` position dim; head 0's key reads
position 0's dim and head 1's position 1's, with score `attn_score` there and 0 elsewhere, so
from `=` head 0 attends ~only to a and head 1 ~only to b (weight 1/(1+2e^-attn_score)). Their OV
circuits copy the token dims into A and B. Extra heads are zero.

MLP: per frequency w, a K×K grid of phases φ_j = 2πj/K, ψ_l = 2πl/K; the neuron
ReLU(cos(w a + φ) + cos(w b + ψ)) is linear in A, B. It writes cos(w c + φ + ψ) into OUT
(as coordinates (cos(φ+ψ), -sin(φ+ψ)) on (cos w c, sin w c)), which W_U reads. Averaged over
the uniform grid only harmonics (m, n) ≡ (-1, -1) mod K of ReLU(cos u + cos v) survive: the
(-1, -1) one gives A·cos(w(a + b - c)); the next, (K-1, K-1), has relative amplitude ~1.5% at
K = 8. So the answer logits are ≈ λ Σ_w cos(w(a + b - c)), maximal at c = a + b. The `=`
logit is held at -2λF through the `=` position dim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np


def ideal_loss(p: int, freqs: Sequence[int], logit_scale: float) -> float:
    """Mean cross-entropy of the ideal logits λ Σ_w cos(w(a+b-c)) (the same for every input)."""
    d = np.arange(p)
    z = logit_scale * np.sum([np.cos(2 * np.pi * w * d / p) for w in freqs], axis=0)
    return float(np.logaddexp.reduce(z - z[0]))


def scale_for_loss(p: int, freqs: Sequence[int], target_loss: float) -> float:
    """The λ at which `ideal_loss` equals target_loss (bisection; the loss falls in λ)."""
    lo, hi = 0.0, 1.0
    while ideal_loss(p, freqs, hi) > target_loss:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ideal_loss(p, freqs, mid) > target_loss else (lo, mid)
    return hi


def fourier_algorithm_params(
    p: int,
    freqs: Sequence[int],
    *,
    k_phases: int = 8,
    n_heads: int = 2,
    d_model: int | None = None,
    attn_score: float = 40.0,
    logit_scale: float | None = None,
    target_loss: float = 1e-4,
) -> dict[str, jnp.ndarray]:
    """Params in `modular_addition`'s layout implementing the Fourier algorithm at `freqs`.

    d_head = 2F, d_mlp = F·k_phases², d_model = 3 + 8F unless a larger one is given. The answer
    logits are ≈ logit_scale · Σ_w cos(w(a+b-c)); by default logit_scale is chosen so the ideal
    loss of that formula is `target_loss`. Neuron index = i·K² + j·K + l for frequency freqs[i],
    phases (φ_j, ψ_l)."""
    freqs = [int(w) for w in freqs]
    F, K = len(freqs), int(k_phases)
    if F == 0 or len(set(freqs)) != F or not all(1 <= w <= (p - 1) // 2 for w in freqs):
        raise ValueError(f"freqs must be distinct integers in [1, {(p - 1) // 2}] (got {freqs})")
    if n_heads < 2 or K < 3:
        raise ValueError("need n_heads >= 2 and k_phases >= 3")
    d_min = 3 + 8 * F
    d_model = d_min if d_model is None else int(d_model)
    if d_model < d_min:
        raise ValueError(f"d_model must be >= {d_min} for {F} frequencies")
    d_head, d_mlp = 2 * F, F * K * K
    lam = scale_for_loss(p, freqs, target_loss) if logit_scale is None else float(logit_scale)

    tok, A, B, OUT = (3 + 2 * F * i + np.arange(2 * F) for i in range(4))
    t = np.arange(p)
    W_E = np.zeros((p + 1, d_model))
    W_pos = np.zeros((3, d_model))
    W_pos[np.arange(3), np.arange(3)] = 1.0
    for i, w in enumerate(freqs):
        W_E[:p, tok[2 * i]] = np.cos(2 * np.pi * w * t / p)
        W_E[:p, tok[2 * i + 1]] = np.sin(2 * np.pi * w * t / p)

    W_Q = np.zeros((n_heads, d_model, d_head))
    W_K = np.zeros((n_heads, d_model, d_head))
    W_V = np.zeros((n_heads, d_model, d_head))
    W_O = np.zeros((n_heads, d_head, d_model))
    for h, target in ((0, A), (1, B)):
        W_Q[h, 2, 0] = 1.0
        W_K[h, h, 0] = attn_score * math.sqrt(d_head)  # scores are q.k / sqrt(d_head)
        W_V[h, tok, np.arange(d_head)] = 1.0
        W_O[h, np.arange(d_head), target] = 1.0

    phases = 2 * np.pi * np.arange(K) / K
    phi, psi = (x.ravel() for x in np.meshgrid(phases, phases, indexing="ij"))  # (K², ), j slow
    # Grid average of ReLU(cos(x+φ) + cos(y+ψ)) cos(z+φ+ψ) at x = y = z = 0: the amplitude A
    # of cos(x + y - z) in the grid sum (exact there, up to ~1% aliasing elsewhere).
    amp = np.mean(np.maximum(np.cos(phi) + np.cos(psi), 0.0) * np.cos(phi + psi))
    gain = lam / (K * K * amp)
    W_in = np.zeros((d_model, d_mlp))
    W_out = np.zeros((d_mlp, d_model))
    W_U = np.zeros((d_model, p + 1))
    for i, w in enumerate(freqs):
        n = i * K * K + np.arange(K * K)
        W_in[A[2 * i], n], W_in[A[2 * i + 1], n] = np.cos(phi), -np.sin(phi)
        W_in[B[2 * i], n], W_in[B[2 * i + 1], n] = np.cos(psi), -np.sin(psi)
        W_out[n, OUT[2 * i]] = gain * np.cos(phi + psi)
        W_out[n, OUT[2 * i + 1]] = -gain * np.sin(phi + psi)
        W_U[OUT[2 * i], :p] = np.cos(2 * np.pi * w * t / p)
        W_U[OUT[2 * i + 1], :p] = np.sin(2 * np.pi * w * t / p)
    W_U[2, p] = -2.0 * lam * F  # the `=` logit, via the `=` position dim

    params = {"W_E": W_E, "W_pos": W_pos, "W_Q": W_Q, "W_K": W_K, "W_V": W_V, "W_O": W_O, "W_in": W_in,
              "b_in": np.zeros(d_mlp), "W_out": W_out, "b_out": np.zeros(d_model), "W_U": W_U}
    return {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}


def side_by_side(first: dict, second: dict) -> dict[str, jnp.ndarray]:
    """One network computing the sum of two networks' logits: their residual streams, heads and
    neurons placed side by side (block-diagonal weights; the smaller d_head padded with zeros),
    each head and neuron reading only its own network's part of the stream, W_U reading both.
    E.g. a memoriser beside the Fourier circuit, mixed in chosen proportions."""
    d1, d2 = first["W_E"].shape[1], second["W_E"].shape[1]
    h1, h2 = first["W_Q"].shape[0], second["W_Q"].shape[0]
    m1, m2 = first["W_in"].shape[1], second["W_in"].shape[1]
    e = max(first["W_Q"].shape[2], second["W_Q"].shape[2])
    f = {k: np.asarray(v, np.float32) for k, v in first.items()}
    s = {k: np.asarray(v, np.float32) for k, v in second.items()}
    out = {
        "W_E": np.concatenate([f["W_E"], s["W_E"]], 1),
        "W_pos": np.concatenate([f["W_pos"], s["W_pos"]], 1),
        "b_in": np.concatenate([f["b_in"], s["b_in"]]),
        "b_out": np.concatenate([f["b_out"], s["b_out"]]),
        "W_U": np.concatenate([f["W_U"], s["W_U"]], 0),
    }
    for name in ("W_Q", "W_K", "W_V"):  # (heads, d_model, d_head)
        w = np.zeros((h1 + h2, d1 + d2, e), np.float32)
        w[:h1, :d1, : f[name].shape[2]] = f[name]
        w[h1:, d1:, : s[name].shape[2]] = s[name]
        out[name] = w
    w = np.zeros((h1 + h2, e, d1 + d2), np.float32)
    w[:h1, : f["W_O"].shape[1], :d1] = f["W_O"]
    w[h1:, : s["W_O"].shape[1], d1:] = s["W_O"]
    out["W_O"] = w
    w_in, w_out = np.zeros((d1 + d2, m1 + m2), np.float32), np.zeros((m1 + m2, d1 + d2), np.float32)
    w_in[:d1, :m1], w_in[d1:, m1:] = f["W_in"], s["W_in"]
    w_out[:m1, :d1], w_out[m1:, d1:] = f["W_out"], s["W_out"]
    out["W_in"], out["W_out"] = w_in, w_out
    return {k: jnp.asarray(v) for k, v in out.items()}


def scramble_tokens(params: dict, seed: int = 0) -> dict[str, jnp.ndarray]:
    """The same weights with the p number tokens' embeddings permuted at random (the `=` row
    kept): as a function of the token, W_E loses its Fourier structure, and the network computes
    (pi(a) + pi(b)) mod p instead of a + b. Every norm is unchanged."""
    p = params["W_E"].shape[0] - 1
    perm = np.random.default_rng(seed).permutation(p)
    W_E = np.asarray(params["W_E"]).copy()
    W_E[:p] = W_E[perm]
    return {**params, "W_E": jnp.asarray(W_E)}

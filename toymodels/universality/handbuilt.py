"""A hand-built MLP implementing the representation algorithm for chosen irreps, in the
parameter layout of `toymodels.universality.model` ("mlp").

Construction, for irreps ρ_1..ρ_k of G:
- embeddings: E_left[a] = [vec ρ_1(a), ..., vec ρ_k(a)] and likewise E_right[b] (zero-padded
  to d_embed), so every embedding lies in the chosen irreps' spans;
- hidden layer: each neuron reads ONE chosen irrep: its pre-activation is u·vec ρ(a) + v·vec ρ(b)
  with random unit u, v (the neurons are split evenly between the irreps), then ReLU;
- unembedding: least squares from the hidden activations to the target logits
  scale · Σ_ρ χ_ρ(a b c⁻¹) / dim ρ over all pairs. Because the targets, as functions of c, lie in
  the chosen irreps' spans, so does every column of the fitted W_Uᵀ (up to rounding).

So the logits, the embeddings, the unembedding and each neuron involve exactly the chosen
irreps: every analysis in `toymodels.universality.analyses` must name exactly those.
"""

from __future__ import annotations

import numpy as np

from toymodels.algebra.groups import Group
from toymodels.algebra.irreps import irrep_index, irreps


def representation_mlp_params(g: Group, chosen: list[str], d_hidden: int = 512, scale: float = 20.0,
                              seed: int = 0, d_embed: int | None = None) -> dict[str, np.ndarray]:
    reps = [irreps(g)[irrep_index(g, name)] for name in chosen]
    n = g.order
    flat = [r.matrices.reshape(n, -1) for r in reps]
    width = sum(f.shape[1] for f in flat)
    d_embed = d_embed or width
    rng = np.random.default_rng(seed)
    E = np.zeros((n, d_embed))
    E[:, :width] = np.concatenate(flat, axis=1)
    W_left = np.zeros((d_embed, d_hidden))
    W_right = np.zeros((d_embed, d_hidden))
    owner = np.arange(d_hidden) % len(reps)
    start = np.cumsum([0] + [f.shape[1] for f in flat])
    for j in range(d_hidden):
        lo, hi = start[owner[j]], start[owner[j] + 1]
        u, v = rng.standard_normal(hi - lo), rng.standard_normal(hi - lo)
        W_left[lo:hi, j] = u / np.linalg.norm(u)
        W_right[lo:hi, j] = v / np.linalg.norm(v)
    a, b = np.divmod(np.arange(n * n), n)
    hidden = np.maximum(E[a] @ W_left + E[b] @ W_right, 0.0)
    x_cinv = g.table[:, g.inverse]  # [x, c] = x c^-1
    target = sum(r.character[x_cinv] / r.dim for r in reps)[g.table.reshape(-1)] * scale
    W_U, *_ = np.linalg.lstsq(hidden, target, rcond=None)
    f32 = lambda x: x.astype(np.float32)  # noqa: E731
    return {"E_left": f32(E), "E_right": f32(E), "W_left": f32(W_left), "W_right": f32(W_right), "W_U": f32(W_U)}

"""A hand-built MLP implementing the representation algorithm for chosen irreps, in the
parameter layout of `toymodels.universality.model` ("mlp").

Construction, for irreps ρ_1..ρ_k of G:
- embeddings: E_left[a] = [vec ρ_1(a), ..., vec ρ_k(a)] and likewise E_right[b] (zero-padded
  to d_embed), so every embedding lies in the chosen irreps' spans;
- hidden layer: each neuron reads ONE chosen irrep: its pre-activation is u·vec ρ(a) + v·vec ρ(b)
  with random unit u, v (the neurons are split between the irreps in proportion to dim ρ², at
  least 4 each), then ReLU;
- unembedding: least squares from the hidden activations to the target logits
  scale · Σ_ρ χ_ρ(a b c⁻¹) / dim ρ over all pairs. Because the targets, as functions of c, lie in
  the chosen irreps' spans, so does every column of the fitted W_Uᵀ (up to rounding).

So the logits, the embeddings, the unembedding and each neuron involve exactly the chosen
irreps: every analysis in `toymodels.universality.analyses` must name exactly those.

Two variants, for the coset view (Stander et al. 2024):
- coset=True: each neuron of the standard irrep (S_n, A_n, D_n: the permutation representation is
  trivial + standard) reads a through a zero-mean function of a(i) and b through one of b(m), for
  a point i and m of its own; such inputs lie in the standard irrep's span and are constant on
  the cosets of the point stabilisers Stab(i), Stab(m). A sum of products of such functions,
  Σ_m [a(b(m)) = c(m)] - 1, is χ_standard(a b c⁻¹), so ReLU neurons of this kind serve the algorithm.
  Without it the standard neurons' u, v are random directions of the span: no coset structure.
- mixed=True: the neurons' purity broken on purpose: two neurons in three read their irrep on b
  but the NEXT chosen irrep on a (the third reads one irrep on both sides and keeps the algorithm
  working), so most neurons that read, e.g., sign(b) do not read sign(a).
"""

from __future__ import annotations

import numpy as np

from toymodels.algebra.groups import Group
from toymodels.algebra.irreps import irrep_index, irreps


def representation_mlp_params(g: Group, chosen: list[str], d_hidden: int = 512, scale: float = 20.0,
                              seed: int = 0, d_embed: int | None = None, coset: bool = False,
                              mixed: bool = False) -> dict[str, np.ndarray]:
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
    # neurons split between the irreps in proportion to dim ρ² (the size of the span each reads), at least 4 each
    dims2 = np.array([r.dim**2 for r in reps], float)
    counts = np.maximum(4, np.floor(d_hidden * dims2 / dims2.sum())).astype(int)
    counts[np.argmax(counts)] += d_hidden - counts.sum()
    owner = np.repeat(np.arange(len(reps)), counts)
    slot = np.concatenate([np.arange(c) for c in counts])  # index of each neuron within its irrep
    start = np.cumsum([0] + [f.shape[1] for f in flat])
    points = g.perms.shape[1] if g.perms is not None else 0
    pinv = [np.linalg.pinv(f) for f in flat] if coset else None  # least squares onto each irrep's span
    for j in range(d_hidden):
        r_right = owner[j]
        r_left = (owner[j] + 1) % len(reps) if mixed and slot[j] % 3 else owner[j]
        for W, r, side in ((W_left, r_left, 0), (W_right, r_right, 1)):
            lo, hi = start[r], start[r + 1]
            if coset and reps[r].name == "standard" and points:
                # a zero-mean function of a(i) (left) or b(m) (right), as a direction of the span
                point = slot[j] % points if side == 0 else (slot[j] // points) % points
                f = rng.standard_normal(points)
                target = (f - f.mean())[g.perms[:, point]]
                u = pinv[r] @ target
            else:
                u = rng.standard_normal(hi - lo)
            W[lo:hi, j] = u / np.linalg.norm(u)
    a, b = np.divmod(np.arange(n * n), n)
    hidden = np.maximum(E[a] @ W_left + E[b] @ W_right, 0.0)
    x_cinv = g.table[:, g.inverse]  # [x, c] = x c^-1
    target = sum(r.character[x_cinv] / r.dim for r in reps)[g.table.reshape(-1)] * scale
    # the least-squares (minimum-norm) fit, through the normal equations: pinv(HᵀH) Hᵀ = pinv(H), and
    # (d_hidden)² is far cheaper to decompose than the (|G|², d_hidden) hidden activations
    W_U, *_ = np.linalg.lstsq(hidden.T @ hidden, hidden.T @ target, rcond=None)

    def f32(x):
        return x.astype(np.float32)

    return {"E_left": f32(E), "E_right": f32(E), "W_left": f32(W_left), "W_right": f32(W_right), "W_U": f32(W_U)}

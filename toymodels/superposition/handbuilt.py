"""Hand-placed feature geometries whose feature dimensionality is known exactly (Elhage et al.
2022, "uniform polytopes"): each returns W (m hidden dimensions, n features) with unit columns.

    digon             m=1, n=2   D_i = 1/2   (antipodal pair)
    triangle          m=2, n=3   D_i = 2/3
    pentagon          m=2, n=5   D_i = 2/5
    tetrahedron       m=3, n=4   D_i = 3/4
    square antiprism  m=3, n=8   D_i = 3/8

All five are tight frames (sum_j W_j W_j^T = (n/m) I), so D_i = 1 / (W_i^T (n/m) I W_i) = m/n.
"""

from __future__ import annotations

import jax
import numpy as np

from toymodels.superposition import model as sp


def regular_polygon(k: int, phase: float = 0.0) -> np.ndarray:
    """k unit vectors in 2-D, 360/k degrees apart: (2, k)."""
    t = phase + 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(t), np.sin(t)])


def digon() -> np.ndarray:
    return np.array([[1.0, -1.0]])


def triangle() -> np.ndarray:
    return regular_polygon(3)


def pentagon() -> np.ndarray:
    return regular_polygon(5)


def tetrahedron() -> np.ndarray:
    v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float).T
    return v / np.sqrt(3)


def square_antiprism() -> np.ndarray:
    """Two squares at heights +-h, rotated 45 degrees against each other; h^2 = 1/3 makes the
    frame tight (x and z second moments equal)."""
    h = np.sqrt(1 / 3)
    r = np.sqrt(1 - h**2)
    top = 2 * np.pi * np.arange(4) / 4
    bottom = top + np.pi / 4
    t = np.concatenate([top, bottom])
    z = np.concatenate([np.full(4, h), np.full(4, -h)])
    return np.stack([r * np.cos(t), r * np.sin(t), z])


POLYTOPES = {  # name -> (builder, exact D_i)
    "digon": (digon, 1 / 2),
    "triangle": (triangle, 2 / 3),
    "pentagon": (pentagon, 2 / 5),
    "tetrahedron": (tetrahedron, 3 / 4),
    "square_antiprism": (square_antiprism, 3 / 8),
}


# ---------------------------------------------------------------------------------------------
# Whole weight matrices with or without a mechanism, for the claims' tests


def square() -> np.ndarray:
    """m=2, n=4: two antipodal pairs on orthogonal axes (features 0, 2 on one axis, 1, 3 on the
    other); D_i = 1/2."""
    return regular_polygon(4)


def place(blocks: list[np.ndarray], m: int, n: int) -> np.ndarray:
    """W (m, n) with the polytopes `blocks` (each (m_b, n_b)) on disjoint hidden dimensions and
    disjoint features, in order from dimension 0 and feature 0; every other entry 0."""
    W = np.zeros((m, n))
    r = c = 0
    for B in blocks:
        mb, nb = B.shape
        if r + mb > m or c + nb > n:
            raise ValueError(f"blocks need more than {m} dimensions / {n} features")
        W[r:r + mb, c:c + nb] = B
        r, c = r + mb, c + nb
    return W


def dedicated(m: int, n: int, features=None) -> np.ndarray:
    """W (m, n): `features` (default the first m) each on its own hidden axis, unit norm; no
    superposition."""
    W = np.zeros((m, n))
    for axis, i in enumerate(range(m) if features is None else features):
        W[axis, i] = 1.0
    return W


def generic(m: int, n: int, k: int, seed: int = 0) -> np.ndarray:
    """W (m, n): the first k features on random unit directions of R^m (superposition without
    any regular geometry: their D_i spread continuously), the rest 0."""
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(m, k))
    W = np.zeros((m, n))
    W[:, :k] = V / np.linalg.norm(V, axis=0)
    return W


def tight_frame(m: int, n: int, k: int, seed: int = 0) -> np.ndarray:
    """W (m, n): the first k features on an equal-norm tight frame of R^m (alternating projections
    from random directions), the rest 0. Every one of the k has D_i = m / k with no regular
    polytope: a set of D_i values on a sticky fraction without its geometry."""
    F = np.random.default_rng(seed).normal(size=(m, k))
    for _ in range(200):
        F /= np.linalg.norm(F, axis=0)
        u, _, vt = np.linalg.svd(F, full_matrices=False)
        F = u @ vt
    W = np.zeros((m, n))
    W[:, :k] = F / np.linalg.norm(F, axis=0)
    return W


def phase_solution_n2m1(r: float, s: float) -> np.ndarray:
    """The analytic optimum of n=2, m=1 (second feature of relative importance r, density s):
    an antipodal pair below the boundary s < 4r/(2+5r) (r <= 1) or 4/(5+2r) (r >= 1), else the
    more important feature alone. (1, 2)."""
    boundary = 4 * r / (2 + 5 * r) if r <= 1 else 4 / (5 + 2 * r)
    if s < boundary:
        return np.array([[1.0, -1.0]])
    return np.array([[1.0, 0.0]]) if r < 1 else np.array([[0.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# Feature pairs in the plane (features 2s and 2s + 1 form set s), for the correlated-feature claims


def pairs_on_circle(sets: int, within_deg: float, phase_deg: float = 0.0) -> np.ndarray:
    """W (2, 2 sets): pair s centred at phase + 360 s / sets, its two unit features within_deg
    apart (the first at -within/2, the second at +within/2). within 0: every pair collapsed onto
    one direction (its principal component); 3 sets at 60: a hexagon with each pair side by side;
    180: each pair antipodal."""
    centre = np.radians(phase_deg + 360.0 * np.arange(sets) / sets)
    half = np.radians(within_deg) / 2
    t = np.stack([centre - half, centre + half], axis=1).ravel()
    return np.stack([np.cos(t), np.sin(t)])


def local_bases() -> np.ndarray:
    """m=2, two pairs, each pair orthogonal (features 0, 1 at 0° and 90°; 2, 3 at 180° and 270°):
    the interference lies between the pairs, 0 with 2 and 1 with 3 antipodal."""
    return regular_polygon(4)


def antipodal_pairs() -> np.ndarray:
    """m=2, two pairs, each pair antipodal on its own axis (features 0, 1 at 0° and 180°; 2, 3 at
    90° and 270°): the interference lies within the pairs."""
    return regular_polygon(4)[:, [0, 2, 1, 3]]


def collapsed_pairs(m: int, sets: int, kept: int) -> np.ndarray:
    """W (m, 2 sets): the first `kept` pairs (kept <= m) each collapsed onto its own axis with
    norm 1/sqrt(2) per feature (x'_i then reads the pair's sum / 2), the rest dropped: the
    linear model's solution, the principal components of `kept` correlated pairs."""
    W = np.zeros((m, 2 * sets))
    for s in range(kept):
        W[s, 2 * s:2 * s + 2] = 1 / np.sqrt(2)
    return W


def figure_set(cfg, weights: dict | None = None, n_instances: int = 1, seed: int = 0) -> dict:
    """Params of the whole figure set of `cfg` (as `analyses.analyse_params` reads them: leaves
    (N, K, ...)): every stack at its random init (the training init, instance i from seed + i),
    except the stacks named in `weights`, whose W is given, (K, m, n) for every instance or
    (N, K, m, n), with zero bias."""
    stack_list = sp.stacks(cfg)
    inits = [sp.init_params(stack_list, jax.random.PRNGKey(seed + i)) for i in range(n_instances)]
    params = jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *inits)
    for s in stack_list:
        if s.name in (weights or {}):
            W = np.asarray(weights[s.name], np.float32)
            if W.shape != (n_instances, s.k, s.m, s.n):
                W = np.broadcast_to(W, (n_instances, s.k, s.m, s.n))
            params[s.name]["W"] = W.copy()
            params[s.name]["b"] = np.zeros((n_instances, s.k, s.n), np.float32)
    return params

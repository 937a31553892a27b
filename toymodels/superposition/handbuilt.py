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

import numpy as np


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

"""The real Fourier basis of Z_p (p odd), as used by Nanda et al. (2023).

Row 0 is the constant 1/sqrt(p); for k = 1..(p-1)//2, row 2k-1 is cos(2πkx/p) and row 2k is
sin(2πkx/p), each scaled to unit norm. The p×p matrix is orthonormal, so a vector's
coefficients are `basis @ v` and `basis.T @ coeffs` inverts them.

The rows are read off the real irreducible representations of the cyclic group C_p
(`toymodels.algebra.irreps`): the trivial irrep gives the constant row, and the
rotation irrep ρ_k(x) = [[cos, -sin], [sin, cos]](2πkx/p) gives cos k = ρ_k(x)[0, 0] and
sin k = ρ_k(x)[1, 0], each normalised. Fourier analysis on Z_p is the representation theory of C_p.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from toymodels.algebra.irreps import irrep_index, irreps


def n_freqs(p: int) -> int:
    """Number of non-constant frequencies, (p-1)//2."""
    return (p - 1) // 2


def freq_rows(k):
    """Rows (cos, sin) of frequency k (k >= 1, int or int array) in the basis: (2k-1, 2k)."""
    return 2 * k - 1, 2 * k


def fourier_basis(p: int) -> tuple[jnp.ndarray, list[str]]:
    """Orthonormal Fourier basis of R^p as rows (float32), and row names ("const", "cos k", "sin k")."""
    basis, names = _basis_np(p)
    return jnp.asarray(basis, jnp.float32), list(names)


@functools.lru_cache(maxsize=16)
def _basis_np(p: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if p < 3 or p % 2 == 0:
        raise ValueError(f"fourier_basis needs an odd p >= 3 (got {p})")
    reps = irreps(f"C{p}")
    rows = [reps[irrep_index(f"C{p}", "trivial")].matrices[:, 0, 0]]
    names = ["const"]
    for k in range(1, n_freqs(p) + 1):
        rho = reps[irrep_index(f"C{p}", f"k={k}")].matrices
        rows += [rho[:, 0, 0], rho[:, 1, 0]]
        names += [f"cos {k}", f"sin {k}"]
    basis = np.stack([r / np.linalg.norm(r) for r in rows])
    basis.setflags(write=False)
    return basis, tuple(names)


def fourier_transform_2d(x: jnp.ndarray, p: int) -> jnp.ndarray:
    """F x F^T over the first two axes of x, which is (p*p, ...) flattened as (a, b) row-major
    or (p, p, ...). Returns (p, p, ...): entry [i, j] is the coefficient of basis row i in a
    times basis row j in b. Orthonormal, so `inverse_fourier_transform_2d` inverts it."""
    if x.shape[0] == p * p:
        x = jnp.reshape(x, (p, p) + x.shape[1:])
    elif x.shape[:2] != (p, p):
        raise ValueError(f"expected leading shape ({p * p},) or ({p}, {p}), got {x.shape}")
    F, _ = fourier_basis(p)
    return jnp.einsum("ia,jb,ab...->ij...", F, F, x)


def inverse_fourier_transform_2d(c: jnp.ndarray, p: int) -> jnp.ndarray:
    """F^T c F over the first two axes of c (p, p, ...): back to (a, b) coordinates."""
    F, _ = fourier_basis(p)
    return jnp.einsum("ia,jb,ij...->ab...", F, F, c)


def frequency_norms(row_norms: jnp.ndarray) -> jnp.ndarray:
    """Per-basis-row norms (p, ...) -> per-frequency norms ((p-1)//2, ...), sqrt(cos² + sin²).
    The constant row is dropped."""
    return jnp.sqrt(row_norms[1::2] ** 2 + row_norms[2::2] ** 2)

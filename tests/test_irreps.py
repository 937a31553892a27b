"""Every real irrep of every group built: homomorphisms, orthogonal, characters orthogonal, the
irrep spans orthogonal and complete in R^|G| (Σ d²/e = |G|), and S5/S6 facts."""

import numpy as np
import pytest

from toymodels.algebra import fourier
from toymodels.algebra import irreps as R
from toymodels.algebra.groups import group
from toymodels.errors import ConfigError

ALL = ["C1", "C2", "C7", "C12", "D3", "D5", "D6", "S2", "S3", "S4", "S5", "S6", "A3", "A4", "A5", "A6",
       "C3xS3", "C2xC2xC2", "C3xC3", "D4xC2"]


def _sample_pairs(n, k=3000):
    if n * n <= k:
        a, b = np.divmod(np.arange(n * n), n)
        return a, b
    return np.random.default_rng(0).integers(0, n, (2, k))


@pytest.mark.parametrize("name", ALL)
def test_irreps_are_complete_orthogonal_homomorphisms(name):
    g = group(name)
    reps = R.irreps(g)
    a, b = _sample_pairs(g.order)
    for r in reps:
        M = r.matrices
        assert np.abs(M[g.table[a, b]] - M[a] @ M[b]).max() < 1e-9, r.name  # ρ(ab) = ρ(a)ρ(b)
        assert np.abs(np.einsum("gji,gjk->gik", M, M) - np.eye(r.dim)).max() < 1e-9, r.name  # orthogonal
    # Σ d²/e = |G| and characters orthogonal with <χ, χ> = e
    assert sum(r.dim**2 // r.endo_dim for r in reps) == g.order
    chi = np.stack([r.character for r in reps])
    assert np.allclose(chi @ chi.T / g.order, np.diag([r.endo_dim for r in reps]), atol=1e-9)
    # irrep spans orthogonal and complete: the stacked bases are an orthogonal |G|x|G| matrix
    B, owner = R.projection_basis(g)
    assert B.shape == (g.order, g.order)
    assert np.allclose(B @ B.T, np.eye(g.order), atol=1e-9)
    # one irrep per real character class: number of irreps = classes of real-conjugacy (checked
    # for all-real groups below); names unique
    assert len({r.name for r in reps}) == len(reps)
    assert reps[0].name == "trivial"


@pytest.mark.parametrize("name", ["C7", "D5", "D6", "S4", "S5", "A4", "A5", "C3xS3"])
def test_general_method_agrees_with_family_construction(name):
    g = group(name)
    key = lambda reps: sorted(tuple(np.round(r.character, 6) + 0.0) for r in reps)  # noqa: E731
    assert key(R.general_irreps(g)) == key(R.irreps(g))


def test_s5_dims_names_and_transposition_characters():
    g = group("S5")
    reps = R.irreps(g)
    t = g.labels.index("(0 1)")
    assert [r.dim for r in reps] == [1, 1, 4, 4, 5, 5, 6]
    assert [r.name for r in reps] == ["trivial", "sign", "standard", "standard_sign", "(3,2)", "(2,2,1)", "(3,1,1)"]
    assert [round(r.character[t]) for r in reps] == [1, -1, 2, -2, 1, -1, 0]
    assert all(r.kind == "real" for r in reps)
    ct, classes = R.character_table(g)
    assert ct.shape == (7, 7) and len(classes) == 7
    assert R.irrep_index(g, "(4,1)") == 2  # partitions are aliases


def test_s6_has_all_eleven_irreps():
    reps = R.irreps("S6")
    assert len(reps) == 11
    assert sorted(r.dim for r in reps) == [1, 1, 5, 5, 5, 5, 9, 9, 10, 10, 16]


def test_complex_type_irreps_are_realified():
    for name, kinds in [("C7", ["real"] + ["complex"] * 3), ("A4", ["real", "complex", "real"])]:
        assert [r.kind for r in R.irreps(name)] == kinds
    assert [r.span_dim for r in R.irreps("C7")] == [1, 2, 2, 2]


def test_fourier_basis_is_read_off_cp_irreps():
    p = 13
    F, names = fourier.fourier_basis(p)
    x = np.arange(p)
    assert names[:3] == ["const", "cos 1", "sin 1"]
    cos3 = np.cos(2 * np.pi * 3 * x / p)
    assert np.allclose(np.asarray(F[5]), cos3 / np.linalg.norm(cos3), atol=1e-6)
    assert np.allclose(np.asarray(F @ F.T), np.eye(p), atol=1e-5)


def test_unknown_irrep_name():
    with pytest.raises(ConfigError, match="unknown irrep 'standard' of C7; known: trivial, k=1"):
        R.irrep_index("C7", "standard")

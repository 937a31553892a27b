"""Superposition analyses on hand-placed weights whose answers are known exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels.superposition import analyses as A
from toymodels.superposition import handbuilt as H
from toymodels.superposition.handbuilt import (
    POLYTOPES,
    place,
    regular_polygon,
    square_antiprism,
    tetrahedron,
    triangle,
)


@pytest.mark.parametrize("name", list(POLYTOPES))
def test_polytope_dimensionality_is_exact(name):
    build, d = POLYTOPES[name]
    W = jnp.asarray(build(), jnp.float32)
    np.testing.assert_allclose(A.feature_dimensionality(W), d, atol=1e-5)
    np.testing.assert_allclose(A.dimensions_per_feature(W), d, atol=1e-5)  # unit columns: D* = m/n too
    np.testing.assert_allclose(A.feature_norms(W), 1.0, atol=1e-6)


def test_dimensionality_of_dedicated_unrepresented_and_mixed_features():
    # feature 0 dedicated (e0), features 1,2 an antipodal pair on e1, feature 3 absent
    W = jnp.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.8, -0.8, 0.0]])
    np.testing.assert_allclose(A.feature_dimensionality(W), [1.0, 0.5, 0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(A.feature_norms(W), [1.0, 0.8, 0.8, 0.0], atol=1e-6)
    np.testing.assert_allclose(A.polysemanticity(W), [0.0, 0.8, 0.8, 0.0], atol=1e-6)
    np.testing.assert_allclose(A.interference(W)[1, 2], -0.8, atol=1e-6)
    np.testing.assert_allclose(A.dimensions_per_feature(W), 2 / (1 + 2 * 0.64), atol=1e-6)
    np.testing.assert_array_equal(A.represented(W), [True, True, True, False])


def test_dimensionality_counts_a_weak_feature_as_a_small_share():
    # a feature of norm 0.1 along a dedicated feature's axis: D_i = 0.01 / (0.01 + 1)
    W = jnp.array([[1.0, 0.1]])
    np.testing.assert_allclose(A.feature_dimensionality(W)[1], 0.01 / 1.01, rtol=1e-5)


def test_polygon_detection():
    pent = A.polygon_2d(jnp.asarray(regular_polygon(5, 0.3), jnp.float32))
    assert int(pent.sides) == 5 and int(pent.n_represented) == 5
    np.testing.assert_allclose(pent.gaps_deg, 72.0, atol=1e-3)
    # two orthogonal features and three absent: not a regular polygon (gaps 90 and 270)
    W = jnp.array([[1.0, 0.0, 0.0, 0.1, 0.0], [0.0, 1.0, 0.0, 0.0, 0.2]])
    r = A.polygon_2d(W)
    assert int(r.n_represented) == 2 and int(r.sides) == 0
    np.testing.assert_allclose(sorted(np.asarray(r.gaps_deg)[:2]), [90.0, 270.0], atol=1e-3)
    # an antipodal pair is a 2-gon; a pentagon with one vertex moved 20 degrees is not a pentagon
    assert int(A.polygon_2d(jnp.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])).sides) == 2
    t = 2 * np.pi * np.arange(5) / 5
    t[2] += np.radians(20)
    assert int(A.polygon_2d(jnp.asarray(np.stack([np.cos(t), np.sin(t)]), jnp.float32)).sides) == 0


def test_polygon_is_vmappable():
    Ws = jnp.asarray(np.stack([regular_polygon(5), regular_polygon(5) * [[1], [0]]]), jnp.float32)
    out = jax.vmap(A.polygon_2d)(Ws)
    assert out.sides.tolist() == [5, 0]


def test_sticky_lines_find_clusters_and_not_a_smooth_spread():
    rng = np.random.default_rng(0)
    smooth = rng.uniform(0.2, 1.0, 400)
    # background density 500 per unit D: ~20 features within 0.02 of any fraction; lines add 60 and 40
    lines = np.concatenate([smooth, np.full(60, 0.5) + rng.normal(0, 0.003, 60), np.full(40, 0.4)])
    out = A.sticky_lines(jnp.asarray(lines), jnp.ones(lines.shape, bool))
    conc = dict(zip(A.STICKY_FRACTIONS, np.asarray(out.concentration)))
    assert conc[0.5] > 3 and conc[0.4] > 2.5  # expected (20 + 60) / 20 = 4 and (20 + 40) / 20 = 3
    assert conc[2 / 3] < 2 and conc[3 / 4] < 2
    smooth_only = A.sticky_lines(jnp.asarray(smooth), jnp.ones(smooth.shape, bool))
    assert float(jnp.max(smooth_only.concentration)) < 2
    # a line at 3/8 (0.025 from 2/5) lies in the plain flank of 2/5 and hides it there; with the
    # other fractions' windows left out of the flanks, 2/5 stays a line next to it
    both = np.concatenate([smooth, np.full(40, 0.4), np.full(80, 0.375)])
    i25, i38 = A.STICKY_FRACTIONS.index(2 / 5), A.STICKY_FRACTIONS.index(3 / 8)
    plain = np.asarray(A.sticky_lines(jnp.asarray(both), jnp.ones(both.shape, bool)).concentration)
    assert plain[i25] < 2  # ~57 features in the window (0.04 wide), ~111 in its flanks (0.08 wide, the 3/8 line)
    conc = np.asarray(A.sticky_lines(jnp.asarray(both), jnp.ones(both.shape, bool), leave_out_others=True)
                      .concentration)
    assert conc[i25] > 2.5 and conc[i38] > 3
    # masked-out values do not count
    masked = A.sticky_lines(jnp.asarray(lines), jnp.asarray(np.arange(lines.size) < 400))
    assert float(masked.concentration[3]) < 2 and int(masked.count[3]) < 30


def test_feature_phase_on_the_three_n2_m1_solutions():
    assert int(A.feature_phase(jnp.array([[1.0, 0.0]]))) == A.NOT_REPRESENTED
    assert int(A.feature_phase(jnp.array([[0.0, 1.0]]))) == A.DEDICATED
    assert int(A.feature_phase(jnp.array([[1.0, -1.0]]))) == A.SUPERPOSITION
    # n=3, m=2: last feature on its own axis vs sharing a triangle
    assert int(A.feature_phase(jnp.array([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]))) == A.DEDICATED
    assert int(A.feature_phase(jnp.asarray(regular_polygon(3), jnp.float32))) == A.SUPERPOSITION


def test_analytic_boundary_n2m1():
    np.testing.assert_allclose(A.analytic_boundary_n2m1(1.0), 4 / 7, rtol=1e-6)
    np.testing.assert_allclose(A.analytic_boundary_n2m1(0.1), 0.4 / 2.5, rtol=1e-6)
    np.testing.assert_allclose(A.analytic_boundary_n2m1(10.0), 4 / 25, rtol=1e-6)
    r = np.geomspace(0.1, 10, 41)
    b = np.asarray(A.analytic_boundary_n2m1(r))
    assert np.all(np.diff(b[:21]) > 0) and np.all(np.diff(b[20:]) < 0)  # peak at r = 1
    assert int(A.analytic_phase_n2m1(0.5, 0.9)) == A.NOT_REPRESENTED
    assert int(A.analytic_phase_n2m1(2.0, 0.9)) == A.DEDICATED
    assert int(A.analytic_phase_n2m1(2.0, 0.05)) == A.SUPERPOSITION


def test_neuron_quantities_on_a_hand_built_absolute_value_circuit():
    # |x_i| = ReLU(x_i) + ReLU(-x_i): neurons 2i, 2i+1 read +e_i and -e_i; neuron 6 reads two features
    W = np.zeros((7, 3))
    for i in range(3):
        W[2 * i, i], W[2 * i + 1, i] = 1.0, -1.0
    W[6] = [0.7, 0.7, 0.0]
    out = A.antipodal_neuron_pairs(jnp.asarray(W))
    assert int(out.n_pairs) == 3
    assert np.asarray(out.partner)[:6].tolist() == [1, 0, 3, 2, 5, 4]
    np.testing.assert_array_equal(A.neuron_feature_counts(jnp.asarray(W)), [1, 1, 1, 1, 1, 1, 2])
    # no pairs among orthogonal neurons
    assert int(A.antipodal_neuron_pairs(jnp.eye(3)).n_pairs) == 0


def test_summary_is_vmappable_over_instances_and_models():
    W = np.stack([POLYTOPES["pentagon"][0](), POLYTOPES["pentagon"][0]() * 0.1])[None]  # (1, 2, 2, 5)
    s = jax.vmap(jax.vmap(A.summary))(jnp.asarray(W, jnp.float32))
    assert s.dimensionality.shape == (1, 2, 5) and s.d_star.shape == (1, 2)
    np.testing.assert_allclose(s.d_star[0], [0.4, 40.0], rtol=1e-5)
    assert s.n_represented[0].tolist() == [5, 0]


def _planted(blocks: list[np.ndarray], m: int = 20, n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The polytopes `blocks` on disjoint hidden dimensions, the rest of the m dimensions each one
    dedicated feature, the remaining features 0; hidden space rotated and features shuffled at
    random. Returns W (m, n) and where each original feature went."""
    rng = np.random.default_rng(seed)
    used = sum(b.shape[0] for b in blocks)
    W = place(blocks + [np.eye(m - used)], m, n)
    Q, _ = np.linalg.qr(rng.normal(size=(m, m)))
    perm = rng.permutation(n)
    return (Q @ W)[:, perm], np.argsort(perm)


def test_pentagons_finds_a_planted_pentagon_among_orthogonal_features():
    W, where = _planted([regular_polygon(5, 0.4) * 0.9])
    out = A.pentagons(jnp.asarray(W, jnp.float32))
    assert int(out.count) == 1
    assert sorted(np.flatnonzero(np.asarray(out.member))) == sorted(where[:5])
    np.testing.assert_allclose(np.asarray(A.feature_dimensionality(jnp.asarray(W)))[where[:5]], 0.4, atol=1e-5)
    # two pentagons and an antipodal pair: two found
    W2, _ = _planted([regular_polygon(5), regular_polygon(5, 1.0), np.array([[1.0, -1.0]])])
    assert int(A.pentagons(jnp.asarray(W2, jnp.float32)).count) == 2


def test_pentagons_finds_none_without_one():
    # other polytopes (square: 4 features at 90 degrees; antiprism D = 3/8): no pentagon
    W, _ = _planted([regular_polygon(4), triangle(), tetrahedron(), square_antiprism(), np.array([[1.0, -1.0]])])
    assert int(A.pentagons(jnp.asarray(W, jnp.float32)).count) == 0
    # five features in a plane with one vertex moved 20 degrees: not a pentagon
    t = 2 * np.pi * np.arange(5) / 5
    t[2] += np.radians(20)
    W, _ = _planted([np.stack([np.cos(t), np.sin(t)])])
    assert int(A.pentagons(jnp.asarray(W, jnp.float32)).count) == 0
    # a regular pentagon with one vertex tilted 45 degrees out of its plane: not planar
    P = np.vstack([regular_polygon(5), np.zeros(5)])
    P[2, 0] = 1.0
    W, _ = _planted([P / np.linalg.norm(P, axis=0)])
    assert int(A.pentagons(jnp.asarray(W, jnp.float32)).count) == 0
    # a pentagon whose plane another feature leans into (cos 0.5 with it): not isolated
    L = np.zeros((3, 6))
    L[:2, :5] = regular_polygon(5)
    L[:, 5] = [0.5, 0.0, np.sqrt(0.75)]
    W, _ = _planted([L])
    assert int(A.pentagons(jnp.asarray(W, jnp.float32)).count) == 0
    # an equal-norm tight frame of 50 features in 20 dimensions: every D_i = 2/5, no pentagon
    F = H.tight_frame(20, 50, 50)
    np.testing.assert_allclose(A.feature_dimensionality(jnp.asarray(F)), 0.4, atol=0.01)
    assert int(A.pentagons(jnp.asarray(F, jnp.float32)).count) == 0
    # too few represented features (weak columns are ignored)
    assert int(A.pentagons(jnp.asarray(regular_polygon(5) * 0.3, jnp.float32)).count) == 0


def test_pentagons_is_vmappable():
    W, _ = _planted([regular_polygon(5)])
    Ws = jnp.asarray(np.stack([W, W * 0.1]), jnp.float32)
    assert jax.jit(jax.vmap(A.pentagons))(Ws).count.tolist() == [1, 0]

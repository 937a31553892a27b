"""The superposition task: the model (module and stacked fast path), data sampling, loss and config checks."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels.errors import ConfigError
from toymodels.models.module import params_of
from toymodels.superposition import model as sp
from toymodels.superposition.config import Config


def _stack_params(kind, k, n, m, key):
    """K models' module inits, stacked: leaves (K, ...)."""
    return jax.vmap(lambda kk: params_of(sp.SuperpositionModel(kind, n, m, kk)))(jax.random.split(key, k))


def _module_forward(kind, params, x):
    """The module's forward per model over a stack: x (K, n, B) -> (K, n, B)."""
    return jax.vmap(lambda p, xk: sp.bind(kind, p)(xk.T).T)(params, x)


# (3, 2), (5, 2): unrolled (n*m <= UNROLL_MAX); (12, 7), (12, 2): einsum; each pair with and
# without the Gram matrix for the tied kinds (gram_pays)
@pytest.mark.parametrize("kind", sp.KINDS)
@pytest.mark.parametrize("n, m", [(3, 2), (5, 2), (12, 7), (12, 2)])
def test_stack_forward_is_the_module_per_model_forward_and_gradient(kind, n, m):
    K, B = 3, 16
    params = _stack_params(kind, K, n, m, jax.random.PRNGKey(1))
    params["b"] = jax.random.normal(jax.random.PRNGKey(2), (K, n)) * 0.1
    x = jax.random.uniform(jax.random.PRNGKey(3), (K, n, B), minval=-1, maxval=1)
    np.testing.assert_allclose(sp.stack_forward(kind, params, x), _module_forward(kind, params, x), atol=1e-5)
    probe = jax.random.normal(jax.random.PRNGKey(4), (K, n, B))
    grads = [jax.grad(lambda p, f=f: jnp.sum(probe * f(kind, p, x)))(params) for f in (sp.stack_forward, _module_forward)]
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), *grads)


def test_module_matches_the_paper_formulas_on_hand_weights():
    W = jnp.array([[1.0, -1.0, 0.5]])  # m=1, n=3
    b = jnp.array([0.0, -0.1, 0.2])
    x = jnp.array([0.3, 0.5, -0.2])
    h = W @ x

    def out(kind, **params):
        return sp.bind(kind, {"W": W, "b": b, **params})(x)

    np.testing.assert_allclose(out("linear"), W.T @ h + b, atol=1e-6)
    np.testing.assert_allclose(out("relu_output"), jnp.maximum(W.T @ h + b, 0), atol=1e-6)
    np.testing.assert_allclose(out("hidden_relu"), jnp.maximum(W.T @ jnp.maximum(h, 0) + b, 0), atol=1e-6)
    W_out = jnp.array([[2.0], [0.0], [1.0]])
    np.testing.assert_allclose(out("absolute_value", W_out=W_out), jnp.maximum(W_out @ jnp.maximum(h, 0) + b, 0),
                               atol=1e-6)


@pytest.mark.parametrize("kind, names", [
    ("linear", {"hidden", "out"}),
    ("relu_output", {"hidden", "out_pre", "out"}),
    ("hidden_relu", {"hidden", "mlp_post", "out_pre", "out"}),
    ("absolute_value", {"hidden", "mlp_post", "out_pre", "out"}),
])
def test_activation_names(kind, names):
    n, m, B = 5, 2, 7
    params = params_of(sp.SuperpositionModel(kind, n, m, jax.random.PRNGKey(0)))
    x = jax.random.uniform(jax.random.PRNGKey(1), (B, n))
    out, cache = sp.run_with_cache(kind, params, x)
    assert set(cache) == names
    assert cache["hidden"].shape == (B, m) and cache["out"].shape == (B, n)
    np.testing.assert_array_equal(cache["out"], out)
    if "out_pre" in names:
        np.testing.assert_array_equal(cache["out"], jax.nn.relu(cache["out_pre"]))


def test_independent_features_have_the_papers_distribution():
    density = jnp.array([[1.0, 0.3, 0.05], [0.5, 0.5, 0.5]])
    x = np.asarray(sp.sample_features(jax.random.PRNGKey(0), density, 200_000))
    assert x.shape == (2, 3, 200_000)
    np.testing.assert_allclose((x != 0).mean(-1), density, atol=0.005)
    nz = x[0, 1][x[0, 1] != 0]
    assert nz.min() >= 0 and nz.max() < 1 and abs(nz.mean() - 0.5) < 0.01 and abs(nz.var() - 1 / 12) < 0.003
    s = np.asarray(sp.sample_features(jax.random.PRNGKey(1), density, 200_000, signed=True))
    nz = s[1, 0][s[1, 0] != 0]
    assert nz.min() >= -1 and nz.max() < 1 and abs(nz.mean()) < 0.01 and abs(nz.var() - 1 / 3) < 0.01
    # different features of one example are independent
    a, b = x[1, 0] != 0, x[1, 1] != 0
    assert abs((a & b).mean() - 0.25) < 0.005


def test_correlated_and_anticorrelated_features():
    density = jnp.full((1, 6), 0.2)
    c = np.asarray(sp.sample_features(jax.random.PRNGKey(0), density, 100_000, correlation="correlated", set_size=3))
    on = c[0] != 0
    assert (on[0] == on[1]).all() and (on[1] == on[2]).all() and (on[3] == on[5]).all()
    np.testing.assert_allclose(on.mean(-1), 0.2, atol=0.005)
    assert abs((on[0] & on[3]).mean() - 0.04) < 0.003  # different sets stay independent
    a = np.asarray(sp.sample_features(jax.random.PRNGKey(1), density, 100_000, correlation="anticorrelated"))
    on = a[0] != 0
    assert not (on[0] & on[1]).any() and not (on[4] & on[5]).any()
    np.testing.assert_allclose(on.mean(-1), 0.2, atol=0.005)


def test_loss_is_importance_weighted_mean_squared_error():
    g = sp.ModelStack.over_densities("t", "relu_output", 4, 2, np.array([1.0, 0.5]), [1.0, 0.5, 0.25, 0.0])
    data = {"density": jnp.asarray(g.density), "importance": jnp.asarray(g.importance)}
    zero = {"W": jnp.zeros((2, 2, 4)), "b": jnp.zeros((2, 4))}
    got = np.asarray(sp.stack_losses(g, zero, data, jax.random.PRNGKey(0), 200_000))
    # output 0: loss = sum_i I_i E[x_i^2] / n with E[x^2] = p / 3
    np.testing.assert_allclose(got, 1.75 * np.array([1.0, 0.5]) / 3 / 4, rtol=0.01)
    # a model that copies the first two features exactly loses only on features 2 and 3
    W = jnp.broadcast_to(jnp.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]), (2, 2, 4))
    got = np.asarray(sp.stack_losses(g, {"W": W, "b": jnp.zeros((2, 4))}, data, jax.random.PRNGKey(0), 200_000))
    np.testing.assert_allclose(got, 0.25 * np.array([1.0, 0.5]) / 3 / 4, rtol=0.02)


def test_module_init_is_xavier_normal_from_the_two_halves_of_its_key_with_zero_bias():
    key = jax.random.PRNGKey(0)
    p = params_of(sp.SuperpositionModel("absolute_value", 40, 10, key))
    assert p["W"].shape == (10, 40) and p["W_out"].shape == (40, 10) and p["b"].shape == (40,)
    k_w, k_out = jax.random.split(key)
    std = math.sqrt(2 / 50)
    np.testing.assert_array_equal(p["W"], std * jax.random.normal(k_w, (10, 40)))
    np.testing.assert_array_equal(p["W_out"], std * jax.random.normal(k_out, (40, 10)))
    assert not np.asarray(p["b"]).any()
    assert set(params_of(sp.SuperpositionModel("relu_output", 40, 10, key))) == {"W", "b"}


def test_training_init_is_xavier_normal_with_zero_bias_for_every_stack():
    stacks = (sp.ModelStack.over_densities("a", "absolute_value", 40, 10, np.ones(25), np.ones(40)),
              sp.ModelStack.over_densities("b", "linear", 3, 1, np.ones(2), np.ones(3)))
    p = sp.init_params(stacks, jax.random.PRNGKey(0))
    assert p["a"]["W"].shape == (25, 10, 40) and p["a"]["W_out"].shape == (25, 40, 10) and set(p["b"]) == {"W", "b"}
    for w in (p["a"]["W"], p["a"]["W_out"]):
        np.testing.assert_allclose(np.std(w), np.sqrt(2 / 50), rtol=0.03)
    assert not np.asarray(p["a"]["b"]).any() and not np.asarray(p["b"]["b"]).any()


def test_stacks_cover_every_figure_and_the_papers_grids():
    cfg = Config()
    gs = {g.name: g for g in sp.stacks(cfg)}
    assert (gs["geometry"].n, gs["geometry"].m, gs["geometry"].k) == (200, 20, 20)
    np.testing.assert_allclose(gs["intro"].density[:, 0], 20.0 ** -np.linspace(0, 1, 10), rtol=1e-5)
    np.testing.assert_allclose(gs["lvr_relu"].importance[0], 0.7 ** np.arange(20), rtol=1e-5)
    np.testing.assert_allclose(gs["abs"].importance[0, :2], [0.8, 0.64], rtol=1e-5)
    ph = gs["phase_2_1"]
    assert ph.grid == (3, 12, 12) and ph.k == 432
    r, s = sp.phase_axes(cfg)
    t, i, j = 1, 4, 7
    k = np.ravel_multi_index((t, i, j), ph.grid)
    np.testing.assert_allclose(ph.importance[k], [1.0, r[i]], rtol=1e-5)
    np.testing.assert_allclose(ph.density[k], [s[j], s[j]], rtol=1e-5)


@pytest.mark.parametrize("change, message", [
    ({"geometry_m": 300}, "geometry_m=300 must be < geometry_n=200"),
    ({"abs_pair_sparsity": 1.0}, "abs_pair_sparsity must lie in [0, 1)"),
    ({"intro_sparsity_max": -0.1}, "intro_sparsity_max must lie in [0, 1)"),
    ({"batch": 0}, "batch must be a positive integer"),
    ({"wtw_n": -3}, "wtw_n must be a positive integer"),
    ({"phase_density_min": 1.5}, "phase_density_min must lie in (0, 1)"),
    ({"intro_m": 3}, "intro_m must be 2"),
])
def test_config_rejects_bad_values_in_one_line(change, message):
    with pytest.raises(ConfigError) as e:
        dataclasses.replace(Config(), **change).validate()
    assert message in str(e.value) and "\n" not in str(e.value)

"""The SAE model: padding is invisible, the variants do what they say, the sources have the
structure they declare, and a grid over every variant's settings trains each SAE once."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels.pipeline import resolve
from toymodels.saes import model as S
from toymodels.saes.config import Config


def test_a_padded_sae_is_the_unpadded_one_forward_and_in_gradient():
    key, d, m = jax.random.PRNGKey(3), 8, 12
    small, wide = S.init_params(key, d, m), S.init_params(key, d, 32)
    np.testing.assert_allclose(wide["W_dec"][:m], small["W_dec"], atol=1e-6)  # each latent from its own key
    # move away from init so the comparison is not of symmetric zeros
    wide = {**wide, "b_enc": jax.random.normal(jax.random.PRNGKey(4), (32,)) * 0.1,
            "b_dec": jax.random.normal(jax.random.PRNGKey(5), (d,)) * 0.1}
    small = {k: (v[..., :m] if k in ("b_enc", "log_threshold", "W_enc") else v[:m] if k == "W_dec" else v)
             for k, v in wide.items()}
    x = jax.random.normal(jax.random.PRNGKey(6), (64, d))
    mask = jnp.arange(32) < m
    for variant, kw in (("relu", {"coef": 0.1}), ("topk", {"k": 3, "k_max": 4}), ("jumprelu", {"l0_coef": 0.1})):
        lp, gp = jax.value_and_grad(S.loss)(wide, x, variant, mask=mask, **kw)
        lu, gu = jax.value_and_grad(S.loss)(small, x, variant, **kw)
        assert lp == pytest.approx(float(lu), rel=1e-5), variant
        np.testing.assert_allclose(gp["W_dec"][:m], gu["W_dec"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(gp["W_enc"][:, :m], gu["W_enc"], rtol=1e-4, atol=1e-6)
        assert not np.any(gp["W_dec"][m:]) and not np.any(gp["b_enc"][m:]), variant  # padding never learns


def test_traced_variant_codes_equal_the_named_variants():
    params = S.init_params(jax.random.PRNGKey(0), 8, 16)
    x = jax.random.normal(jax.random.PRNGKey(1), (32, 8))
    for name in ("relu", "topk", "jumprelu"):
        named = S.encode(params, x, name, k=3)
        traced = jax.jit(lambda v: S.encode(params, x, v, k=jnp.float32(3.0), k_max=4))(S.variant_code(name))
        np.testing.assert_allclose(named, traced, atol=1e-6)
    topk = S.encode(params, x, "topk", k=3)
    assert np.all((topk != 0).sum(axis=1) <= 3)
    jump = S.encode(params, x, "jumprelu")
    assert np.all((jump == 0) | (jump > S.THRESHOLD_INIT))  # below its threshold a latent is silent


def test_the_jumprelu_threshold_learns_through_the_straight_through_kernel():
    z = jnp.array([[0.10, 0.30, 0.50]])
    theta = jnp.array([0.11, 0.11, 0.11])
    g = jax.grad(lambda t: S.heaviside(z, t).sum())(theta)
    # only z within BANDWIDTH/2 of the threshold moves it, by -1/BANDWIDTH each
    np.testing.assert_allclose(g, [-1 / S.BANDWIDTH, 0.0, 0.0])
    assert not np.any(jax.grad(lambda z: S.heaviside(z, theta).sum())(z))


@pytest.mark.parametrize("structure", ["independent", "correlated", "hierarchical"])
def test_sources_have_the_declared_structure(structure):
    probs = jnp.full(8, 0.2)
    a = np.asarray(S.sample_coefficients(jax.random.PRNGKey(0), probs, 200_000, structure))
    on = a > 0
    assert a.max() <= 2.0 and abs(a[on].mean() - 1.0) < 0.01  # uniform on [0, 2] when present
    first, second = on[:, 0::2], on[:, 1::2]
    assert abs(first.mean() - 0.2) < 0.005
    if structure == "independent":
        assert abs(second.mean() - 0.2) < 0.005 and abs((first & second).mean() - 0.04) < 0.003
    if structure == "correlated":
        assert np.array_equal(first, second)
    if structure == "hierarchical":
        assert not np.any(second & ~first) and abs(second.mean() - 0.1) < 0.005


def test_a_grid_over_every_setting_trains_each_sae_once():
    _, cfg, spec = resolve("saes", "quick")
    insts = spec["instances"]
    per_seed = {"relu": 6, "topk": 3, "jumprelu": 3}  # the quick preset's coef, k and l0_coef lists
    assert len(insts) == cfg.seeds * 3 * sum(per_seed.values())
    for i in insts:  # a variant's ignored settings are the config's
        if i["variant"] != "topk":
            assert i["k"] == cfg.k
        if i["variant"] != "relu":
            assert i["coef"] == cfg.coef
    assert len({tuple(sorted(i.items())) for i in insts}) == len(insts)


def test_the_tms_source_truth_is_the_represented_columns_of_a_trained_pentagon():
    cfg = dataclasses.replace(Config(source="tms"), tms_steps=3000)
    src = S.source(cfg)
    assert src["mix"].shape == (5, 2) and src["truth"].shape == (5, 2)  # at S = 0.9 all five are represented
    angles = np.sort(np.degrees(np.arctan2(src["truth"][:, 1], src["truth"][:, 0])) % 360)
    gaps = np.diff(np.append(angles, angles[0] + 360))
    assert np.all(np.abs(gaps - 72) < 10), gaps

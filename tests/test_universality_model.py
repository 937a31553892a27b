"""The universality MLP: its flax module's forward (with the activations it records) and the
fast path training uses are the same function, forward and gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels.models import pairs, transformer
from toymodels.universality import model
from toymodels.universality.config import Config

CFG = Config(group="S3", d_embed=8, d_hidden=12)
ORDER = 6


def _params():
    return model.init_params(CFG, jax.random.PRNGKey(0))


def _pairs():
    a, b = np.divmod(np.arange(ORDER * ORDER), ORDER)
    return jnp.asarray(a), jnp.asarray(b)


def test_init_names_and_shapes():
    shapes = {k: v.shape for k, v in _params().items()}
    assert shapes == {"E_left": (6, 8), "E_right": (6, 8), "W_left": (8, 12), "W_right": (8, 12), "W_U": (12, 6)}


def test_activation_names_and_shapes():
    a, b = _pairs()
    _, cache = model.run_with_cache(_params(), a, b)
    assert {k: v.shape for k, v in cache.items()} == {
        "embed": (36, 2, 8), "mlp_pre": (36, 12), "mlp_post": (36, 12), "logits": (36, 6)}


def _random(params, seed):
    """Every parameter redrawn N(0, 0.5²): no structure of the init to hide a mistake behind."""
    keys = jax.random.split(jax.random.PRNGKey(seed), len(params))
    return {k: 0.5 * jax.random.normal(key, v.shape) for key, (k, v) in zip(keys, params.items())}


@pytest.mark.parametrize("params", [_params(), _random(_params(), 1)], ids=["init", "random"])
def test_fast_path_equals_the_module_forward_and_gradient(params):
    a, b = _pairs()
    logits, cache = model.run_with_cache(params, a, b)
    np.testing.assert_allclose(model.mlp_hidden(params, a, b), cache["mlp_post"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.logits(params, a, b), logits, rtol=1e-6, atol=1e-6)

    labels = jnp.asarray(CFG.group_obj().table.reshape(-1))

    def fast(p):
        return pairs.cross_entropy(model.logits(p, a, b), labels).mean()

    def plain(p):
        return pairs.cross_entropy(model.run_with_cache(p, a, b)[0], labels).mean()

    g_fast, g_plain = jax.grad(fast)(params), jax.grad(plain)(params)
    for name in params:
        np.testing.assert_allclose(g_fast[name], g_plain[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_run_with_cache_serves_the_transformer_too():
    sizes = {"d_model": 16, "n_heads": 2, "d_head": 8, "d_mlp": 32}
    params = transformer.init_params(jax.random.PRNGKey(1), d_vocab=7, **sizes)  # S3 has 6 elements, + `=`
    a, b = jnp.arange(6), jnp.arange(6)[::-1]
    logits, cache = model.run_with_cache(params, a, b)
    assert logits.shape == (6, 3, 7) and cache["pattern"].shape == (6, 2, 3, 3)
    np.testing.assert_allclose(logits[:, -1], transformer.last_logits(params, a, b), rtol=1e-5, atol=1e-5)

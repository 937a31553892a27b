"""The modular-addition task and the shared one-layer transformer against the paper's setup (docs/papers.md, grokking)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels.grokking import model as ma
from toymodels.grokking.config import Config
from toymodels.models import pairs, transformer


def _params(seed=0, **kw):
    cfg = Config(p=23, d_model=32, n_heads=4, d_head=8, d_mlp=64, **kw)
    return cfg, ma.init_params(cfg, jax.random.PRNGKey(seed))


def _redrawn(params, seed, std):
    """Every parameter (the MLP biases too) redrawn N(0, std^2): nothing left at its init."""
    keys = jax.random.split(jax.random.PRNGKey(seed), len(params))
    return {k: std * jax.random.normal(key, v.shape) for key, (k, v) in zip(keys, params.items())}


@pytest.mark.parametrize("redraw", [False, True], ids=["init", "random"])
def test_last_position_shortcut_is_the_full_model_forward_and_backward(redraw):
    cfg, params = _params()
    if redraw:
        params = _redrawn(params, 3, 1 / np.sqrt(cfg.d_model))
    toks = jnp.asarray(ma.tokens(cfg.p))
    full = lambda prm: transformer.run_with_cache(prm, toks)[0][:, -1]
    fast = lambda prm: transformer.last_logits(prm, toks[:, 0], toks[:, 1])
    np.testing.assert_allclose(fast(params), full(params), rtol=1e-5, atol=1e-5)
    y = jnp.asarray(ma.labels(cfg.p))
    g_full = jax.grad(lambda prm: pairs.cross_entropy(full(prm), y).mean())(params)
    g_fast = jax.grad(lambda prm: pairs.cross_entropy(fast(prm), y).mean())(params)
    for k in params:
        np.testing.assert_allclose(g_fast[k], g_full[k], rtol=1e-4, atol=1e-7, err_msg=k)


def test_cross_entropy_keeps_precision_where_float32_log_softmax_rounds_to_zero():
    logits = np.array([[40.0, 0.0, -3.0], [12.0, 11.0, -2.0], [0.0, 0.0, 0.0]], np.float32)
    target = np.array([0, 1, 2])
    # exact: log(1 + sum_{j != c} exp(l_j - l_c)), in float64 and without cancellation
    ref = np.array([np.log1p(np.exp(np.delete(l, t).astype(np.float64) - l[t]).sum()) for l, t in zip(logits, target)])
    ours = np.asarray(pairs.cross_entropy(jnp.asarray(logits), jnp.asarray(target)))
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    naive = -jax.nn.log_softmax(jnp.asarray(logits))[0, 0]
    assert ref[0] > 1e-18 and float(naive) == 0.0  # the float32 bug this formulation avoids


def test_split_sizes_and_seeded_shuffle():
    mask = ma.train_mask(113, 0.3, seed=0)
    assert mask.sum() == 3830 and (~mask).sum() == 8939
    assert (ma.train_mask(113, 0.3, seed=0) == mask).all() and (ma.train_mask(113, 0.3, seed=1) != mask).any()
    data = ma.make_data(Config(p=23), [{"frac_train": 0.3, "seed": 0}, {"frac_train": 0.6, "seed": 0}])
    assert data["train_weight"].sum(1).tolist() == [int(0.3 * 529), int(0.6 * 529)]
    idx = data["train_idx"][0][data["train_weight"][0] > 0]
    assert data["is_train"][0][idx].all()


def test_init_scales_and_biases():
    cfg = Config()
    params = ma.init_params(cfg, jax.random.PRNGKey(0))
    assert set(params) == {"W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_in", "b_in", "W_out", "b_out", "W_U"}
    np.testing.assert_allclose(np.std(params["W_in"]), 1 / np.sqrt(128), rtol=0.02)
    np.testing.assert_allclose(np.std(params["W_U"]), 1 / np.sqrt(114), rtol=0.05)
    assert params["W_U"].shape == (128, 114) and not params["b_in"].any() and not params["b_out"].any()


def test_adamw_with_warmup_matches_pytorch_semantics():
    """Two hand-computed steps of torch.optim.AdamW under LambdaLR(min(step/10, 1)): the first
    step has lr 0 (moments still update), the second lr/10 with decoupled decay lr*wd*p."""
    cfg = Config(lr=1e-2, weight_decay=1.0, warmup_steps=10)
    tx = ma.optimizer(cfg, {"lr": cfg.lr, "weight_decay": cfg.weight_decay})
    p0 = {"w": jnp.array([1.0, -2.0, 0.5])}
    grads = [{"w": jnp.array([0.1, 0.2, -0.3])}, {"w": jnp.array([-0.2, 0.1, 0.4])}]
    state, params = tx.init(p0), p0
    for g in grads:
        upd, state = tx.update(g, state, params)
        params = jax.tree_util.tree_map(lambda a, b: a + b, params, upd)

    w, m, v = np.array([1.0, -2.0, 0.5]), 0.0, 0.0
    for t, g in enumerate(np.array([[0.1, 0.2, -0.3], [-0.2, 0.1, 0.4]]), start=1):
        lr = cfg.lr * min((t - 1) / 10, 1.0)
        w = w * (1 - lr * cfg.weight_decay)
        m = cfg.beta1 * m + (1 - cfg.beta1) * g
        v = cfg.beta2 * v + (1 - cfg.beta2) * g**2
        w = w - lr * (m / (1 - cfg.beta1**t)) / (np.sqrt(v / (1 - cfg.beta2**t)) + cfg.eps)
    np.testing.assert_allclose(params["w"], w, rtol=1e-6)
    assert not np.allclose(w, [1.0, -2.0, 0.5])


def test_the_transformer_records_its_activations_by_name():
    cfg, params = _params()
    logits, cache = transformer.run_with_cache(params, jnp.asarray(ma.tokens(cfg.p))[:5])
    assert sorted(cache) == ["attn_out", "attn_scores", "embed", "k", "logits", "mlp_out", "mlp_post", "mlp_pre",
                             "pattern", "q", "resid_mid", "resid_post", "resid_pre", "v", "z"]
    assert cache["pattern"].shape == (5, cfg.n_heads, 3, 3) and cache["mlp_post"].shape == (5, 3, cfg.d_mlp)
    np.testing.assert_array_equal(cache["logits"], logits)
    np.testing.assert_allclose(cache["resid_post"] @ params["W_U"], logits, rtol=1e-6)

"""The memoriser task: labels, parameter counts, config errors, the flax module against the
padded fast path, and padding: a masked instance in a padded sweep trains exactly like the
narrower, smaller model on its own."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels import engine
from toymodels.errors import ConfigError
from toymodels.memorisation import model as M
from toymodels.memorisation.config import Config
from toymodels.memorisation.recipe import task
from toymodels.models.module import run_with_cache
from toymodels.pipeline import engine_inputs


def _depends_on_a_alone(t):
    return bool(np.all(t == t[:, :1]))


def test_label_kinds():
    r = M.table_labels("random", 40, 0)
    assert set(np.unique(r)) == {0.0, 1.0} and abs(r.mean() - 0.5) < 0.05
    assert not _depends_on_a_alone(r) and not _depends_on_a_alone(r.T)
    row = M.table_labels("row", 12, 3)
    assert _depends_on_a_alone(row) and set(np.unique(row[:, 0])) == {0.0, 1.0}  # g(a), not a constant
    x = M.table_labels("xor", 12, 3).astype(int)
    assert np.all(x == x[:, :1] ^ x[:1, :] ^ x[0, 0])  # f(a,b) = g0(a) ^ g1(b)
    assert not _depends_on_a_alone(x) and not _depends_on_a_alone(x.T)  # needs both a and b
    # a table is a function of (kind, n, table_seed): the same again, another for another seed or size
    np.testing.assert_array_equal(M.table_labels("random", 9, 1), M.table_labels("random", 9, 1))
    assert not np.array_equal(M.table_labels("random", 9, 1), M.table_labels("random", 9, 2))
    assert not np.array_equal(M.table_labels("random", 9, 1), M.table_labels("random", 10, 1)[:9, :9])


def test_random_tables_train_on_every_pair_structured_on_a_split():
    cfg = Config(n=6, width=2, max_n=8, max_width=4, frac_train=0.5)
    insts = [{"n": 6, "width": 2, "structured": False, "lr": 1e-3, "weight_decay": 0.0, "seed": 0},
             {"n": 8, "width": 4, "structured": True, "lr": 1e-3, "weight_decay": 0.0, "seed": 0}]
    d = M.make_data(cfg, insts)
    assert d["labels"].shape == (2, 64) and d["hidden_mask"].shape == (2, 4)
    assert d["table_weight"][0].sum() == 36 and d["train_weight"][0].sum() == 36 and d["test_weight"][0].sum() == 0
    assert d["train_weight"][1].sum() == 32 and d["test_weight"][1].sum() == 32
    np.testing.assert_array_equal(d["hidden_mask"][0], [1, 1, 0, 0])


def test_parameter_count_matches_the_unpadded_model():
    cfg = Config(n=5, width=3, max_n=5, max_width=3, d=7, layers=2)
    p = M.init_params(cfg, jax.random.PRNGKey(0))
    frozen = p["E0"].size + p["E1"].size
    total = sum(x.size for x in jax.tree_util.tree_leaves(p))
    assert M.trainable_parameters(5, 3, 7, 2, False) == total - frozen
    assert M.trainable_parameters(5, 3, 7, 2, True) == total


def _todays_init(cfg, key):
    """The init as it was before the flax module (per-row fold_in keys), kept to pin the draws."""
    k_e0, k_e1, k_mlp, k_u = jax.random.split(key, 4)
    s = 1.0 / np.sqrt(cfg.d)
    neurons = [M._rows(jax.random.fold_in(k_mlp, l), cfg.max_width, 2 * cfg.d, s) for l in range(cfg.layers)]
    return {"E0": M._rows(k_e0, cfg.max_n, cfg.d, s), "E1": M._rows(k_e1, cfg.max_n, cfg.d, s),
            "W_in": jnp.stack([nr[:, :cfg.d].T for nr in neurons]),
            "b_in": jnp.zeros((cfg.layers, cfg.max_width), jnp.float32),
            "W_out": jnp.stack([nr[:, cfg.d:] for nr in neurons]) * cfg.out_init,
            "w_U": jax.random.normal(k_u, (cfg.d,), jnp.float32) * s, "b_U": jnp.zeros((), jnp.float32)}


@pytest.mark.parametrize("layers", [1, 2])
def test_the_module_init_is_the_same_draw(layers):
    cfg = Config(n=5, width=3, max_n=9, max_width=8, d=6, layers=layers)
    keys = jax.vmap(jax.random.PRNGKey)(np.arange(3))
    ours = jax.jit(jax.vmap(lambda k: M.init_params(cfg, k)))(keys)  # as the engine calls it
    ref = jax.jit(jax.vmap(lambda k: _todays_init(cfg, k)))(keys)
    assert sorted(ours) == sorted(ref)
    for k in ref:
        assert ours[k].shape == ref[k].shape and ours[k].dtype == ref[k].dtype, k
        np.testing.assert_array_equal(ours[k], ref[k], err_msg=k)


def _instance_and_its_slice(layers, activation, n=5, width=3):
    """An instance (n, width) padded beside a larger one, its data, and its own unpadded params
    and pairs; biases made nonzero so that they are checked too."""
    cfg = Config(n=n, width=width, max_n=9, max_width=8, d=6, layers=layers, activation=activation)
    insts = [{"n": n, "width": width, "structured": False, "lr": 1e-2, "weight_decay": 0.0, "seed": 0},
             {"n": 7, "width": 6, "structured": False, "lr": 1e-2, "weight_decay": 0.0, "seed": 1}]
    data = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), M.make_data(cfg, insts))
    p = M.init_params(cfg, jax.random.PRNGKey(2))
    rng = np.random.default_rng(0)
    p = {**p, "b_in": jnp.asarray(rng.normal(size=p["b_in"].shape), jnp.float32), "b_U": jnp.float32(0.3)}
    own = {"E0": p["E0"][:n], "E1": p["E1"][:n], "W_in": p["W_in"][:, :, :width], "b_in": p["b_in"][:, :width],
           "W_out": p["W_out"][:, :width], "w_U": p["w_U"], "b_U": p["b_U"]}
    a, b = np.divmod(np.arange(n * n), n)
    n_pad = int(round(data["labels"].shape[0] ** 0.5))
    return p, data, own, a, b, a * n_pad + b


@pytest.mark.parametrize("layers, activation", [(1, "gelu"), (2, "gelu"), (2, "relu")])
def test_padded_forward_is_the_module_on_the_instances_slice(layers, activation):
    p, data, own, a, b, idx = _instance_and_its_slice(layers, activation)
    logits, cache = run_with_cache(M.bind(own, activation), a, b)
    fast, fast_cache = M.run_with_cache(p, data, activation)
    np.testing.assert_allclose(fast[idx], logits, rtol=1e-5, atol=1e-6)
    assert sorted(fast_cache) == sorted(cache)
    for name, x in cache.items():
        y = fast_cache[name][idx]
        y = y[:, :3] if name.startswith(("mlp_pre", "mlp_post")) else y
        np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6, err_msg=name)

    # gradient: the padded loss (embeddings trained) against the module's mean loss over its table
    y = data["labels"][idx]
    g_fast = jax.grad(lambda q: M.loss(q, data, activation, train_embed=True))(p)
    g_own = jax.grad(lambda q: jnp.mean(M.bce(M.bind(q, activation)(a, b), y)))(own)
    sliced = {**g_fast, "E0": g_fast["E0"][:5], "E1": g_fast["E1"][:5], "W_in": g_fast["W_in"][:, :, :3],
              "b_in": g_fast["b_in"][:, :3], "W_out": g_fast["W_out"][:, :3]}
    for k in own:
        np.testing.assert_allclose(sliced[k], g_own[k], rtol=1e-4, atol=1e-6, err_msg=k)
    assert not np.asarray(g_fast["E0"][5:]).any() and not np.asarray(g_fast["W_in"][:, :, 3:]).any()


@pytest.mark.parametrize("layers, activation, d", [(1, "gelu", 6), (2, "gelu", 6), (2, "relu", 6), (2, "gelu", 2)])
def test_training_logits_are_the_module_forward_and_gradient_on_random_params(layers, activation, d):
    """M.logits (tables of the embeddings, products of weight matrices) against the module on
    the instance's slice, every parameter redrawn at random (W_out at full scale, so that layer
    0 reaches layer 1); d=2 < width/2 takes _chain's other order."""
    cfg = Config(n=5, width=3, max_n=9, max_width=8, d=d, layers=layers, activation=activation)
    insts = [{"n": 5, "width": 3, "structured": False, "lr": 1e-2, "weight_decay": 0.0, "seed": 0},
             {"n": 7, "width": 6, "structured": False, "lr": 1e-2, "weight_decay": 0.0, "seed": 1}]
    data = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), M.make_data(cfg, insts))
    shapes = M.init_params(cfg, jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(5), len(shapes))
    p = {k: jax.random.normal(key, v.shape) for key, (k, v) in zip(keys, shapes.items())}
    own = {"E0": p["E0"][:5], "E1": p["E1"][:5], "W_in": p["W_in"][:, :, :3], "b_in": p["b_in"][:, :3],
           "W_out": p["W_out"][:, :3], "w_U": p["w_U"], "b_U": p["b_U"]}
    a, b = np.divmod(np.arange(25), 5)
    idx = a * 7 + b
    np.testing.assert_allclose(M.logits(p, data, activation)[idx], M.bind(own, activation)(a, b), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(M.logits(p, data, activation), M.forward(p, data, activation), rtol=1e-5, atol=1e-5)

    y = data["labels"][idx]
    g_fast = jax.grad(lambda q: M.loss(q, data, activation, train_embed=True))(p)
    g_own = jax.grad(lambda q: jnp.mean(M.bce(M.bind(q, activation)(a, b), y)))(own)
    sliced = {**g_fast, "E0": g_fast["E0"][:5], "E1": g_fast["E1"][:5], "W_in": g_fast["W_in"][:, :, :3],
              "b_in": g_fast["b_in"][:, :3], "W_out": g_fast["W_out"][:, :3]}
    for k in own:
        np.testing.assert_allclose(sliced[k], g_own[k], rtol=1e-4, atol=1e-6, err_msg=k)
    assert not np.asarray(g_fast["E0"][5:]).any() and not np.asarray(g_fast["W_in"][:, :, 3:]).any()


def test_the_memoriser_records_its_activations_by_name():
    _, _, own, a, b, _ = _instance_and_its_slice(2, "gelu")
    logits, cache = run_with_cache(M.bind(own), a, b)
    assert sorted(cache) == ["embed", "logits", "mlp_out.0", "mlp_out.1", "mlp_post.0", "mlp_post.1", "mlp_pre.0",
                             "mlp_pre.1", "resid.0", "resid.1", "resid.2"]
    assert cache["mlp_post.1"].shape == (25, 3) and cache["resid.2"].shape == (25, 6)
    np.testing.assert_array_equal(cache["resid.0"], cache["embed"])
    np.testing.assert_allclose(cache["resid.1"], cache["resid.0"] + cache["mlp_out.0"], rtol=1e-6)
    np.testing.assert_array_equal(cache["logits"], logits)
    np.testing.assert_allclose(cache["resid.2"] @ own["w_U"] + own["b_U"], logits, rtol=1e-6)


@pytest.mark.parametrize("change, message", [
    ({"n": 1}, "table size n must be >= 2"), ({"d": 0}, "d must be a positive integer"),
    ({"width": 0}, "width must be a positive integer"), ({"structure": "parity"}, "unknown label kind"),
    ({"max_n": 5000, "n": 5000}, "too large"), ({"n": 80}, "exceeds max_n"), ({"layers": 3}, "layers must be 1 or 2"),
    ({"activation": "tanh"}, "unknown activation"), ({"out_init": -1.0}, "out_init must be >= 0"),
])
def test_bad_config_is_one_line(change, message):
    with pytest.raises(ConfigError, match=message) as e:
        dataclasses.replace(Config(), **change).validate()
    assert "\n" not in str(e.value)


def _train(cfg, insts, steps=30, eval_every=10):
    cfg = dataclasses.replace(cfg, steps=steps, eval_every=eval_every, warmup_steps=5)
    keys, hp = engine_inputs(insts)
    data = M.make_data(cfg, insts)
    state, hist = engine.train(task(cfg), keys, hp, data, cfg.schedule(), progress=False, devices=jax.devices()[:1])
    return state, hist


@pytest.mark.parametrize("train_embed", [False, True])
def test_masked_instance_equals_the_narrower_smaller_model(train_embed):
    """Instance (n=5, width=3) padded into a run whose parameters hold 9 rows and 8 neurons and
    whose data hold 7 x 7 pairs and 6 neurons (a second, larger instance) trains like the model
    of exactly n=5 rows and 3 neurons: same losses, same parameters, with weight decay on."""
    inst = {"n": 5, "width": 3, "structured": False, "lr": 1e-2, "weight_decay": 0.1, "seed": 3}
    big = {**inst, "n": 7, "width": 6, "seed": 4}
    wide = Config(n=5, width=3, max_n=9, max_width=8, d=6, train_embed=train_embed)
    narrow = dataclasses.replace(wide, max_n=5, max_width=3)
    s_wide, h_wide = _train(wide, [inst, big])
    s_narrow, h_narrow = _train(narrow, [inst])
    for k in ("train_loss", "table_acc", "bits"):
        np.testing.assert_allclose(h_wide[k][:, 0], h_narrow[k][:, 0], rtol=2e-5, atol=1e-6, err_msg=k)
    pw = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), s_wide["params"])
    pn = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), s_narrow["params"])
    np.testing.assert_allclose(pw["W_in"][:, :, :3], pn["W_in"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pw["W_out"][:, :3], pn["W_out"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pw["b_in"][:, :3], pn["b_in"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pw["w_U"], pn["w_U"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pw["E0"][:5], pn["E0"], rtol=1e-4, atol=1e-6)
    init = M.init_params(wide, jax.random.PRNGKey(3))
    if not train_embed:  # frozen: not even weight decay moves them (init under jit vs eager: last-bit rounding)
        np.testing.assert_allclose(pw["E0"], np.asarray(init["E0"]), rtol=1e-6, atol=1e-7)
    else:
        assert np.abs(pw["E0"][:5] - np.asarray(init["E0"])[:5]).max() > 1e-3


def test_masked_neurons_get_exactly_zero_gradient_and_no_effect():
    cfg = Config(n=4, width=2, max_n=4, max_width=5, d=6)
    inst = {"n": 4, "width": 2, "structured": False, "lr": 1e-2, "weight_decay": 0.1, "seed": 0}
    data = jax.tree_util.tree_map(lambda x: x[0], M.make_data(cfg, [inst]))
    p = M.init_params(cfg, jax.random.PRNGKey(0))
    g = jax.grad(M.loss)(p, data)
    assert np.all(np.asarray(g["W_in"])[:, :, 2:] == 0) and np.all(np.asarray(g["W_out"])[:, 2:] == 0)
    assert np.all(np.asarray(g["b_in"])[:, 2:] == 0)
    garbage = {**p, "W_in": p["W_in"].at[:, :, 2:].set(7.0), "W_out": p["W_out"].at[:, 2:].set(-3.0)}
    np.testing.assert_array_equal(M.forward(p, data), M.forward(garbage, data))


def test_under_lbfgs_a_masked_instance_equals_the_narrower_model_and_frozen_parameters_stay_put():
    """L-BFGS's directions mix every coordinate of the tree: the padding (zero gradient always) and
    the frozen embeddings (gradient stopped) must still never move, and a padded instance must
    train like the unpadded model: to rounding, which the line search's accept-or-shrink choices
    amplify (after 30 iterations parameters differed by up to 7e-4; a leak from the padding would
    move them by ~0.1)."""
    inst = {"n": 5, "width": 3, "structured": False, "lr": 3e-3, "weight_decay": 0.0, "seed": 3}
    big = {**inst, "n": 7, "width": 6, "seed": 4}
    wide = Config(n=5, width=3, max_n=9, max_width=8, d=6, optimizer="lbfgs")
    narrow = dataclasses.replace(wide, max_n=5, max_width=3)
    s_wide, h_wide = _train(wide, [inst, big])
    s_narrow, h_narrow = _train(narrow, [inst])
    assert h_narrow["train_loss"][-1, 0] < 0.8 * h_narrow["train_loss"][0, 0]  # it trains
    np.testing.assert_allclose(h_wide["train_loss"][:, 0], h_narrow["train_loss"][:, 0], rtol=1e-2, atol=1e-6)
    pw = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), s_wide["params"])
    pn = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), s_narrow["params"])
    np.testing.assert_allclose(pw["W_in"][:, :, :3], pn["W_in"], atol=3e-3)
    init = jax.tree_util.tree_map(np.asarray, M.init_params(wide, jax.random.PRNGKey(3)))
    for name in ("E0", "E1"):
        np.testing.assert_allclose(pw[name], init[name], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pw["W_in"][:, :, 3:], init["W_in"][:, :, 3:], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pw["W_out"][:, 3:], init["W_out"][:, 3:], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("sets, message", [
    ({"weight_decay": 0.1}, "needs --set optimizer=adamw"), ({"optimizer": "sgd"}, "unknown optimizer")])
def test_lbfgs_settings_it_cannot_honour_are_refused(sets, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(Config(optimizer="lbfgs"), **sets).validate()


def test_a_swept_learning_rate_under_lbfgs_is_refused_not_trained_twice():
    from toymodels.memorisation.config import canonical
    cfg = Config(optimizer="lbfgs")
    assert canonical({"lr": cfg.lr, "weight_decay": 0.0}, cfg) == {"lr": cfg.lr, "weight_decay": 0.0}
    with pytest.raises(ConfigError, match="lr=0.01 is an AdamW setting"):
        canonical({"lr": 0.01, "weight_decay": 0.0}, cfg)
    assert canonical({"lr": 0.01}, Config()) == {"lr": 0.01}  # AdamW: a real sweep


@pytest.mark.parametrize("max_step, blows_up", [(M.LBFGS_MAX_STEP, False), (1e30, True)])
def test_lbfgs_step_cap_keeps_an_exactly_stored_table_finite(monkeypatch, max_step, blows_up):
    """A table the network stores exactly has a loss that flattens towards 0, and the curvature
    estimate with it: uncapped L-BFGS steps took this instance to a loss of 30 within 100
    iterations (and others to 5e19 or NaN later). With the cap its loss stays at or below its start."""
    monkeypatch.setattr(M, "LBFGS_MAX_STEP", max_step)
    cfg = Config(n=6, width=2, max_n=8, max_width=4, d=8, optimizer="lbfgs")
    insts = [{"n": 6, "width": 2, "structured": False, "lr": cfg.lr, "weight_decay": 0.0, "seed": 0}]
    _, hist = _train(cfg, insts, steps=200, eval_every=20)
    loss = hist["train_loss"]
    fine = bool(np.all(np.isfinite(loss)) and np.all(loss[1:] <= loss[:1] + 1e-6))
    assert fine != blows_up, loss.max(axis=0)

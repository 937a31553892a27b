"""The memoriser task: labels, parameter counts, config errors, and padding: a masked instance
in a padded sweep trains exactly like the narrower, smaller model on its own."""

import dataclasses

import jax
import numpy as np
import pytest

from toymodels import engine
from toymodels.errors import ConfigError
from toymodels.memorisation import recipe as E
from toymodels.pipeline import engine_inputs
from toymodels.memorisation import model as M


def test_label_kinds():
    r = M.table_labels("random", 40, 0)
    assert set(np.unique(r)) == {0.0, 1.0} and abs(r.mean() - 0.5) < 0.05
    row = M.table_labels("row", 12, 3)
    assert np.all(row == row[:, :1])  # depends on a alone
    x = M.table_labels("xor", 12, 3).astype(int)
    assert np.all(x == x[:, :1] ^ x[:1, :] ^ x[0, 0])  # f(a,b) = g0(a) ^ g1(b)
    np.testing.assert_array_equal(M.table_labels("random", 9, 1), M.table_labels("random", 9, 1))
    assert not np.array_equal(M.table_labels("random", 9, 1), M.table_labels("random", 9, 2))


def test_random_tables_train_on_every_pair_structured_on_a_split():
    cfg = M.Config(n=6, width=2, max_n=8, max_width=4, frac_train=0.5)
    insts = [{"n": 6, "width": 2, "structured": False, "lr": 1e-3, "weight_decay": 0.0, "seed": 0},
             {"n": 8, "width": 4, "structured": True, "lr": 1e-3, "weight_decay": 0.0, "seed": 0}]
    d = M.make_data(cfg, insts)
    assert d["labels"].shape == (2, 64) and d["hidden_mask"].shape == (2, 4)
    assert d["table_weight"][0].sum() == 36 and d["train_weight"][0].sum() == 36 and d["test_weight"][0].sum() == 0
    assert d["train_weight"][1].sum() == 32 and d["test_weight"][1].sum() == 32
    np.testing.assert_array_equal(d["hidden_mask"][0], [1, 1, 0, 0])


def test_parameter_count_matches_the_unpadded_model():
    cfg = M.Config(n=5, width=3, max_n=5, max_width=3, d=7, layers=2)
    p = M.init_params(cfg, jax.random.PRNGKey(0))
    frozen = p["E0"].size + p["E1"].size
    total = sum(x.size for x in jax.tree_util.tree_leaves(p))
    assert M.trainable_parameters(5, 3, 7, 2, False) == total - frozen
    assert M.trainable_parameters(5, 3, 7, 2, True) == total


@pytest.mark.parametrize("change, message", [
    ({"n": 1}, "table size n must be >= 2"), ({"d": 0}, "d must be a positive integer"),
    ({"width": 0}, "width must be a positive integer"), ({"structure": "parity"}, "unknown label kind"),
    ({"max_n": 5000, "n": 5000}, "too large"), ({"n": 80}, "exceeds max_n"), ({"layers": 3}, "layers must be 1 or 2"),
    ({"activation": "tanh"}, "unknown activation"),
])
def test_bad_config_is_one_line(change, message):
    with pytest.raises(ConfigError, match=message) as e:
        dataclasses.replace(M.Config(), **change).validate()
    assert "\n" not in str(e.value)


def _train(cfg, insts, steps=30):
    cfg = dataclasses.replace(cfg, steps=steps, eval_every=10, warmup_steps=5)
    keys, hp = engine_inputs(insts)
    data = E.make_data(cfg, insts)
    state, hist = engine.train(E.task(cfg), keys, hp, data, E.schedule(cfg), progress=False, devices=jax.devices()[:1])
    return state, hist


@pytest.mark.parametrize("train_embed", [False, True])
def test_masked_instance_equals_the_narrower_smaller_model(train_embed):
    """Instance (n=5, width=3) padded into a run whose parameters hold 9 rows and 8 neurons and
    whose data hold 7 x 7 pairs and 6 neurons (a second, larger instance) trains like the model
    of exactly n=5 rows and 3 neurons: same losses, same parameters, with weight decay on."""
    inst = {"n": 5, "width": 3, "structured": False, "lr": 1e-2, "weight_decay": 0.1, "seed": 3}
    big = {**inst, "n": 7, "width": 6, "seed": 4}
    wide = M.Config(n=5, width=3, max_n=9, max_width=8, d=6, train_embed=train_embed)
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
    cfg = M.Config(n=4, width=2, max_n=4, max_width=5, d=6)
    inst = {"n": 4, "width": 2, "structured": False, "lr": 1e-2, "weight_decay": 0.1, "seed": 0}
    data = jax.tree_util.tree_map(lambda x: x[0], M.make_data(cfg, [inst]))
    p = M.init_params(cfg, jax.random.PRNGKey(0))
    g = jax.grad(M.loss)(p, data)
    assert np.all(np.asarray(g["W_in"])[:, :, 2:] == 0) and np.all(np.asarray(g["W_out"])[:, 2:] == 0)
    assert np.all(np.asarray(g["b_in"])[:, 2:] == 0)
    garbage = {**p, "W_in": p["W_in"].at[:, :, 2:].set(7.0), "W_out": p["W_out"].at[:, 2:].set(-3.0)}
    np.testing.assert_array_equal(M.forward(p, data), M.forward(garbage, data))

"""Analyses of the fact-lookup memoriser on a hand-built network whose answer is known (one
MLP0 neuron per fact), then on a trained model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels import engine
from toymodels.memorisation import analyses as A
from toymodels.memorisation.handbuilt import one_neuron_per_fact
from toymodels.pipeline import engine_inputs, resolve


@pytest.mark.parametrize("layers", [1, 2])
def test_paths_are_the_known_ones_and_sum_to_the_logit(layers):
    params, data, exp = one_neuron_per_fact(n=4, layers=layers)
    paths = A.path_logits(params, data, "relu")
    for k in A.PATHS:
        np.testing.assert_allclose(paths[k], exp[k], atol=1e-6, err_msg=k)
    np.testing.assert_allclose(sum(paths[k] for k in A.PATHS), paths["logit"], atol=1e-6)
    np.testing.assert_allclose(paths["logit"], exp["logit"], atol=1e-6)


def test_attribution_names_the_neuron_that_stores_each_fact():
    params, data, exp = one_neuron_per_fact(n=4, layers=2)
    s = 2 * np.asarray(data["labels"]) - 1
    dla = np.asarray(A.neuron_dla(params, data, "relu")) * s[:, None]
    width = data["hidden_mask"].shape[0]
    np.testing.assert_array_equal(np.argmax(dla[:, :width], axis=1), exp["fact_neuron"])
    # every other MLP0 neuron contributes exactly nothing to a fact
    others = dla[:, :width].copy()
    others[np.arange(16), exp["fact_neuron"]] = 0
    assert np.all(others == 0)


def test_neurons_per_fact_is_one_for_a_lookup_table():
    params, data, _ = one_neuron_per_fact(n=4, layers=1)
    npf = A.neurons_per_fact(params, data, "relu")
    for k in ("k50", "k90", "k50_ablation", "k90_ablation", "top_share"):
        np.testing.assert_array_equal(getattr(npf, k), 1.0, err_msg=k)
    # two layers: positive facts also go through the one MLP1 neuron (alpha = 0.5 of the MLP0 one)
    params, data, _ = one_neuron_per_fact(n=4, layers=2, alpha=0.5)
    npf = A.neurons_per_fact(params, data, "relu")
    pos = np.asarray(data["labels"]) > 0.5
    np.testing.assert_array_equal(npf.k50, 1.0)
    np.testing.assert_array_equal(npf.k90, np.where(pos, 2.0, 1.0))
    np.testing.assert_allclose(npf.top_share, np.where(pos, 2 / 3, 1.0), rtol=1e-6)


def test_single_neuron_ablation_effects_are_known():
    params, data, exp = one_neuron_per_fact(n=4, layers=2, alpha=0.5)
    abl = np.asarray(A.single_neuron_ablations(params, data, "relu"))
    width = data["hidden_mask"].shape[0]
    c = np.abs(exp["mlp0_direct"])
    pos = np.asarray(data["labels"]) > 0.5
    # removing the fact's neuron removes its direct logit and, for positive facts, MLP1's copy
    np.testing.assert_allclose(abl[np.arange(16), exp["fact_neuron"]], np.where(pos, 1.5 * c, c), rtol=1e-6)
    np.testing.assert_allclose(abl[:, width], np.where(pos, 0.5 * c, 0.0), rtol=1e-6, atol=1e-7)
    assert np.abs(abl[:, 16:width]).max() == 0 and np.abs(abl[:, width + 1:]).max() == 0  # masked / dead


def test_masked_garbage_neurons_change_nothing():
    a = one_neuron_per_fact(n=3, layers=2, pad=0)
    b = one_neuron_per_fact(n=3, layers=2, pad=5)
    pa, pb = A.path_logits(*a[:2], "relu"), A.path_logits(*b[:2], "relu")
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])
    np.testing.assert_array_equal(A.probe_accuracies(*a[:2], "relu"), A.probe_accuracies(*b[:2], "relu"))


def test_facts_on_separate_neurons_are_uncorrelated():
    """Distinct one-hot attribution vectors (signed by the label) over K live neurons correlate at
    exactly -s_i s_j / (K-1): the masked neurons do not count as neurons."""
    params, data, _ = one_neuron_per_fact(n=4, layers=1, pad=3)
    c = A.neuron_effect_correlation(params, data, jnp.arange(16), "relu")
    s = 2 * np.asarray(data["labels"]) - 1
    off = ~np.eye(16, dtype=bool)
    np.testing.assert_allclose(np.asarray(c.matrix)[off], (-np.outer(s, s) / 15)[off], atol=1e-6)
    np.testing.assert_allclose([c.same_label, c.opposite_label], [-1 / 15, 1 / 15], atol=1e-6)
    np.testing.assert_array_equal(c.labels, data["labels"])


def test_capacity_bits_and_layer_ablations():
    params, data, exp = one_neuron_per_fact(n=4, layers=2, bias=0.0)
    cap = A.capacity(params, data, 100.0, "relu")
    margin = (2 * np.asarray(data["labels"]) - 1) * exp["logit"]
    loss = np.mean(np.log1p(np.exp(-margin)))
    assert cap.accuracy == 1.0
    np.testing.assert_allclose(cap.bits, 16 * (np.log(2) - loss) / np.log(2), rtol=1e-5)
    np.testing.assert_allclose(cap.bits_per_param, cap.bits / 100.0, rtol=1e-6)
    # MLP0 mean-ablated: every fact gets the same logit -> accuracy = share of the majority label
    acc = np.asarray(A.layer_ablations(params, data, "relu"))
    share = np.mean(np.asarray(data["labels"]) == 1)
    assert acc[0] == 1.0 and acc[1] == pytest.approx(max(share, 1 - share))
    assert acc[2] == 1.0  # MLP1 only adds alpha * relu(logit): ablating it keeps the sign


def test_logistic_probe_reads_separable_labels_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype(np.float32)
    w = np.ones(400, np.float32)
    y_lin = (x @ np.array([1.0, -2.0, 0.5, 0.0, 0.0]) + 0.3 > 0).astype(np.float32)
    assert A.logistic_probe_accuracy(jnp.asarray(x), jnp.asarray(y_lin), jnp.asarray(w)) >= 0.99
    y_xor = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.float32)
    assert A.logistic_probe_accuracy(jnp.asarray(x), jnp.asarray(y_xor), jnp.asarray(w)) < 0.65
    # weights: pairs of weight 0 are neither fitted nor scored
    w2 = w.copy()
    w2[200:] = 0
    y_mix = y_lin.copy()
    y_mix[200:] = 1 - y_mix[200:]
    assert A.logistic_probe_accuracy(jnp.asarray(x), jnp.asarray(y_mix), jnp.asarray(w2)) >= 0.99


def test_analyses_vmap_over_instances():
    (pa, da, _), (pb, db, _) = one_neuron_per_fact(n=3, seed=0), one_neuron_per_fact(n=3, seed=1)
    stack = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.stack([x, y]), a, b)  # noqa: E731
    P, D = stack(pa, pb), stack(da, db)
    for fn in (A.path_logits, A.path_summary, A.neurons_per_fact, A.probe_accuracies, A.layer_ablations,
               A.single_neuron_ablations):
        both = jax.vmap(lambda p, d: fn(p, d, "relu"))(P, D)
        one = fn(pb, db, "relu")
        jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x[1], y, atol=1e-6), both, one)


def test_trained_model_paths_sum_to_its_logit():
    recipe, cfg, spec = resolve("memorisation", "quick", 1, ("n=8", "width=8", "d=8", "max_n=8", "max_width=8",
                                                             "steps=200", "eval_every=100"))
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    data = recipe.make_data(cfg, insts)
    state, hist = engine.train(recipe.task(cfg), keys, hp, data, cfg.schedule(), progress=False)
    p = jax.tree_util.tree_map(lambda x: x[0], state["params"])
    d = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), data)
    paths = A.path_logits(p, d, cfg.activation)
    np.testing.assert_allclose(sum(paths[k] for k in A.PATHS), paths["logit"], atol=1e-4)
    assert float(A.capacity(p, d, 1.0, cfg.activation).accuracy) == pytest.approx(float(hist["table_acc"][-1, 0]))
    assert float(hist["table_acc"][-1, 0]) == 1.0  # 64 facts, 545 parameters: memorised

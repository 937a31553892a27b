"""Each grokking claim fails on a model that lacks what it claims, and holds on one that has it.

Models, built in-process at p=23. Each is one network of a single shape, a memoriser's block
beside the circuit's (handbuilt.side_by_side) with the absent one zero, over 21 checkpoints, so
the analyses compile once and then take milliseconds:
- a random init, frozen over the checkpoints: no training at all;
- a memoriser, trained here without weight decay: it fits its train pairs and never groks;
- the hand-built Fourier circuit (handbuilt.py), frozen: the circuit, none of the dynamics;
- the same circuit with its token embeddings scrambled: same weights and norms, no Fourier
  structure over the tokens;
- constructed trajectories: the memoriser beside the circuit (handbuilt.side_by_side), mixed in
  set proportions over the steps, with the phases as constructed (the phase detector itself is
  tested on synthetic curves in test_grokking_analyses.py).
The claims holding on real grokking runs: test_grokking_reproduction.py (the quick preset). A run
without test pairs cannot judge the claims that read the test loss, and draws no test curves."""

import dataclasses
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

from toymodels.grokking import analyses as G
from toymodels.grokking import figures
from toymodels.grokking import model as ma
from toymodels.grokking.config import Config
from toymodels.grokking.handbuilt import (
    fourier_algorithm_params,
    scramble_tokens,
    side_by_side,
)
from toymodels.grokking.recipe import NEED_TEST_PAIRS, claims
from toymodels.pipeline import resolve

P = 23
FREQS = [3, 7]  # 2 of the 11 frequencies at p=23
CFG = Config(p=P, frac_train=0.5)
MEMORISER = dataclasses.replace(CFG, d_model=32, n_heads=2, d_head=8, d_mlp=64, lr=3e-3, weight_decay=0.0,
                                warmup_steps=0)
MEM_EVERY, N_CKPT = 25, 21
STEPS = list(range(0, 2001, 100))  # N_CKPT steps for the frozen and constructed models
STATIC = {"generalises", "embedding_sparse", "key_frequencies_explain_logits"}  # read the final model only


def _instances(cfg: Config) -> list[dict]:
    return [{"seed": 0, "lr": cfg.lr, "weight_decay": cfg.weight_decay, "frac_train": cfg.frac_train}]


def _stack(checkpoints: list[dict]) -> dict:
    """Params at each checkpoint -> leaves (checkpoint, instance=1, ...)."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs)[:, None], *checkpoints)


def _results(steps, checkpoints: list[dict], phases=None, cfg: Config = CFG) -> G.Results:
    results = G.analyse_params(cfg, _instances(cfg), list(steps), _stack(checkpoints))
    return results if phases is None else dataclasses.replace(results, phases=[phases])


def _claims(steps, checkpoints: list[dict], phases=None) -> dict:
    return {c.id: c for c in claims(_results(steps, checkpoints, phases))}


def _holding(got: dict, ids=None) -> dict:
    return {k: c.shown for k, c in got.items() if c.holds and (ids is None or k in ids)}


def _zero(params: dict) -> dict:
    return jax.tree_util.tree_map(jnp.zeros_like, params)


@pytest.fixture(scope="module")
def circuit() -> dict:
    return fourier_algorithm_params(P, FREQS)


@pytest.fixture(scope="module")
def memoriser() -> list[dict]:
    """N_CKPT checkpoints, MEM_EVERY steps apart, of a MEMORISER training run (AdamW, weight decay
    0) from step 0: the memoriser's own params."""
    cfg = MEMORISER
    data = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), ma.make_data(cfg, _instances(cfg)))
    opt = ma.optimizer(cfg, {"lr": cfg.lr, "weight_decay": cfg.weight_decay})

    def step(carry, _):
        params, state = carry
        updates, state = opt.update(jax.grad(ma.loss)(params, data, P), state, params)
        return (jax.tree_util.tree_map(jnp.add, params, updates), state), None

    @jax.jit
    def train(params):
        def chunk(carry, _):
            carry, _ = jax.lax.scan(step, carry, None, length=MEM_EVERY)
            return carry, carry[0]

        return jax.lax.scan(chunk, (params, opt.init(params)), None, length=N_CKPT - 1)[1]

    init = ma.init_params(cfg, jax.random.PRNGKey(0))
    later = train(init)
    return [init] + [jax.tree_util.tree_map(lambda x, i=i: x[i], later) for i in range(N_CKPT - 1)]


def test_every_claim_fails_on_a_random_init(memoriser, circuit):
    got = _claims(STEPS, [side_by_side(memoriser[0], _zero(circuit))] * N_CKPT)
    assert not _holding(got), _holding(got)


def test_every_claim_fails_on_a_model_that_only_memorised(memoriser, circuit):
    results = _results(range(0, MEM_EVERY * N_CKPT, MEM_EVERY), [side_by_side(m, _zero(circuit)) for m in memoriser])
    m = results.metrics
    assert m["train_loss"][-1, 0] < 0.01 and m["test_acc"][-1, 0] < 0.9  # it memorised, it did not generalise
    got = {c.id: c for c in claims(results)}
    assert not _holding(got), _holding(got)


def test_the_frozen_circuit_passes_the_claims_on_the_final_model_only(memoriser, circuit):
    got = _claims(STEPS, [side_by_side(_zero(memoriser[0]), circuit)] * N_CKPT)
    assert _holding(got, STATIC).keys() == STATIC, {k: got[k].shown for k in STATIC}
    assert got["key_frequencies_explain_logits"].values[0]["key_freqs"] == FREQS
    assert not _holding(got).keys() - STATIC, _holding(got)  # no delay, no phases: no dynamics


def test_every_claim_fails_on_the_circuit_with_its_tokens_scrambled(memoriser, circuit):
    got = _claims(STEPS, [side_by_side(_zero(memoriser[0]), scramble_tokens(circuit))] * N_CKPT)
    assert not _holding(got), _holding(got)


# Constructed trajectories: memorisation to step 400 (the memoriser grows in), circuit formation to
# 1200 (the circuit grows to 0.7 of its size), cleanup to 1500 (the memoriser goes), then flat.
PHASES = {"memorisation_end": 400.0, "cleanup_start": 1200.0, "cleanup_end": 1500.0, "train_knee": math.nan}


def _trajectory(memoriser_params: dict, circuit: dict, replaced_in_formation: bool) -> list[dict]:
    """Params at STEPS. With replaced_in_formation the memoriser shrinks to 0.4 of its weights
    while the circuit grows (the paper's circuit formation); without, it stays whole until cleanup."""
    kept = 0.4 if replaced_in_formation else 1.0
    beta = np.interp(STEPS, [0, 400, 1200, 1500], [0, 1, kept, 0])   # memoriser: every weight scaled
    alpha = np.interp(STEPS, [0, 400, 1200, 1500], [0, 0, 0.7, 1])   # circuit: its W_out scaled
    return [side_by_side(jax.tree_util.tree_map(lambda x, b=b: b * x, memoriser_params),
                         {**circuit, "W_out": a * circuit["W_out"]}) for b, a in zip(beta, alpha)]


def test_excluded_loss_must_rise_during_circuit_formation(memoriser, circuit):
    half_chance = 0.5 * math.log(P)
    got = _claims(STEPS, _trajectory(memoriser[-1], circuit, replaced_in_formation=True), PHASES)
    got = got["excluded_loss_rises"]
    assert got.holds, got.shown
    v = got.values[0]
    assert v["at_memorisation_end"] < 0.01 and half_chance <= v["peak"] and v["step"] <= 1200 and v["train_loss"] < 0.1

    # The memoriser kept until cleanup: the excluded loss rises only once it goes, in cleanup.
    results = _results(STEPS, _trajectory(memoriser[-1], circuit, replaced_in_formation=False), PHASES)
    got = {c.id: c for c in claims(results)}["excluded_loss_rises"]
    assert not got.holds and got.values[0]["peak"] < 0.01, got.shown
    o, ck = results.over_training, results.checkpoint_steps
    later = (ck > 1200) & (o.train_loss[:, 0] < 0.1)
    assert o.excluded_loss[later, 0].max() >= half_chance  # so a window past cleanup start would pass it

    # The circuit alone, frozen: the excluded loss is high from the start, it never rises.
    got = _claims(STEPS, [side_by_side(_zero(memoriser[-1]), circuit)] * N_CKPT, PHASES)["excluded_loss_rises"]
    assert not got.holds and got.values[0]["at_memorisation_end"] >= half_chance, got.shown


def test_without_test_pairs_no_test_claim_is_judged_and_no_test_curve_drawn(memoriser, circuit):
    results = _results(STEPS, [side_by_side(_zero(memoriser[0]), circuit)] * N_CKPT,
                       cfg=dataclasses.replace(CFG, frac_train=1.0))
    assert results.n_test.tolist() == [0] and np.isnan(results.metrics["test_loss"]).all()
    assert np.isnan(results.over_training.test_loss).all() and math.isnan(results.phases[0]["cleanup_start"])
    got = {c.id: c for c in claims(results)}
    for cid in NEED_TEST_PAIRS:
        assert not got[cid].judged and not got[cid].holds
        assert got[cid].shown == "cannot be judged: no test pairs in 1 of 1 instances (frac_train=1)"
    assert got["embedding_sparse"].holds and got["key_frequencies_explain_logits"].holds  # no test pairs needed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no all-NaN slices, no empty legends
        for draw in (figures.loss_curves, figures.progress_measures):  # the figures with test curves
            fig = draw(results)
            labels = [ln.get_label() for ax in fig.axes for ln in ax.get_lines()]
            assert not any("test" in label for label in labels), (draw.__name__, labels)
            assert any("no test pairs" in t.get_text() for ax in fig.axes for t in ax.texts)
            figures.plt.close(fig)
        for draw in (figures.excluded_loss_per_frequency, figures.cos_coefficients):  # phase lines: none found
            fig = draw(results)
            assert "no phase boundaries detected" in [ln.get_label() for ln in fig.axes[0].get_lines()]
            figures.plt.close(fig)


def test_test_curves_come_from_the_instances_that_have_test_pairs():
    """The tiny config (conftest.TINY) swept over frac_train 1 and 0.5, at its random init."""
    _, cfg, spec = resolve("grokking", "quick", 1, (*TINY["grokking"], "frac_train=1,0.5"))
    insts = spec["instances"]
    assert [i["frac_train"] for i in insts] == [1.0, 0.5]
    params = [ma.init_params(cfg, jax.random.PRNGKey(i)) for i in range(2)]
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.stack(xs)] * 3), *params)  # (checkpoint, instance, ...)
    results = G.analyse_params(cfg, insts, [0, 10, 20], stacked)
    assert np.isnan(results.metrics["test_loss"][:, 0]).all() and np.isfinite(results.metrics["test_loss"][:, 1]).all()
    got = {c.id: c for c in claims(results)}
    for cid in NEED_TEST_PAIRS:
        assert got[cid].shown == "cannot be judged: no test pairs in 1 of 2 instances (frac_train=1)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = figures.loss_curves(results)
    (test,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "test loss"]
    np.testing.assert_allclose(test.get_ydata(), results.metrics["test_loss"][:, 1])  # instance 1's alone
    figures.plt.close(fig)

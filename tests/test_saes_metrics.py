"""The SAE metrics on dictionaries whose answer is known: the truth itself (an oracle), a random
dictionary, a permuted, a merged and a duplicated one; codes and reconstructions built by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels.saes import metrics as M
from toymodels.saes import model as S

N, D = 64, 32


@pytest.fixture(scope="module")
def truth():
    return S.planted_dictionary(jax.random.PRNGKey(0), N, D)


def test_the_truth_is_recovered_and_a_random_dictionary_is_not(truth):
    to_dec, to_true = M.mmcs(truth, truth)
    assert to_dec > 0.99 and to_true > 0.99 and M.recovered(truth, truth) == 1.0
    assert M.hungarian_cosine(truth, truth[::-1]) == pytest.approx(1.0, abs=1e-6)  # order does not matter
    rand = S.planted_dictionary(jax.random.PRNGKey(1), N, D)
    r_dec, r_true = M.mmcs(truth, rand)
    # the best of 64 random cosines in 32 dimensions is ~0.4-0.5: chance, far from 1
    assert r_dec < 0.6 and r_true < 0.6 and M.recovered(truth, rand) == 0.0
    assert M.hungarian_cosine(truth, rand) < 0.4


def test_merging_and_splitting_are_seen(truth):
    merged = truth[0::2] + truth[1::2]  # each latent the sum of two features: 32 latents for 64 features
    to_dec, to_true = M.mmcs(truth, merged)
    assert 0.6 < to_dec < 0.8 and M.recovered(truth, merged) == 0.0  # cos(f, f + g) ~ 1/sqrt(2)
    doubled = jnp.concatenate([truth, truth * 1.0001])
    assert np.all(np.asarray(M.splitting(truth, doubled)) == 2) and np.all(np.asarray(M.splitting(truth, truth)) == 1)
    assert M.hungarian_cosine(truth, doubled) == pytest.approx(1.0, abs=1e-5)
    # dead latents are left out of decoder -> true
    alive = jnp.arange(2 * N) < N
    noisy = jnp.concatenate([truth, S.planted_dictionary(jax.random.PRNGKey(2), N, D)])
    assert M.mmcs(truth, noisy, alive)[1] > 0.99 > M.mmcs(truth, noisy)[1]


def test_activity_fvu_and_shrinkage_by_hand():
    codes = jnp.array([[1.0, 0, 0, 2], [0, 0, 0, 3], [0, 5, 0, 1]])
    act = M.latent_activity(codes)
    assert act["l0"] == pytest.approx(5 / 3) and act["dead"] == 0.25 and act["dense"] == 0.25
    x = jax.random.normal(jax.random.PRNGKey(3), (100, D))
    assert M.fvu(x, x) == 0.0 and M.fvu(x, jnp.broadcast_to(x.mean(0), x.shape)) == pytest.approx(1.0)
    assert M.shrinkage(x, 0.5 * x) == pytest.approx(0.5)


def test_an_oracle_sae_reconstructs_a_planted_source_and_topk_keeps_k(truth):
    x, a = S.planted_batch(jax.random.PRNGKey(4), truth, 0.02, 512)
    oracle = {"W_enc": truth.T, "b_enc": jnp.zeros(N), "W_dec": truth, "b_dec": jnp.zeros(D)}
    # decoding the true coefficients with the true dictionary gives x back exactly
    assert M.fvu(x, S.decode(oracle, a)) == pytest.approx(0.0, abs=1e-6)
    codes = S.encode(oracle, x, "topk", k=3)
    assert int((codes != 0).sum(axis=1).max()) <= 3


@pytest.mark.parametrize("variant, sets", [("relu", {"coef": 0.15, "k": 4}), ("topk", {"coef": 0.0, "k": 3}),
                                            ("jumprelu", {"l0_coef": 0.3})])
def test_saes_trained_on_a_planted_source_recover_it(variant, sets):
    """Two seeds of each variant as one program; both recover the planted truth (MMCS > 0.9),
    which their random initial dictionaries do not (MMCS < 0.6)."""
    from toymodels import engine
    from toymodels.pipeline import engine_inputs
    from toymodels.saes.config import Config

    cfg = Config(variant=variant, n_features=32, d=16, dict_size=32, feature_prob=0.03, batch=256, steps=2000,
                 eval_every=1000, lr=3e-3, **sets)
    insts = [{"lr": cfg.lr, "coef": cfg.coef, "k": cfg.k, "l0_coef": cfg.l0_coef, "seed": s} for s in (0, 1)]
    keys, hp = engine_inputs(insts)
    _, m = engine.train(S.task(cfg), keys, hp, S.make_data(cfg, insts), cfg.schedule(), progress=False)
    assert np.all(m["mmcs"][0] < 0.6) and np.all(m["mmcs"][-1] > 0.9), m["mmcs"]
    assert np.all(m["fvu"][-1] < 0.2), m["fvu"]


def test_absorption_is_zero_for_a_clean_parent_latent_and_high_when_the_child_suppresses_it():
    """Hierarchical pairs (parent 2j, child 2j+1): an oracle's parent latents fire whenever their
    parent does; an SAE whose parent latents are switched off by their child (an encoder weight
    of -10 along the child's direction) has absorbed them."""
    from toymodels.saes import handbuilt as H
    from toymodels.saes.analyses import absorption

    # 8 orthonormal features in 32-D, so that nothing but the child switches a parent's latent off
    truth = jnp.asarray(np.linalg.qr(np.asarray(jax.random.normal(jax.random.PRNGKey(7), (32, 8))))[0].T)
    a = S.sample_coefficients(jax.random.PRNGKey(8), jnp.full(8, 0.2), 20_000, "hierarchical")
    x = a @ truth
    clean = H.oracle(truth, 8, threshold=0.1)
    absorbing = {**clean, "W_enc": clean["W_enc"].at[:, 0::2].add(-10.0 * truth[1::2].T)}
    rates = [float(absorption(truth, S.decoder(p), S.encode(p, x, "relu"), a)) for p in (clean, absorbing)]
    assert rates[0] < 0.05 and rates[1] > 0.8, rates

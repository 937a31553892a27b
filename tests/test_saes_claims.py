"""The SAE claims on SAEs built by hand: each holds where the mechanism is built in and fails on an
SAE that lacks it (a random dictionary, a small dictionary that drops features instead of merging
them, no dead latents, a TopK SAE that reconstructs worse)."""

import dataclasses

import jax
import numpy as np
import pytest

from toymodels.saes import handbuilt as H
from toymodels.saes import model as S
from toymodels.saes.analyses import Results, Score, score
from toymodels.saes.config import Config
from toymodels.saes.recipe import claims

CFG = Config(n_features=16, d=8, feature_prob=0.05, max_dict_size=32, eval_batch=4096)
TRUTH = S.source(CFG)["truth"]
M = CFG.max_dict_size


def _inst(variant="relu", dict_size=16, seed=0, **setting):
    base = {"variant": variant, "dict_size": dict_size, "coef": CFG.coef, "k": CFG.k, "l0_coef": CFG.l0_coef,
            "lr": CFG.lr, "seed": seed}
    return {**base, **setting}


def _claim(pairs, claim_id):
    insts, saes = zip(*pairs)
    results = score(CFG, list(insts), H.stack(list(saes)))
    return next(c for c in claims(results) if c.id == claim_id)


def test_the_oracle_recovers_the_truth_and_a_random_dictionary_does_not():
    oracle = [(_inst(seed=s), H.oracle(TRUTH, M)) for s in (0, 1)]
    held = _claim(oracle, "recovers_features")
    assert held.holds and all(v["mmcs"] > 0.99 for v in held.values), held.shown
    rand = [(_inst(seed=s), H.random(jax.random.PRNGKey(s), CFG.d, M)) for s in (0, 1)]
    failed = _claim(rand, "recovers_features")
    assert not failed.holds and all(v["mmcs"] < 0.8 for v in failed.values), failed.shown
    # a dictionary smaller than the truth cannot be judged on recovery
    small = [(_inst(dict_size=8), H.dropping(TRUTH, 8, M))]
    assert not _claim(small, "recovers_features").judged


def test_a_merging_small_dictionary_passes_and_a_dropping_one_fails():
    full = (_inst(dict_size=16), H.oracle(TRUTH, M))
    merged = _claim([full, (_inst(dict_size=8), H.merged(TRUTH, M))], "small_dictionary_merges")
    assert merged.holds and merged.values[0]["merged_small"] == 1.0, merged.shown
    dropped = _claim([full, (_inst(dict_size=8), H.dropping(TRUTH, 8, M))], "small_dictionary_merges")
    assert not dropped.holds and dropped.values[0]["merged_small"] == 0.0, dropped.shown
    # merging needs a source with more dimensions than a merge spans
    flat = dataclasses.replace(CFG, d=3)
    results = score(flat, [_inst(dict_size=16)], H.stack([H.oracle(S.source(flat)["truth"], M)]))
    assert not next(c for c in claims(results) if c.id == "small_dictionary_merges").judged


def test_latents_killed_by_the_largest_coefficient_are_seen_and_none_is_a_failure():
    low = (_inst(coef=0.01), H.oracle(TRUTH, M))
    killed = _claim([low, (_inst(coef=1.0), H.with_dead(H.oracle(TRUTH, M), 8))], "large_coef_kills_latents")
    assert killed.holds and killed.values[0]["dead"] == [0.0, 0.5], killed.shown
    alive = _claim([low, (_inst(coef=1.0), H.oracle(TRUTH, M))], "large_coef_kills_latents")
    assert not alive.holds, alive.shown


def _scored(points):
    """Results from (variant, setting, l0, fvu) points of one seed and dictionary size."""
    scores = [Score(v, 16, c, 0, *(0.0,) * 4, l0, fvu, *(0.0,) * 6) for v, c, l0, fvu in points]
    return Results(CFG, TRUTH, np.zeros((len(scores), M, CFG.d)), np.zeros((len(scores), M), bool), scores, {})


@pytest.mark.parametrize("topk_fvu, holds", [(0.05, True), (0.205, True), (0.4, False)])
def test_topk_is_judged_against_the_l1_front_at_its_own_l0(topk_fvu, holds):
    # the L1 front: FVU 0.3 at L0 1, 0.1 at L0 4, so 0.2 at L0 2 (linear in log L0)
    points = [("relu", 1.0, 1.0, 0.3), ("relu", 0.1, 4.0, 0.1), ("topk", 2, 2.0, topk_fvu)]
    c = next(c for c in claims(_scored(points)) if c.id == "topk_matches_l1")
    assert c.holds is holds and c.values[0]["fvu_relu"] == pytest.approx(0.2, abs=1e-3), c.shown
    outside = next(c for c in claims(_scored([*points[:2], ("topk", 8, 8.0, 0.0)])) if c.id == "topk_matches_l1")
    assert not outside.judged  # an L0 outside the L1 front is not compared


def test_a_random_topk_sae_loses_to_an_exact_l1_front_and_an_exact_topk_does_not():
    cfg = dataclasses.replace(CFG, n_features=8, d=8, feature_prob=0.2)  # no superposition: exact codes exist
    truth = S.source(cfg)["truth"]
    relu = [(_inst(coef=c, dict_size=8), H.oracle(truth, M, threshold=t, exact=True)) for c, t in ((0.01, 0.0), (1.0, 1.0))]

    def judged(topk):
        insts, saes = zip(*(relu + topk))
        return next(c for c in claims(score(cfg, list(insts), H.stack(list(saes)))) if c.id == "topk_matches_l1")

    rand = judged([(_inst("topk", dict_size=8, k=k), H.random(jax.random.PRNGKey(k), cfg.d, M)) for k in (1, 2)])
    assert rand.judged and not rand.holds, rand.shown
    exact = judged([(_inst("topk", dict_size=8, k=k), H.oracle(truth, M, threshold=0.0, exact=True)) for k in (1, 2)])
    assert exact.judged and exact.holds, exact.shown

"""Superposition claims on hand-built and random-init weights, no training: each claim must hold
on weights that have its mechanism and fail on weights that lack it.

One `analyse_params` call serves every case: each engine instance is one scenario (a whole
figure set of hand-built or random weights), and claims are judged per instance. The sizes
the claims read are the paper's (intro n=5, m=2 over 10 sparsities; linear vs ReLU n=20, m=5;
geometry n=200, m=20 over 20 sparsities; a 12x12 phase grid); the stacks no claim reads are
tiny."""

import numpy as np
import pytest

from toymodels.superposition import analyses as A
from toymodels.superposition import handbuilt as H
from toymodels.superposition import model as sp
from toymodels.superposition.config import Config
from toymodels.superposition.recipe import claims

CFG = Config(wtw_n=12, wtw_m=4, hidden_n=6, hidden_m=3, abs_n=10, abs_m=4, abs_pair_n=6, abs_pair_m=4,
             phase_tries=1, best_of=True)
STACKS = {s.name: s for s in sp.stacks(CFG)}
SCENARIOS = ("mechanism", "random_init", "no_superposition", "wrong_geometry", "smooth", "near_miss_a",
             "near_miss_b", "frame_not_pentagons")

# Which claims hold on which scenario (the rest must fail).
EXPECTED = {
    "linear_no_superposition": {"mechanism", "frame_not_pentagons", "no_superposition", "near_miss_a", "near_miss_b"},
    "relu_dense_no_superposition": {"mechanism", "frame_not_pentagons", "no_superposition", "near_miss_a", "near_miss_b"},
    "antipodal_pairs": {"mechanism", "frame_not_pentagons", "smooth"},
    "pentagon": {"mechanism", "frame_not_pentagons", "wrong_geometry", "near_miss_b"},
    "d_star_curve": {"mechanism", "frame_not_pentagons", "wrong_geometry", "near_miss_a", "near_miss_b"},
    "sticky_lines": {"mechanism", "near_miss_a", "near_miss_b"},
    "phase_boundary_n2m1": {"mechanism", "frame_not_pentagons", "near_miss_a", "near_miss_b"},
}


# --- intro (n=5, m=2; S = 0, .28, .49, .63, .74, .81, .86, .90, .93, .95) ----------------------

def _intro(before, moderate, sparse):
    """Dense points (S < 0.5) get `before`, 0.5 <= S < 0.9 `moderate`, S >= 0.9 `sparse`."""
    S = 1 - STACKS["intro"].density[:, 0]
    return np.stack([before if s < 0.5 else moderate if s < 0.9 - 1e-6 else sparse for s in S])


ORTHOGONAL_2 = H.dedicated(2, 5)                     # features 0, 1 on their own axes
PAIRS = H.place([H.square()], 2, 5)                  # features 0..3: two antipodal pairs, feature 4 dropped
PENTAGON = H.pentagon()
PAIRS_WRONG_FEATURES = PAIRS[:, [0, 1, 2, 4, 3]]     # the pairs hold feature 4, feature 3 dropped
_t = np.radians([0, 60, 180, 240])
PAIRS_AT_60 = H.place([np.stack([np.cos(_t), np.sin(_t)])], 2, 5)  # two antipodal pairs, axes 60° apart
PENTAGON_WEAK_5TH = PENTAGON * [1, 1, 1, 1, 0.4]    # the fifth feature below the represented norm


# --- linear vs ReLU output (n=20, m=5) ------------------------------------------------------

TOP_5 = H.dedicated(5, 20)
WRONG_5 = H.dedicated(5, 20, features=range(1, 6))   # orthogonal, but features 1..5
SUPERPOSED_5 = H.place([H.pentagon(), np.eye(3)], 5, 20)  # features 0..4 on a pentagon, 5..7 dedicated


# --- geometry (n=200, m=20, 20 sparsities dense -> sparse) ----------------------------------

def _geometry(blocks_per_point):
    return np.stack([H.place(b, 20, 200) if isinstance(b, list) else b for b in blocks_per_point])


def _generic(k, seed=0):
    return H.generic(20, 200, k, seed)


SPARSE_TAIL = [_generic(k, seed=k) for k in (60, 75, 90, 105, 120, 140)]  # D* 0.33 -> 0.14, no sticky geometry
GEOMETRY_MECHANISM = _geometry(
    [H.dedicated(20, 200)] * 3                                    # D* = 1
    + [[H.digon()] * 20] * 6                                      # 40 features in antipodal pairs: D_i = D* = 1/2
    + [[H.pentagon()] * 8 + [H.generic(4, 12, 12, seed=1)]] * 5   # 40 features on pentagons (2/5) + 12 generic
    + SPARSE_TAIL)
# the same D_i values at 2/5 without pentagons: 40 features on a tight frame of 16 dimensions
GEOMETRY_FRAME = _geometry(
    [H.dedicated(20, 200)] * 3 + [[H.digon()] * 20] * 6
    + [[H.tight_frame(16, 40, 40), H.generic(4, 12, 12, seed=1)]] * 5 + SPARSE_TAIL)
GEOMETRY_PAIRS_ONLY = _geometry([H.dedicated(20, 200)] * 3 + [[H.digon()] * 20] * 11 + SPARSE_TAIL)
# D* falling steadily from 1 to 0.14 with no plateau: k features on random directions, D* = 20 / k
SMOOTH_K = np.round(20 / np.linspace(1.0, 0.14, 20)).astype(int)
GEOMETRY_SMOOTH = _geometry([_generic(k, seed=int(k)) for k in SMOOTH_K])
GEOMETRY_DEDICATED = _geometry([H.dedicated(20, 200)] * 20)


# --- phase diagram n=2, m=1 -----------------------------------------------------------------

def _phase(rule):
    r, s = sp.phase_axes(CFG)
    return np.stack([rule(ri, si) for ri in r for si in s])  # (tries=1) x R x D, row-major


def _less_important_kept(r, s):
    W = H.phase_solution_n2m1(r, s)
    return W if W[0, 0] * W[0, 1] < 0 else W[:, ::-1]


PHASE_ANALYTIC = _phase(H.phase_solution_n2m1)
PHASE_NEVER = _phase(lambda r, s: np.array([[1.0, 0.0]]) if r < 1 else np.array([[0.0, 1.0]]))
PHASE_ALWAYS = _phase(lambda r, s: np.array([[1.0, -1.0]]))
PHASE_WRONG_FEATURE = _phase(_less_important_kept)

MECHANISM = {"intro": _intro(ORTHOGONAL_2, PAIRS, PENTAGON), "lvr_linear": TOP_5, "lvr_relu": TOP_5,
             "geometry": GEOMETRY_MECHANISM, "phase_2_1": PHASE_ANALYTIC}
WEIGHTS = {
    "mechanism": MECHANISM,
    "random_init": {},
    "no_superposition": {"intro": _intro(ORTHOGONAL_2, ORTHOGONAL_2, ORTHOGONAL_2), "lvr_linear": TOP_5,
                         "lvr_relu": TOP_5, "geometry": GEOMETRY_DEDICATED, "phase_2_1": PHASE_NEVER},
    "wrong_geometry": {"intro": _intro(ORTHOGONAL_2, PENTAGON, PENTAGON), "lvr_linear": SUPERPOSED_5,
                       "lvr_relu": SUPERPOSED_5, "geometry": GEOMETRY_PAIRS_ONLY, "phase_2_1": PHASE_ALWAYS},
    "smooth": {"intro": _intro(ORTHOGONAL_2, PAIRS, PAIRS), "lvr_linear": WRONG_5, "lvr_relu": WRONG_5,
               "geometry": GEOMETRY_SMOOTH, "phase_2_1": PHASE_WRONG_FEATURE},
    "near_miss_a": {**MECHANISM, "intro": _intro(ORTHOGONAL_2, PAIRS_WRONG_FEATURES, PENTAGON_WEAK_5TH)},
    "near_miss_b": {**MECHANISM, "intro": _intro(ORTHOGONAL_2, PAIRS_AT_60, PENTAGON)},
    "frame_not_pentagons": {**MECHANISM, "geometry": GEOMETRY_FRAME},
}
# best_of: the wtw models (read by no claim) are zero (x' = 0) in one instance and random-init
# scaled 10x in the others, a far larger loss: the figures must show that one instance.
BEST = SCENARIOS.index("smooth")


@pytest.fixture(scope="module")
def results():
    params = H.figure_set(CFG, n_instances=len(SCENARIOS))
    for i, name in enumerate(SCENARIOS):
        for stack, W in WEIGHTS[name].items():
            s = STACKS[stack]
            params[stack]["W"][i] = np.broadcast_to(W, (s.k, s.m, s.n))
            params[stack]["b"][i] = 0.0
        params["wtw"]["W"][i] *= 0.0 if i == BEST else 10.0
    return A.analyse_params(CFG, params)


@pytest.fixture(scope="module")
def judged(results):
    return {c.id: c for c in claims(results)}


CORRELATED = {"correlated_orthogonal", "anticorrelated_antipodal", "correlated_collapse", "correlated_side_by_side"}


def test_every_claim_is_tested(judged):
    """Every claim but the correlated-feature ones (tests/test_superposition_correlated.py)."""
    assert set(judged) == set(EXPECTED) | CORRELATED


@pytest.mark.parametrize("claim", list(EXPECTED))
def test_claim_holds_with_its_mechanism_and_fails_without(judged, claim):
    c = judged[claim]
    got = {name for name, ok in zip(SCENARIOS, c.passes) if ok}
    assert len(c.passes) == len(SCENARIOS) and c.judged
    assert got == EXPECTED[claim], f"{claim}: passes on {sorted(got)}; measured {c.shown}"
    assert "random_init" not in got and "mechanism" in got
    assert c.paper and c.criterion  # the paper's statement and our threshold are stated


def test_near_misses_are_hard_cases(results, judged):
    """The failing scenarios fail for the mechanism's absence, not for something easier."""
    geo = results.stacks["geometry"].summary
    i_smooth = SCENARIOS.index("smooth")
    d = geo.d_star[i_smooth, np.argsort(-STACKS["geometry"].density[:, 0])]
    # the steady decline has 3 consecutive D* within 0.05 of 1/2 (the plateau test before issue 11)
    near = np.abs(d - 0.5) <= 0.05
    assert any(near[k:k + 3].all() for k in range(len(d) - 2))
    # ... and plenty of represented features within 0.02 of 1/2: only the concentration test rejects it
    sticky = judged["sticky_lines"].values[i_smooth]
    assert sticky["count_half"] >= 10 and sticky["concentration_half"] < 2
    # pairs only: a line at 1/2, none at 2/5
    only_pairs = judged["sticky_lines"].values[SCENARIOS.index("wrong_geometry")]
    assert only_pairs["concentration_half"] >= 2 and only_pairs["count_two_fifths"] < 10
    # a tight frame: as many features at 2/5 as the pentagons give, none of them in a pentagon
    frame = judged["sticky_lines"].values[SCENARIOS.index("frame_not_pentagons")]
    pentagons = judged["sticky_lines"].values[SCENARIOS.index("mechanism")]
    assert frame["count_two_fifths"] >= pentagons["two_fifths_in_pentagons"] >= 10 and frame["two_fifths_in_pentagons"] == 0
    # the antipodal near misses: four features at D_i = 1/2 but the wrong four; pairs not a square
    miss_a = judged["antipodal_pairs"].values[SCENARIOS.index("near_miss_a")]
    assert miss_a["represented"] == [0, 1, 2, 4] and miss_a["sides"] == 4
    miss_b = judged["antipodal_pairs"].values[SCENARIOS.index("near_miss_b")]
    assert miss_b["represented"] == [0, 1, 2, 3] and miss_b["sides"] == 0


def test_antipodal_pairs_is_judged_at_the_point_nearest_s_0_8(judged):
    values = judged["antipodal_pairs"].values
    assert {v["S"] for v in values} == {0.811}  # p = 20^(-5/9), the paper grid's point nearest 0.8
    mech = values[SCENARIOS.index("mechanism")]
    np.testing.assert_allclose(mech["gaps_deg"], 90.0, atol=0.1)
    np.testing.assert_allclose(mech["D_i"], [0.5, 0.5, 0.5, 0.5, 0.0], atol=1e-3)


def test_best_of_shows_the_lowest_loss_instance(results):
    wtw = results.stacks["wtw"]
    others = np.delete(wtw.loss, BEST, axis=0)
    assert np.all(wtw.loss[BEST] < others.min(axis=0))
    np.testing.assert_array_equal(wtw.shown, BEST)

"""Sparse autoencoders trained against known features (Sharkey, Braun, Millidge 2022; Gao et al.
2024; Rajamanoharan et al. 2024; docs/papers.md, saes): a grid of SAEs (variant x dictionary size
x sparsity setting x seed) trained as ONE program on a source whose true features are known,
each scored against the truth. Presets, the claims (criteria fixed before any run) and RECIPE.

    toymodels reproduce saes --preset quick      # planted source: 32 features in 16 dimensions
    toymodels reproduce saes --preset tms        # the hidden layer of the TMS pentagon (5 features in 2-D)
"""

from __future__ import annotations

import numpy as np

from toymodels.recipe import Claim, Recipe
from toymodels.saes import analyses as A
from toymodels.saes import figures
from toymodels.saes import model as S
from toymodels.saes.analyses import Results, Score
from toymodels.saes.config import Config, canonical

PRESETS = {
    # 32 planted features in 16 dimensions, each present with probability 0.05 (~1.6 per input);
    # dictionaries of half, once and twice the true count; 2 seeds; a few minutes on a 2-core CPU.
    "quick": Config(n_features=32, d=16, feature_prob=0.05, dict_size=32, max_dict_size=64, batch=256, lr=3e-3,
                    steps=3000, eval_every=250, seeds=2),
    # 128 planted features in 32 dimensions, the same per-input sparsity, twice the steps.
    "paper": Config(n_features=128, d=32, feature_prob=0.0125, dict_size=128, max_dict_size=256, batch=512,
                    lr=2e-3, steps=6000, eval_every=500, seeds=2),
    # The TMS intro model at sparsity 0.9 (the pentagon) as the source: 5 features in 2-D.
    "tms": Config(source="tms", dict_size=5, max_dict_size=10, k=1, lr=3e-3, steps=3000, eval_every=250, seeds=2),
}
PRESET_SETS = {
    # L1 coefficients up to 10: with magnitudes <= 2 a code a saves at most a^2 <= 2a of squared
    # error, so from coef ~2 on the penalty outweighs any latent (the grid must reach "too large")
    "quick": ("variant=relu,topk,jumprelu", "dict_size=16,32,64", "coef=0.03,0.1,0.3,1,3,10", "k=2,4,8",
              "l0_coef=0.1,0.3,1"),
    "paper": ("variant=relu,topk,jumprelu", "dict_size=64,128,256", "coef=0.03,0.1,0.3,1,3,10", "k=2,4,8",
              "l0_coef=0.1,0.3,1"),
    "tms": ("variant=relu,topk,jumprelu", "dict_size=3,5,10", "coef=0.01,0.03,0.1,0.3,1,3", "k=1,2",
            "l0_coef=0.03,0.1,0.3"),
}
SWEEPABLE = ("seed", "variant", "dict_size", "coef", "k", "l0_coef", "lr")
WITHIN_CELL = ("variant", "dict_size", "coef", "k", "l0_coef")  # the claims read across all of these

RECOVERED_MMCS = 0.95        # claim thresholds, fixed before any run
RECOVERED_SHARE = 0.9
MERGED_SMALL, MERGED_FULL = 0.5, 0.1
DEAD_AT_LARGEST, DEAD_RISE = 0.25, 0.2
FVU_SLACK = 0.01


def _by(scores: list[Score], **match) -> list[Score]:
    return [s for s in scores if all(getattr(s, k) == v for k, v in match.items())]


def _seeds(results: Results) -> list[int]:
    return sorted({s.seed for s in results.scores})


def _best_full(results: Results, variant: str, seed: int) -> Score | None:
    """The best-MMCS SAE of a variant and seed among dictionaries at least as large as the truth."""
    full = [s for s in _by(results.scores, variant=variant, seed=seed) if s.dict_size >= len(results.truth)]
    return max(full, key=lambda s: s.mmcs) if full else None


def _recovers_features(results: Results) -> Claim:
    n = len(results.truth)
    args = ("recovers_features",
            "an L1 SAE at a well-chosen coefficient, with a dictionary at least as large as the true one, "
            "recovers nearly every true feature of activations that hold them in superposition",
            "Sharkey et al. 2022: on synthetic data with a known ground-truth dictionary, MMCS between true "
            "features and learned decoder directions is near 1 at a well-chosen L1 coefficient and a dictionary at "
            "least as large as the true one",
            f"per seed, the ReLU SAE with the highest MMCS among dictionaries >= {n} latents: MMCS (true -> "
            f"decoder) >= {RECOVERED_MMCS}, >= {RECOVERED_SHARE:.0%} of true features matched at cosine >= "
            f"{A.MATCH}, and a one-to-one (Hungarian) mean cosine >= {A.MATCH}")
    best = [(seed, b) for seed in _seeds(results) if (b := _best_full(results, "relu", seed)) is not None]
    if not best:
        return Claim.cannot_judge(*args, f"no ReLU SAE with a dictionary of >= {n} latents in this run")
    values = [{"seed": seed, "dict_size": b.dict_size, "coef": b.setting, "mmcs": round(b.mmcs, 4),
               "recovered": round(b.recovered, 3), "hungarian": round(b.hungarian, 4)} for seed, b in best]
    passes = [v["mmcs"] >= RECOVERED_MMCS and v["recovered"] >= RECOVERED_SHARE and v["hungarian"] >= A.MATCH
              for v in values]
    return Claim.measure(*args, values, passes, lambda v: (
        f"seed {v['seed']}: MMCS {v['mmcs']:.3f}, {v['recovered']:.0%} recovered, Hungarian {v['hungarian']:.3f} "
        f"(dict {v['dict_size']}, coef {v['coef']:g})"))


def _small_dictionary_merges(results: Results) -> Claim:
    n, d = results.truth.shape
    args = ("small_dictionary_merges",
            "a dictionary smaller than the number of true features merges them: its latents are mixtures of "
            "features rather than single features",
            "Sharkey et al. 2022: recovery needs a dictionary at least as large as the ground truth; smaller "
            "dictionaries learn latents that combine several ground-truth features (no number given)",
            f"per seed and variant, at the setting of its best-MMCS SAE with >= {n} latents: at the smallest "
            f"dictionary below {n}, >= {MERGED_SMALL:.0%} of live latents are merges (no true feature within cosine "
            f"{A.MATCH}, but within cosine {A.MATCH} of the span of its {A.MERGE_SPAN} best-matching features), "
            f"against <= {MERGED_FULL:.0%} in that best SAE")
    if d <= A.MERGE_SPAN:
        return Claim.cannot_judge(*args, f"the source has {d} dimensions: every direction lies in the span of "
                                         f"{A.MERGE_SPAN} features")
    values = []
    for variant in sorted({s.variant for s in results.scores}):
        for seed in _seeds(results):
            best = _best_full(results, variant, seed)
            small = [s for s in _by(results.scores, variant=variant, seed=seed, setting=best.setting)
                     if s.dict_size < n] if best else []
            if small:
                s = min(small, key=lambda s: s.dict_size)
                values.append({"variant": variant, "seed": seed, "setting": best.setting, "small_dict": s.dict_size,
                               "merged_small": round(s.merged, 3), "merged_full": round(best.merged, 3)})
    if not values:
        return Claim.cannot_judge(*args, f"needs dictionaries both below and at least {n} latents")
    passes = [v["merged_small"] >= MERGED_SMALL and v["merged_full"] <= MERGED_FULL for v in values]
    return Claim.measure(*args, values, passes, lambda v: (
        f"{v['variant']} seed {v['seed']}: {v['merged_small']:.0%} merged at {v['small_dict']} latents, "
        f"{v['merged_full']:.0%} at full size"))


def _large_coef_kills_latents(results: Results) -> Claim:
    args = ("large_coef_kills_latents",
            "too large an L1 coefficient kills latents: they never fire",
            "Sharkey et al. 2022: too large an L1 coefficient leaves latents dead (no number given)",
            f"per seed and dictionary size, over the run's L1 coefficients: at the largest, >= {DEAD_AT_LARGEST:.0%} "
            f"of latents never fire on the evaluation batch, and that share is >= {DEAD_RISE:.0%} above the "
            f"share at the smallest")
    values = []
    for seed in _seeds(results):
        for m in sorted({s.dict_size for s in results.scores}):
            sc = sorted(_by(results.scores, variant="relu", seed=seed, dict_size=m), key=lambda s: s.setting)
            if len(sc) >= 2:
                values.append({"seed": seed, "dict_size": m, "coefs": [sc[0].setting, sc[-1].setting],
                               "dead": [round(sc[0].dead, 3), round(sc[-1].dead, 3)]})
    if not values:
        return Claim.cannot_judge(*args, "needs ReLU SAEs at two or more L1 coefficients")
    passes = [v["dead"][1] >= DEAD_AT_LARGEST and v["dead"][1] >= v["dead"][0] + DEAD_RISE for v in values]
    return Claim.measure(*args, values, passes, lambda v: (
        f"seed {v['seed']} dict {v['dict_size']}: dead {v['dead'][0]:.0%} at coef {v['coefs'][0]:g} -> "
        f"{v['dead'][1]:.0%} at {v['coefs'][1]:g}"))


def _topk_matches_l1(results: Results) -> Claim:
    args = ("topk_matches_l1",
            "at equal L0, a TopK SAE reconstructs at least as well as an L1 (ReLU) SAE",
            "Gao et al. 2024: TopK latents give better reconstruction (lower MSE) than ReLU with L1 at equal L0, "
            "and fewer dead latents",
            f"per seed and dictionary size, each TopK SAE whose L0 lies within the ReLU SAEs' L0 range: its FVU <= the "
            f"ReLU FVU interpolated (linear in log L0) at that L0, + {FVU_SLACK}")
    values = []
    for seed in _seeds(results):
        for m in sorted({s.dict_size for s in results.scores}):
            relu = sorted(_by(results.scores, variant="relu", seed=seed, dict_size=m), key=lambda s: s.l0)
            relu = [s for s in relu if s.l0 > 0]
            if len(relu) < 2:
                continue
            l0s, fvus = np.log([s.l0 for s in relu]), [s.fvu for s in relu]
            for t in _by(results.scores, variant="topk", seed=seed, dict_size=m):
                if t.l0 > 0 and l0s[0] <= np.log(t.l0) <= l0s[-1]:
                    values.append({"seed": seed, "dict_size": m, "k": int(t.setting), "l0": round(t.l0, 3),
                                   "fvu_topk": round(t.fvu, 4),
                                   "fvu_relu": round(float(np.interp(np.log(t.l0), l0s, fvus)), 4)})
    if not values:
        return Claim.cannot_judge(*args, "no TopK SAE with an L0 inside the ReLU SAEs' L0 range")
    passes = [v["fvu_topk"] <= v["fvu_relu"] + FVU_SLACK for v in values]
    return Claim.measure(*args, values, passes, lambda v: (
        f"seed {v['seed']} dict {v['dict_size']} k={v['k']}: FVU {v['fvu_topk']:.3f} vs L1 {v['fvu_relu']:.3f} "
        f"at L0 {v['l0']:.2f}"))


def claims(results: Results) -> list[Claim]:
    return [_recovers_features(results), _small_dictionary_merges(results), _large_coef_kills_latents(results),
            _topk_matches_l1(results)]


RECIPE = Recipe(
    name="saes",
    summary="sparse autoencoders (ReLU+L1, TopK, JumpReLU) scored against known true features",
    presets=PRESETS,
    sweepable=SWEEPABLE,
    figures=(figures.pareto, figures.mmcs_heatmap, figures.recovered_directions, figures.dead_latents,
             figures.dictionary_growth),
    task=S.task,
    make_data=S.make_data,
    analyse=A.analyse,
    claims=claims,
    preset_sets=PRESET_SETS,
    within_cell=WITHIN_CELL,
    outcomes=A.outcomes,
    canonical=canonical,
)

"""Nanda et al. 2023, "Progress measures for grokking via mechanistic interpretability": presets
and the paper's claims, each measured per instance (docs/papers.md, grokking)."""

from __future__ import annotations

import functools

import numpy as np

from toymodels import engine, population
from toymodels.grokking import analyses as G
from toymodels.grokking import figures
from toymodels.grokking import model as ma
from toymodels.grokking.config import Config
from toymodels.recipe import Claim, Recipe

PRESETS = {
    # Smaller p and a larger train fraction: groks in minutes on a 2-core CPU, same three phases.
    # Seeds 0-2 memorise by step 150 and reach test loss 0.1 at steps 1900-2450.
    "quick": Config(p=53, frac_train=0.5, steps=5000, eval_every=20, checkpoint_every=100),
    # The mainline run of the paper.
    "paper": Config(p=113, frac_train=0.3, steps=40_000, eval_every=100, checkpoint_every=250),
}
SWEEPABLE = ("seed", "lr", "weight_decay", "frac_train")


def task(cfg: Config) -> engine.Task:
    return engine.Task(
        init_params=functools.partial(ma.init_params, cfg),
        loss=functools.partial(ma.loss, p=cfg.p),
        metrics=functools.partial(ma.metrics, p=cfg.p),
        optimizer=functools.partial(ma.optimizer, cfg),
    )


# ---------------------------------------------------------------------------------------------
# Claims of the paper, each measured per instance; a claim holds when it holds for every instance.


FALLEN = 0.1  # a loss below this has fallen: train pairs fitted, test pairs solved (as the paper's grokking times)


def _first_below(steps, curve, level):
    step = population.first_step(steps, np.asarray(curve)[:, None] < level)[0]
    return float("nan") if step is None else step


def _at(steps, curve, step):
    """Value of a checkpoint curve at the last checkpoint at or before `step`."""
    i = max(int(np.searchsorted(steps, step, side="right")) - 1, 0)
    return float(curve[i])


def _frequencies_for_mass(freq_norms, share=0.9):
    """Fewest frequencies whose squared norms hold `share` of the total."""
    sq = np.sort(np.asarray(freq_norms) ** 2)[::-1]
    return int(np.searchsorted(np.cumsum(sq) / sq.sum(), share) + 1)


def claims(results: G.Results) -> list[Claim]:
    m, o, phases = results.metrics, results.over_training, results.phases
    ck = results.checkpoint_steps
    n = len(results.key_freqs)
    n_freq = results.p // 2
    out = []

    t_train = [_first_below(m["step"], m["train_loss"][:, i], FALLEN) for i in range(n)]
    t_test = [_first_below(m["step"], m["test_loss"][:, i], FALLEN) for i in range(n)]
    ratio = [te / tr if tr > 0 else te / m["step"][1] for tr, te in zip(t_train, t_test)]
    out.append(Claim.measure(
        "grokking_delay", "train loss falls long before test loss",
        "memorisation by ~1.4k epochs, test loss falls in cleanup ~9.4k-14k epochs; test loss < 0.1 after 7,930 "
        "epochs (p=113, 30% of pairs)",
        "test loss reaches 0.1 at least 5x later than train loss",
        [{"train_step": a, "test_step": b, "ratio": r} for a, b, r in zip(t_train, t_test, ratio)],
        [r >= 5 for r in ratio],  # NaN (never) compares False
        lambda v: f"{v['train_step']:.0f} vs {v['test_step']:.0f} ({v['ratio']:.0f}x)"))

    acc = [float(m["test_acc"][-1, i]) for i in range(n)]
    out.append(Claim.measure(
        "generalises", "every seed groks: test accuracy reaches ~100%",
        "the mainline run generalises to the test pairs (test loss < 0.1 after 7,930 epochs at p=113, 30% of pairs)",
        "final test accuracy >= 0.99", acc, [a >= 0.99 for a in acc], lambda v: f"{v:.4f}"))

    k90 = [_frequencies_for_mass(results.final.embed_freq_norms[i]) for i in range(n)]
    out.append(Claim.measure(
        "embedding_sparse", "the embedding is sparse in the Fourier basis",
        "W_E is sparse in the Fourier basis: ~6 of 56 frequencies (p=113)",
        f"90% of W_E's squared norm in <= 25% of the {n_freq} frequencies",
        k90, [k <= 0.25 * n_freq for k in k90], lambda v: f"{v} frequencies"))

    fve = [float(o.key_logit_fve[-1, i]) for i in range(n)]
    nk = [len(k) for k in results.key_freqs]
    out.append(Claim.measure(
        "key_frequencies_explain_logits", "a handful of key frequencies explain most of the logit variance",
        "key frequencies {14, 35, 41, 42, 52} on the mainline; their cos(w(a+b-c)) terms explain ~95% of the "
        "logits' variance (slides)",
        "2-8 key frequencies whose cos(w(a+b-c)) terms explain >= 80% of logit variance",
        [{"key_freqs": k, "fve": f} for k, f in zip(results.key_freqs, fve)],
        [2 <= a <= 8 and f >= 0.8 for a, f in zip(nk, fve)],
        lambda v: f"{v['key_freqs']} explain {v['fve']:.2f}"))

    t_res = [_first_below(ck, o.restricted_loss[:, i], FALLEN) for i in range(n)]
    t_te = [_first_below(ck, o.test_loss[:, i], FALLEN) for i in range(n)]
    out.append(Claim.measure(
        "restricted_loss_falls_first", "restricted loss falls before test loss",
        "restricted loss falls well before test loss (circuit formation precedes cleanup)",
        "restricted loss reaches 0.1 at an earlier checkpoint than test loss",
        [{"restricted_step": a, "test_step": b} for a, b in zip(t_res, t_te)],
        [a < b for a, b in zip(t_res, t_te)], lambda v: f"{v['restricted_step']:.0f} vs {v['test_step']:.0f}"))

    # A rise towards chance during circuit formation: below half of chance (log p) when memorisation
    # ends, at or above it at some checkpoint up to cleanup start where train loss is still below the
    # level that marks memorisation in grokking_delay. Half of chance: the logits without the key
    # frequencies are worse than a uniform guess among sqrt(p) answers.
    chance = float(np.log(results.p))
    rise, ok = [], []
    for i, ph in enumerate(phases):
        v = {"at_memorisation_end": np.nan, "peak": np.nan, "step": np.nan, "train_loss": np.nan, "chance": chance}
        if np.isfinite(ph["memorisation_end"]) and np.isfinite(ph["cleanup_start"]):
            v["at_memorisation_end"] = _at(ck, o.excluded_loss[:, i], ph["memorisation_end"])
            low = (ck > ph["memorisation_end"]) & (ck <= ph["cleanup_start"]) & (o.train_loss[:, i] < FALLEN)
            if low.any():
                j = np.flatnonzero(low)[int(np.argmax(o.excluded_loss[low, i]))]
                v.update(peak=float(o.excluded_loss[j, i]), step=float(ck[j]), train_loss=float(o.train_loss[j, i]))
        rise.append(v)
        ok.append(bool(v["at_memorisation_end"] < 0.5 * chance <= v["peak"]))  # NaN compares False
    out.append(Claim.measure(
        "excluded_loss_rises", "excluded loss rises towards chance during circuit formation while train loss stays low",
        "excluded loss (logits without their key-frequency cos/sin(w(a+b)) parts, on the train pairs) rises during "
        "circuit formation (~1.4k-9.4k epochs at p=113) while train loss stays low; shown as a curve, no number "
        "(chance, log p, is 4.73 at p=113)",
        f"excluded loss crosses half of chance (0.5 log p) in circuit formation: below it at the end of memorisation, "
        f"at or above it at some checkpoint up to cleanup start where train loss < {FALLEN}",
        rise, ok, _excluded_text,
        revised="was: excluded loss at cleanup start >= 2x its value at the end of memorisation, which a rise "
                "from 6e-5 to 1.2e-4 would pass; the paper's rise is towards chance"))

    clean, ok = [], []
    for i, ph in enumerate(phases):
        if not (np.isfinite(ph["cleanup_start"]) and np.isfinite(ph["cleanup_end"])):
            clean.append(None)
            ok.append(False)
            continue
        d = {name: (_at(ck, getattr(o, name)[:, i], ph["cleanup_start"]), _at(ck, getattr(o, name)[:, i], ph["cleanup_end"]))
             for name in ("gini_embed", "gini_neuron_logit", "sum_squared_weights")}
        clean.append(d)
        ok.append(d["gini_embed"][1] - d["gini_embed"][0] > 0.05 and d["gini_neuron_logit"][1] - d["gini_neuron_logit"][0] > 0.05
                  and d["sum_squared_weights"][1] < 0.9 * d["sum_squared_weights"][0])
    out.append(Claim.measure(
        "cleanup", "in cleanup the Gini coefficients of W_E and W_L rise and the weight norm falls",
        "the Gini coefficients of W_E's and W_L's Fourier norms rise sharply in cleanup; the total sum of squared "
        "weights falls, sharply in cleanup",
        "over cleanup each Gini rises by > 0.05 and the sum of squared weights falls by > 10%",
        clean, ok, lambda v: "no cleanup phase found" if v is None else
        ", ".join(f"{k} {a:.3g}->{b:.3g}" for k, (a, b) in v.items())))
    return [_unjudged_without_test_pairs(c, results) if c.id in NEED_TEST_PAIRS else c for c in out]


def _excluded_text(v: dict) -> str:
    if not np.isfinite(v["at_memorisation_end"]):
        return "no circuit-formation phase found"
    peak = (f"no checkpoint with train loss < {FALLEN} in it" if not np.isfinite(v["peak"]) else
            f"{v['peak']:.3g} at step {v['step']:.0f} (train {v['train_loss']:.2g})")
    return f"{v['at_memorisation_end']:.3g} at memorisation end -> {peak}; 0.5 log p = {0.5 * v['chance']:.3g}"


# Claims read off the test loss (directly or through the phases it defines).
NEED_TEST_PAIRS = ("grokking_delay", "generalises", "restricted_loss_falls_first", "excluded_loss_rises", "cleanup")


def _unjudged_without_test_pairs(claim: Claim, results: G.Results) -> Claim:
    missing = int((np.asarray(results.n_test) == 0).sum())
    if not missing:
        return claim
    return claim.unjudged(f"no test pairs in {missing} of {len(results.n_test)} instances (frac_train=1)")


# Epochs until test loss < 0.1 of the paper's mainline model (p = 113, weight decay 1), by train
# fraction (docs/papers.md, grokking): drawn beside a train-fraction sweep's grok steps.
PAPER_GROK_EPOCHS = {0.95: 157, 0.9: 222, 0.8: 252, 0.7: 222, 0.6: 440, 0.5: 956, 0.4: 3109, 0.3: 7930, 0.25: 21848}


def outcomes(results: G.Results) -> list[dict]:
    """Per instance: the first steps at which test loss falls below 0.1 (the paper's published
    measure) and 1e-2, and the key frequencies at the end."""
    steps, test = results.metrics["step"], np.asarray(results.metrics["test_loss"])
    below_01, below_001 = (population.first_step(steps, test < t) for t in (0.1, 1e-2))
    return [{"grok_step_0.1": a, "grok_step_0.01": b, "n_key_freqs": len(k), "key_freqs": list(k)}
            for a, b, k in zip(below_01, below_001, results.key_freqs)]


RECIPE = Recipe(
    name="grokking",
    summary="Nanda et al. 2023: a 1-layer transformer groks (a + b) mod p; Fourier circuit and progress measures",
    presets=PRESETS,
    sweepable=SWEEPABLE,
    figures=figures.FIGURES,
    task=task,
    make_data=ma.make_data,
    data_shape_keys=("frac_train",),
    analyse=G.analyse,
    claims=claims,
    outcomes=outcomes,
    sweep_outcomes=(("grok_step_0.1", "first step with test loss < 0.1"),
                    ("grok_step_0.01", "first step with test loss < 1e-2"),
                    ("n_key_freqs", "key frequencies at the end")),
    sweep_reference={("grok_step_0.1", "frac_train"): ("paper, p=113 (epochs to test loss < 0.1)", PAPER_GROK_EPOCHS),
                     # the paper publishes no times for 1e-2: its < 0.1 times, labelled as such, as a lower bound
                     ("grok_step_0.01", "frac_train"): ("paper, p=113: epochs to test loss < 0.1 (a looser threshold)",
                                                         PAPER_GROK_EPOCHS)},
)

"""Nanda et al. 2023, "Progress measures for grokking via mechanistic interpretability"."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from toymodels import engine
from toymodels.grokking import analyses as G
from toymodels.algebra.fourier import fourier_transform_2d
from toymodels.grokking import model as ma
from toymodels.grokking.model import Config

PRESETS = {
    # Smaller p and a larger train fraction: groks in minutes on a 2-core CPU, same three phases.
    # Seeds 0-2 memorise by step 150 and reach test loss 0.1 at steps 1900-2450.
    "quick": Config(p=53, frac_train=0.5, steps=5000, eval_every=20, checkpoint_every=100),
    # The mainline run of the paper (REFERENCE section 1).
    "paper": Config(p=113, frac_train=0.3, steps=40_000, eval_every=100, checkpoint_every=250),
}
SWEEPABLE = ("seed", "lr", "weight_decay", "frac_train")
FIGURES = ("loss_curves", "fourier_norms", "attention", "neuron_activations", "logit_fourier_norms",
           "neuron_fve_histogram", "cluster_neuron_logit_map", "progress_measures",
           "excluded_loss_per_frequency", "cos_coefficients")


def task(cfg: Config) -> engine.Task:
    return engine.Task(
        init_params=functools.partial(ma.init_params, cfg),
        loss=functools.partial(ma.loss, p=cfg.p),
        metrics=functools.partial(ma.metrics, p=cfg.p),
        optimizer=functools.partial(ma.optimizer, cfg),
    )


make_data = ma.make_data


def schedule(cfg: Config) -> engine.Schedule:
    return engine.Schedule.make(cfg.steps, cfg.eval_every, cfg.checkpoint_every, cfg.log_checkpoints)


def figures(run, results, out, only=None):
    from toymodels.grokking.figures import make_figures

    return make_figures(run, results, out, only)


# ---------------------------------------------------------------------------------------------
# Analyses of a finished run: key frequencies from the final model, progress measures at every
# checkpoint (vmapped over instances, mapped over checkpoints to bound memory).


def _over_training(params, key_mask, is_train):
    """Progress measures of one instance at one checkpoint."""
    logits = G.logits_over_pairs(params)
    test = ~is_train
    return {
        "test_loss": G.mean_loss(logits, test),
        "train_loss": G.mean_loss(logits, is_train),
        "restricted_loss": G.restricted_loss(logits, key_mask),
        "restricted_accuracy": G.restricted_accuracy(logits, key_mask),
        "excluded_loss": G.excluded_loss(logits, key_mask, is_train),
        "excluded_loss_per_frequency": G.excluded_loss_per_frequency(logits, is_train),
        "cos_coefficients": G.cos_coefficients(logits),
        "key_logit_fve": G.key_logit_fve(logits, key_mask),
        "gini_embed": G.gini_embed(params),
        "gini_neuron_logit": G.gini_neuron_logit(params),
        "sum_squared_weights": G.sum_squared_weights(params),
    }


@jax.jit
def _final_analyses(params):
    """Per-instance analyses of final params (vmapped over instances)."""
    def one(prm):
        acts = G.mlp_activations(prm)
        freq, fve, cluster = G.neuron_frequencies(acts)
        logits = G.logits_over_pairs(prm)
        centred = logits - logits.mean(axis=-1, keepdims=True)
        return {
            "neuron_freq": freq, "neuron_fve": fve, "neuron_cluster": cluster,
            "embed_fourier_norms": G.fourier_norms_embed(prm),
            "neuron_logit_fourier_norms": G.fourier_norms_neuron_logit(prm),
            "embed_freq_norms": G.fourier_norms_embed(prm, per_frequency=True),
            "attention_to_a": G.attention_from_eq(prm),
            "logit_fourier_norms": jnp.sqrt(jnp.sum(fourier_transform_2d(centred, prm["W_E"].shape[0] - 1) ** 2, axis=-1)),
            "mlp_acts": acts,  # (p, p, d_mlp)
        }
    return jax.vmap(one)(params)


def analyse(run) -> dict:
    """Everything the figures and claims need, as numpy arrays with a leading instance axis."""
    cfg = Config(**run.config)
    p = cfg.p
    final = _final_analyses(run.final_params())
    final["mlp_acts"] = final["mlp_acts"][:1]  # only instance 0's are plotted; all would be N*p^2*d_mlp
    final = jax.tree_util.tree_map(np.asarray, final)
    key_freqs = [G.key_frequencies(c, p) for c in final["neuron_cluster"]]
    key_mask = np.stack([np.asarray(G.freq_mask(k, p)) > 0 if k else np.zeros(p // 2, bool) for k in key_freqs])
    is_train = ma.make_data(cfg, run.instances)["is_train"]

    per_instance = jax.vmap(_over_training)
    measures = jax.jit(lambda ps: jax.lax.map(lambda prm: per_instance(prm, key_mask, is_train), ps))(run.params)
    measures = {k: np.asarray(v) for k, v in measures.items()}  # (n_checkpoints, N, ...)
    m = run.metrics
    phases = [G.phase_boundaries(m["step"], m["train_loss"][:, i], m["test_loss"][:, i]) for i in range(len(key_freqs))]
    return {"p": p, "key_freqs": key_freqs, "key_mask": key_mask, "checkpoint_steps": np.asarray(run.steps),
            "over_training": measures, "final": final, "phases": phases, "metrics": m}


# ---------------------------------------------------------------------------------------------
# Claims of the paper, each measured per instance; a claim holds when it holds for every instance.


def _first_below(steps, curve, level):
    below = np.nonzero(np.asarray(curve) < level)[0]
    return float(steps[below[0]]) if below.size else float("nan")


def _at(steps, curve, step):
    """Value of a checkpoint curve at the last checkpoint at or before `step`."""
    i = max(int(np.searchsorted(steps, step, side="right")) - 1, 0)
    return float(curve[i])


def _claim(id_, claim, expected, per_seed, holds, fmt):
    shown = "; ".join(fmt(v) for v in per_seed[:8]) + ("; ..." if len(per_seed) > 8 else "")
    return {"id": id_, "claim": claim, "expected": expected, "measured": shown,
            "per_seed": per_seed, "holds": bool(all(holds))}


def _frequencies_for_mass(freq_norms, share=0.9):
    """Fewest frequencies whose squared norms hold `share` of the total."""
    sq = np.sort(np.asarray(freq_norms) ** 2)[::-1]
    return int(np.searchsorted(np.cumsum(sq) / sq.sum(), share) + 1)


def claims(run, results) -> list[dict]:
    m, o, phases = results["metrics"], results["over_training"], results["phases"]
    ck = results["checkpoint_steps"]
    n = len(results["key_freqs"])
    n_freq = results["p"] // 2
    out = []

    t_train = [_first_below(m["step"], m["train_loss"][:, i], 0.1) for i in range(n)]
    t_test = [_first_below(m["step"], m["test_loss"][:, i], 0.1) for i in range(n)]
    ratio = [te / tr if tr > 0 else te / m["step"][1] for tr, te in zip(t_train, t_test)]
    out.append(_claim("grokking_delay", "train loss falls long before test loss",
                      "test loss reaches 0.1 at least 5x later than train loss",
                      [{"train_step": a, "test_step": b, "ratio": r} for a, b, r in zip(t_train, t_test, ratio)],
                      [r >= 5 for r in ratio],  # NaN (never) compares False
                      lambda v: f"{v['train_step']:.0f} vs {v['test_step']:.0f} ({v['ratio']:.0f}x)"))

    acc = [float(m["test_acc"][-1, i]) for i in range(n)]
    out.append(_claim("generalises", "every seed groks: test accuracy reaches ~100%", "final test accuracy >= 0.99",
                      acc, [a >= 0.99 for a in acc], lambda v: f"{v:.4f}"))

    k90 = [_frequencies_for_mass(results["final"]["embed_freq_norms"][i]) for i in range(n)]
    out.append(_claim("embedding_sparse", "the embedding is sparse in the Fourier basis (paper: ~6 of 56 frequencies)",
                      f"90% of W_E's squared norm in <= 25% of the {n_freq} frequencies",
                      k90, [k <= 0.25 * n_freq for k in k90], lambda v: f"{v} frequencies"))

    fve = [float(o["key_logit_fve"][-1, i]) for i in range(n)]
    nk = [len(k) for k in results["key_freqs"]]
    out.append(_claim("key_frequencies_explain_logits",
                      "a handful of key frequencies explain most of the logit variance (slides: ~95%)",
                      "2-8 key frequencies whose cos(w(a+b-c)) terms explain >= 80% of logit variance",
                      [{"key_freqs": k, "fve": f} for k, f in zip(results["key_freqs"], fve)],
                      [2 <= a <= 8 and f >= 0.8 for a, f in zip(nk, fve)],
                      lambda v: f"{v['key_freqs']} explain {v['fve']:.2f}"))

    t_res = [_first_below(ck, o["restricted_loss"][:, i], 0.1) for i in range(n)]
    t_te = [_first_below(ck, o["test_loss"][:, i], 0.1) for i in range(n)]
    out.append(_claim("restricted_loss_falls_first", "restricted loss falls before test loss",
                      "restricted loss reaches 0.1 at an earlier checkpoint than test loss",
                      [{"restricted_step": a, "test_step": b} for a, b in zip(t_res, t_te)],
                      [a < b for a, b in zip(t_res, t_te)], lambda v: f"{v['restricted_step']:.0f} vs {v['test_step']:.0f}"))

    rise, ok = [], []
    for i, ph in enumerate(phases):
        lo = _at(ck, o["excluded_loss"][:, i], ph["memorisation_end"]) if np.isfinite(ph["memorisation_end"]) else np.nan
        hi = _at(ck, o["excluded_loss"][:, i], ph["cleanup_start"]) if np.isfinite(ph["cleanup_start"]) else np.nan
        tr = _at(ck, o["train_loss"][:, i], ph["cleanup_start"]) if np.isfinite(ph["cleanup_start"]) else np.nan
        rise.append({"at_memorisation_end": lo, "at_cleanup_start": hi, "train_loss": tr})
        ok.append(hi >= 2 * lo and tr < 0.01)
    out.append(_claim("excluded_loss_rises", "excluded loss rises during circuit formation while train loss stays low",
                      "excluded loss at cleanup start >= 2x its value at the end of memorisation, train loss < 0.01",
                      rise, ok, lambda v: f"{v['at_memorisation_end']:.3g} -> {v['at_cleanup_start']:.3g} (train {v['train_loss']:.2g})"))

    clean, ok = [], []
    for i, ph in enumerate(phases):
        if not (np.isfinite(ph["cleanup_start"]) and np.isfinite(ph["cleanup_end"])):
            clean.append(None)
            ok.append(False)
            continue
        d = {k: (_at(ck, o[k][:, i], ph["cleanup_start"]), _at(ck, o[k][:, i], ph["cleanup_end"]))
             for k in ("gini_embed", "gini_neuron_logit", "sum_squared_weights")}
        clean.append(d)
        ok.append(d["gini_embed"][1] - d["gini_embed"][0] > 0.05 and d["gini_neuron_logit"][1] - d["gini_neuron_logit"][0] > 0.05
                  and d["sum_squared_weights"][1] < 0.9 * d["sum_squared_weights"][0])
    out.append(_claim("cleanup", "in cleanup the Gini coefficients of W_E and W_L rise and the weight norm falls",
                      "over cleanup each Gini rises by > 0.05 and the sum of squared weights falls by > 10%",
                      clean, ok, lambda v: "no cleanup phase found" if v is None else
                      ", ".join(f"{k} {a:.3g}->{b:.3g}" for k, (a, b) in v.items())))
    return out

"""Chughtai, Chan, Nanda 2023, "A Toy Model of Universality": networks composing elements of a
finite group learn it through a few irreducible representations; which ones varies by seed."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from toymodels import engine
from toymodels.universality import analyses as U
from toymodels.universality import model as gc
from toymodels.universality.model import Config

PRESETS = {
    # S4 (24 elements) with more data and a 10x learning rate: every seed groks by step ~2000 on
    # a 2-core CPU (with lr 1e-3 and 40% data S4 is still memorising at 10k steps).
    "quick": Config(group="S4", frac_train=0.6, lr=1e-2, steps=3000, eval_every=50, log_checkpoints=30, seeds=4),
    # The paper's S5 MLP universality run (REFERENCE section 3): 50 seeds x 250k epochs.
    "paper": Config(group="S5", frac_train=0.4, steps=250_000, eval_every=1000, log_checkpoints=100, seeds=50),
}
SWEEPABLE = ("seed", "lr", "weight_decay", "frac_train")
FIGURES = ("loss_curves", "logit_similarity", "embedding_fve", "irrep_losses", "weight_norm", "restricted_ratio",
           "hidden_fve", "key_irrep_frequency", "key_irrep_count", "first_learned", "neuron_clusters", "coset_view")

# REFERENCE section 3: S5 MLP, 50 seeds: how often each irrep was key.
REFERENCE_S5_COUNTS = {"sign": 49, "standard": 49, "(2,2,1)": 18, "standard_sign": 17, "(3,2)": 10, "(3,1,1)": 0}
REFERENCE_S5_SEEDS = 50


def task(cfg: Config) -> engine.Task:
    table = cfg.group_obj().table
    return engine.Task(
        init_params=functools.partial(gc.init_params, cfg),
        loss=functools.partial(gc.loss, table=table),
        metrics=functools.partial(gc.metrics, table=table),
        optimizer=functools.partial(gc.optimizer, cfg),
    )


make_data = gc.make_data


def schedule(cfg: Config) -> engine.Schedule:
    return engine.Schedule.make(cfg.steps, cfg.eval_every, cfg.checkpoint_every, cfg.log_checkpoints)


def figures(run, results, out, only=None):
    from toymodels.universality.figures import make_figures

    return make_figures(run, results, out, only)


# ---------------------------------------------------------------------------------------------
# Analyses


def _final(params, T, is_train, key_threshold):
    logits = U.all_logits(params)
    sim = U.logit_similarity(logits, T)
    key = U.key_irreps(sim, key_threshold)
    cluster, share = U.neuron_clusters(params, T)
    cos = U.neuron_cosets(params, T)
    return {"similarity": sim, "key": key, "logit_fve": U.logit_fve(sim, key),
            "embedding_fve": jnp.stack([v for v in U.embedding_fves(params, T).values()]),  # (3, R)
            "hidden_fve": U.hidden_fve(U.hidden_activations(params), T),
            "neuron_cluster": cluster, "neuron_share": share, "coset_best": cos["best"], "coset_fve": cos["fve"],
            "left_input": U.embeddings(params)["left"] if "W_Q" not in params else U.embeddings(params)["left"] @ params["W_in"],
            "test_acc": U.accuracy(logits, T, ~is_train), "train_loss": U.mean_loss(logits, T, is_train),
            "restricted_loss": U.restricted_loss(logits, key, T),
            "excluded_loss": U.excluded_loss(logits, key, is_train, T)}


def _over_training(params, key, is_train, T):
    logits = U.all_logits(params)
    sim = U.logit_similarity(logits, T)
    return {"similarity": sim, "logit_fve": U.logit_fve(sim, key),
            "test_loss": U.mean_loss(logits, T, ~is_train), "train_loss": U.mean_loss(logits, T, is_train),
            "restricted_loss": U.restricted_loss(logits, key, T),
            "excluded_loss": U.excluded_loss(logits, key, is_train, T),
            "restricted_loss_per_irrep": U.restricted_loss_per_irrep(logits, T),
            "excluded_loss_per_irrep": U.excluded_loss_per_irrep(logits, is_train, T),
            "embedding_fve": jnp.stack([v for v in U.embedding_fves(params, T).values()]),
            "sum_squared_weights": sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(params))}


def analyse(run) -> dict:
    cfg = Config(**run.config)
    T = U.tables(cfg.group)
    is_train = jnp.asarray(gc.make_data(cfg, run.instances)["is_train"])
    final = jax.jit(jax.vmap(lambda p, m: _final(p, T, m, cfg.key_threshold)))(run.final_params(), is_train)
    final = jax.tree_util.tree_map(np.asarray, final)
    key = jnp.asarray(final["key"])
    per_instance = jax.vmap(lambda p, k, m: _over_training(p, k, m, T))
    over = jax.jit(lambda ps: jax.lax.map(lambda prm: per_instance(prm, key, is_train), ps))(run.params)
    over = {k: np.asarray(v) for k, v in over.items()}  # (n_ckpt, N, ...)
    steps = np.asarray(run.steps)
    learned = np.stack([np.asarray(U.learning_steps(over["similarity"][:, i], steps, cfg.order_threshold))
                        for i in range(len(run.instances))])  # (N, R)
    return {"group": cfg.group, "irreps": list(T.names), "dims": T.dims,
            "span_dims": np.array([int(round(float(T.owner_onehot[i].sum()))) for i in range(len(T.names))]),
            "partition_names": list(T.partition_names), "partition_sizes": T.partition_sizes,
            "coset_irreps": cfg.coset_irrep_names(), "checkpoint_steps": steps, "final": final,
            "over_training": over, "learned_step": learned, "metrics": run.metrics}


# ---------------------------------------------------------------------------------------------
# Claims, measured per seed; a claim holds when it holds for every seed.


def _claim(id_, claim, expected, per_seed, holds, fmt):
    shown = "; ".join(fmt(v) for v in per_seed[:8]) + ("; ..." if len(per_seed) > 8 else "")
    return {"id": id_, "claim": claim, "expected": expected, "measured": shown, "per_seed": per_seed,
            "holds": bool(all(holds))}


def key_names(results) -> list[list[str]]:
    names = results["irreps"]
    return [[names[j] for j in np.nonzero(k)[0]] for k in results["final"]["key"]]


def first_learned(results) -> list[str | None]:
    out = []
    for i, k in enumerate(results["final"]["key"]):
        steps = np.where(k, results["learned_step"][i], np.inf)
        out.append(results["irreps"][int(np.argmin(steps))] if np.isfinite(steps).any() else None)
    return out


def claims(run, results) -> list[dict]:
    f = results["final"]
    names, n = results["irreps"], len(results["final"]["key"])
    keys = key_names(results)
    out = []

    acc = [float(a) for a in f["test_acc"]]
    out.append(_claim("generalises", "every seed generalises: test accuracy reaches ~100%", "final test accuracy >= 0.99",
                      acc, [a >= 0.99 for a in acc], lambda v: f"{v:.4f}"))

    emb = []
    for i in range(n):
        keep = f["key"][i].copy()
        keep[0] = True  # the trivial irrep: a constant embedding direction acts as the bias the model lacks
        e = f["embedding_fve"][i]
        emb.append({"key": keys[i], "left": float(e[0][keep].sum()), "right": float(e[1][keep].sum()),
                    "unembed": float(e[2][keep].sum())})
    out.append(_claim("key_irreps_explain_embedding",
                      "the key irreps explain nearly all of the embeddings (paper mainline: ~100%; unembedding ~94%)",
                      "key irreps (+ trivial) hold >= 90% of the left and right embeddings' squared norm",
                      emb, [min(e["left"], e["right"]) >= 0.9 for e in emb],
                      lambda v: f"{'+'.join(v['key'])}: left {v['left']:.3f}, right {v['right']:.3f}, unembed {v['unembed']:.3f}"))

    fve = [{"key": keys[i], "fve": float(f["logit_fve"][i])} for i in range(n)]
    out.append(_claim("key_irreps_explain_logits", "the key irreps' characters χ(abc⁻¹) explain most of the logits (paper mainline ~85%)",
                      "logit FVE of the key irreps >= 0.5", fve, [v["fve"] >= 0.5 for v in fve],
                      lambda v: f"{'+'.join(v['key'])}: {v['fve']:.3f}"))

    losses = [{"restricted": float(f["restricted_loss"][i]), "excluded": float(f["excluded_loss"][i]),
               "train": float(f["train_loss"][i])} for i in range(n)]
    out.append(_claim("key_irreps_suffice_and_are_needed",
                      "keeping only the key irreps' ρ(ab) terms keeps the loss low; removing them destroys it",
                      "restricted loss (all pairs) < 0.1 and excluded loss (train pairs) > 1",
                      losses, [v["restricted"] < 0.1 and v["excluded"] > 1 for v in losses],
                      lambda v: f"restricted {v['restricted']:.3g}, excluded {v['excluded']:.3g}"))

    n_nontrivial = len(names) - 1
    counts_key = [len(k) for k in keys]
    lo = min(2, n_nontrivial)
    out.append(_claim("few_key_irreps", "each seed uses a few irreps, not all (paper S5: 2-5 of its 6 non-trivial irreps)",
                      f"between {lo} and {max(n_nontrivial - 1, lo)} of the {n_nontrivial} non-trivial irreps are key",
                      [{"key": keys[i], "n": counts_key[i]} for i in range(n)],
                      [lo <= c <= max(n_nontrivial - 1, lo) for c in counts_key],
                      lambda v: f"{'+'.join(v['key'])} ({v['n']})"))

    counts = {name: int(sum(name in k for k in keys)) for name in names[1:]}
    if results["group"].upper() == "S5":
        ref = {k: f"{v}/{REFERENCE_S5_SEEDS}" for k, v in REFERENCE_S5_COUNTS.items()}
        measured = {k: f"{counts[k]}/{n}" for k in REFERENCE_S5_COUNTS}
        holds = [counts["sign"] >= 0.8 * n and counts["standard"] >= 0.8 * n and counts["(3,1,1)"] == 0]
        out.append({"id": "which_irreps", "claim": "which irreps are learned, and how often (universality)",
                    "expected": f"reference counts {ref}: sign and standard in >= 80% of seeds, (3,1,1) in none",
                    "measured": str(measured), "per_seed": keys, "holds": bool(all(holds))})
    else:
        out.append({"id": "which_irreps", "claim": "which irreps are learned, and how often (universality)",
                    "expected": "no reference counts for this group: reported, and holds when every key irrep is "
                                "also learned over training (its similarity crosses order_threshold)",
                    "measured": str({k: f"{v}/{n}" for k, v in counts.items()}), "per_seed": keys,
                    "holds": bool(all(np.isfinite(results["learned_step"][i][f["key"][i]]).all() for i in range(n)))})

    first = first_learned(results)
    if results["group"].upper() == "S5":
        out.append({"id": "sign_first", "claim": "the sign irrep is usually learned first",
                    "expected": "sign is the first key irrep to cross similarity 0.05 in most seeds",
                    "measured": str({k: first.count(k) for k in set(first)}), "per_seed": first,
                    "holds": first.count("sign") > n / 2})

    coset = coset_summary(results)
    if coset is not None:
        out.append(_claim("coset_neurons",
                          "neurons of the sign irrep split by cosets of its kernel (A_n); standard-irrep neurons "
                          "are best described by cosets of a point stabiliser (a conjugate of S_{n-1}) (Stander et al.)",
                          "coset means explain >= 90% of the left input of >= half the neurons of each learned coset irrep",
                          coset, [all(v["share_explained"] >= 0.5 for v in c.values()) for c in coset],
                          lambda v: "; ".join(f"{k}: {c['n_neurons']} neurons, {c['share_explained']:.2f} by "
                                              f"{c['partition']}" for k, c in v.items()) or "no coset-irrep neurons"))
    return out


def coset_summary(results) -> list[dict] | None:
    """Per seed, for each coset irrep with neurons: how many, the most common best partition and
    the share of its neurons whose coset FVE >= 0.9."""
    want = results["coset_irreps"]
    if not want:
        return None
    f, names, pnames = results["final"], results["irreps"], results["partition_names"]
    out = []
    for i in range(len(f["key"])):
        per = {}
        for name in want:
            r = names.index(name)
            sel = (f["neuron_cluster"][i] == r) & (f["neuron_share"][i] >= 0.9)
            if sel.sum() < 3:
                continue
            best = np.bincount(f["coset_best"][i][sel]).argmax()
            per[name] = {"n_neurons": int(sel.sum()), "partition": pnames[best],
                         "share_explained": float(np.mean(f["coset_fve"][i][sel] >= 0.9))}
        out.append(per)
    return out

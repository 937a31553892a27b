"""Chughtai, Chan, Nanda 2023, "A Toy Model of Universality": networks composing elements of a
finite group learn it through a few irreducible representations; which ones varies by seed
(docs/papers.md, universality)."""

from __future__ import annotations

import functools

import numpy as np

from toymodels import engine
from toymodels.recipe import Claim, Flag, Recipe
from toymodels.universality import analyses as U
from toymodels.universality import figures, model
from toymodels.universality.analyses import Results
from toymodels.universality.config import Config

PRESETS = {
    # S4 (24 elements) with more data and a 10x learning rate: every seed groks by step ~2000 on
    # a 2-core CPU (with lr 1e-3 and 40% data S4 is still memorising at 10k steps).
    "quick": Config(group="S4", frac_train=0.6, lr=1e-2, steps=3000, eval_every=50, log_checkpoints=30, seeds=4),
    # The paper's S5 MLP universality run (docs/papers.md, universality): 50 seeds x 250k epochs.
    "paper": Config(group="S5", frac_train=0.4, steps=250_000, eval_every=1000, log_checkpoints=100, seeds=50),
}
SWEEPABLE = ("seed", "lr", "weight_decay", "frac_train")


def task(cfg: Config) -> engine.Task:
    table = cfg.group_obj().table
    return engine.Task(
        init_params=functools.partial(model.init_params, cfg),
        loss=functools.partial(model.loss, table=table),
        metrics=functools.partial(model.metrics, table=table),
        optimizer=functools.partial(model.optimizer, cfg),
    )


# ---------------------------------------------------------------------------------------------
# Claims, measured per seed; a claim holds when it holds for every seed.


def _keys_text(keys: list[str]) -> str:
    return "+".join(keys)


def claims(results: Results) -> list[Claim]:
    f, names, n = results.final, results.irreps, results.n_instances
    keys = U.key_names(results)
    out = []

    acc = [float(a) for a in f.test_acc]
    out.append(Claim.measure(
        "generalises", "every seed generalises: test accuracy reaches ~100%", "",
        "final test accuracy >= 0.99", acc, [a >= 0.99 for a in acc], lambda v: f"{v:.4f}"))

    emb = []
    for i in range(n):
        keep = f.key[i].copy()
        keep[0] = True  # the trivial irrep: a constant embedding direction acts as the bias the model lacks
        e = f.embedding_fve[i]
        emb.append({"key": keys[i], "left": float(e[0][keep].sum()), "right": float(e[1][keep].sum()),
                    "unembed": float(e[2][keep].sum())})
    out.append(Claim.measure(
        "key_irreps_explain_embedding", "the key irreps explain nearly all of the embeddings",
        "mainline: ~100% of the embeddings, ~94% of the unembedding",
        "key irreps (+ trivial) hold >= 90% of the left and right embeddings' squared norm",
        emb, [min(e["left"], e["right"]) >= 0.9 for e in emb],
        lambda v: f"{_keys_text(v['key'])}: left {v['left']:.3f}, right {v['right']:.3f}, "
                  f"unembed {v['unembed']:.3f}"))

    fve = [{"key": keys[i], "fve": float(f.logit_fve[i])} for i in range(n)]
    out.append(Claim.measure(
        "key_irreps_explain_logits", "the key irreps' characters χ(abc⁻¹) explain most of the logits",
        "mainline: ~85% of the logits", "logit FVE of the key irreps >= 0.5",
        fve, [v["fve"] >= 0.5 for v in fve], lambda v: f"{_keys_text(v['key'])}: {v['fve']:.3f}"))

    losses = [{"restricted": float(f.restricted_loss[i]), "excluded": float(f.excluded_loss[i]),
               "train": float(f.train_loss[i])} for i in range(n)]
    out.append(Claim.measure(
        "key_irreps_suffice_and_are_needed",
        "keeping only the key irreps' ρ(ab) terms keeps the loss low; removing them destroys it", "",
        "restricted loss (all pairs) < 0.1 and excluded loss (train pairs) > 1",
        losses, [v["restricted"] < 0.1 and v["excluded"] > 1 for v in losses],
        lambda v: f"restricted {v['restricted']:.3g}, excluded {v['excluded']:.3g}"))

    n_nontrivial = len(names) - 1
    lo, hi = min(2, n_nontrivial), max(n_nontrivial - 1, min(2, n_nontrivial))
    out.append(Claim.measure(
        "few_key_irreps", "each seed uses a few irreps, not all", "S5: 2-5 of its 6 non-trivial irreps are key",
        f"between {lo} and {hi} of the {n_nontrivial} non-trivial irreps are key",
        [{"key": k, "n": len(k)} for k in keys], [lo <= len(k) <= hi for k in keys],
        lambda v: f"{_keys_text(v['key'])} ({v['n']})"))

    out.append(_which_irreps(results, keys))
    if results.group.upper() == "S5":
        out.append(_sign_first(results))

    coset = U.coset_summary(results)
    if coset is not None:
        out.append(Claim.measure(
            "coset_neurons",
            "neurons of the sign irrep split by cosets of its kernel (A_n); standard-irrep neurons are best "
            "described by cosets of a point stabiliser (a conjugate of S_{n-1})",
            "Stander et al. 2024: sign neurons are constant on cosets of A_n, standard neurons on cosets of "
            "a conjugate of S_{n-1}",
            "coset means explain >= 90% of the left input of >= half the neurons of each learned coset irrep",
            coset, [all(v["share_explained"] >= 0.5 for v in c.values()) for c in coset],
            lambda v: "; ".join(f"{k}: {c['n_neurons']} neurons, {c['share_explained']:.2f} by {c['partition']}"
                                for k, c in v.items()) or "no coset-irrep neurons"))
    return out


def _which_irreps(results: Results, keys: list[list[str]]) -> Claim:
    """Judged on the seeds together for S5 (against the paper's counts), else per seed. The
    measured text is the counts over seeds, not the per-seed keys."""
    f, n = results.final, results.n_instances
    counts = {name: int(sum(name in k for k in keys)) for name in results.irreps[1:]}
    statement = "which irreps are learned, and how often (universality)"
    if results.group.upper() == "S5":
        ref = {k: f"{v}/{U.PAPER_S5_SEEDS}" for k, v in U.PAPER_S5_COUNTS.items()}
        return Claim.measure(
            "which_irreps", statement,
            f"S5 MLP, {U.PAPER_S5_SEEDS} seeds, seeds in which each irrep is key: {ref}",
            f"reference counts {ref}: sign and standard in >= 80% of seeds, (3,1,1) in none",
            keys, counts["sign"] >= 0.8 * n and counts["standard"] >= 0.8 * n and counts["(3,1,1)"] == 0,
            _keys_text, summary=str({k: f"{counts[k]}/{n}" for k in U.PAPER_S5_COUNTS}))
    return Claim.measure(
        "which_irreps", statement, "",
        "no reference counts for this group: reported, and holds when every key irrep is also learned over "
        "training (its similarity crosses order_threshold)",
        keys, [np.isfinite(results.learned_step[i][f.key[i]]).all() for i in range(n)], _keys_text,
        summary=str({k: f"{v}/{n}" for k, v in counts.items()}))


def _sign_first(results: Results) -> Claim:
    """Judged on the seeds together; the measured text is how often each irrep came first."""
    first = U.first_learned(results)
    return Claim.measure(
        "sign_first", "the sign irrep is usually learned first", "",
        "sign is the first key irrep to cross similarity 0.05 in most seeds",
        first, first.count("sign") > results.n_instances / 2, str,
        summary=str({k: first.count(k) for k in dict.fromkeys(first)}))


RECIPE = Recipe(
    name="universality",
    summary="Chughtai et al. 2023: MLPs and transformers learn group composition (S5 default) via irreps",
    presets=PRESETS,
    sweepable=SWEEPABLE,
    figures=figures.FIGURES,
    task=task,
    make_data=model.make_data,
    analyse=U.analyse,
    claims=claims,
    flags=(Flag("--group", "group", "the group, e.g. S5, A4, D6, C7xC3", "G"),
           Flag("--model", "model", "mlp or transformer", "M")),
)

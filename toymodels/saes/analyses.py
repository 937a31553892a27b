"""Every trained SAE of a run scored against the source's true features, on one evaluation batch
of `eval_batch` inputs drawn from the source (the same batch for every instance).

Per instance (`Score`): the metrics of `toymodels.saes.metrics` (MMCS both ways, recovered,
Hungarian cosine, L0, dead and dense latents, FVU, shrinkage), plus
- merged: the share of live latents that are mixtures of features: no true feature within
  cosine 0.9 of the latent, but the latent within cosine 0.9 of the span of its MERGE_SPAN
  best-matching features (meaningless when d <= MERGE_SPAN: every direction is in such a span);
- split: the share of recovered true features matched (cosine >= 0.9) by more than one latent;
- absorption (hierarchical sources): over (parent, child) pairs whose parent has a latent within
  cosine 0.9, how much more often that latent is silent when the child is present than when it
  is not, P(off | parent, child) - P(off | parent, no child); 0 for a clean parent latent, 1 when
  the child's latent has absorbed the parent's whenever both are present. NaN when not measured.

The source is a function of the config (`model.source`); the TMS source's model is re-trained
from its seed (a few seconds, the same program as at training time), so analyses read nothing
but the run directory.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.saes import metrics as M
from toymodels.saes import model as S
from toymodels.saes.config import OWN_SETTING, Config
from toymodels.store import Run

MATCH = 0.9          # cosine at which a latent "is" a feature
MERGE_SPAN = 3
EVAL_SALT = 0xE7A


@dataclasses.dataclass(frozen=True)
class Score:
    variant: str
    dict_size: int
    setting: float            # the variant's own sparsity setting: coef, k or l0_coef
    seed: int
    mmcs: float               # true -> decoder
    mmcs_latents: float       # live latents -> true
    recovered: float
    hungarian: float
    l0: float
    fvu: float
    dead: float
    dense: float
    shrinkage: float
    merged: float
    split: float
    absorption: float


@dataclasses.dataclass(frozen=True)
class Results:
    config: Config
    truth: np.ndarray          # (n_true, d) unit true features
    decoders: np.ndarray       # (N, max_dict_size, d) unit latent directions
    alive: np.ndarray          # (N, max_dict_size) the instance's latents that fired on the evaluation batch
    scores: list[Score]
    metrics: dict              # training history: step, loss, fvu, l0, mmcs, mmcs_latents (T, N)

    @property
    def n_instances(self) -> int:
        return len(self.scores)


def analyse(run: Run) -> Results:
    return score(Config(**run.config), run.instances, run.final_params(), run.metrics)


def score(cfg: Config, insts: list[dict], params: dict, metrics: dict | None = None) -> Results:
    """Score SAEs (params stacked on a leading instance axis, e.g. hand-built ones) against the
    source of `cfg`."""
    params = jax.tree_util.tree_map(jnp.asarray, params)
    data = S.make_data(cfg, insts)
    x, a = S.source_batch(jax.random.fold_in(jax.random.PRNGKey(cfg.source_seed), EVAL_SALT),
                          jax.tree_util.tree_map(lambda v: jnp.asarray(v[0]), data), cfg.eval_batch, cfg.structure)
    per = jax.lax.map(functools.partial(_evaluate, x=x, a=a, structure=cfg.structure),
                      (params, jax.tree_util.tree_map(jnp.asarray, data)))
    per = jax.tree_util.tree_map(np.asarray, per)
    truth = data["truth"][0]
    scores = []
    for i, inst in enumerate(insts):
        variant = inst.get("variant", cfg.variant)
        setting = OWN_SETTING[variant]
        dec, alive = per["decoder"][i], per["alive"][i]
        scores.append(Score(
            variant, int(inst.get("dict_size", cfg.dict_size)), float(inst.get(setting, getattr(cfg, setting))),
            int(inst["seed"]), **_cosine_scores(truth, dec, alive),
            **{k: float(per[k][i]) for k in ("l0", "fvu", "dead", "dense", "shrinkage", "absorption")}))
    return Results(cfg, truth, per["decoder"], per["alive"], scores, metrics or {})


def _evaluate(args, x, a, structure):
    params, data = args
    codes = S.encode(params, x, data["variant"], data["k"], data["mask"], S.k_max(data))
    x_hat = S.decode(params, codes)
    act = M.latent_activity(codes, mask=data["mask"])
    dec = S.decoder(params)
    return {"decoder": dec, "alive": (codes != 0).any(axis=0), "l0": act["l0"], "dead": act["dead"],
            "dense": act["dense"], "fvu": M.fvu(x, x_hat), "shrinkage": M.shrinkage(x, x_hat),
            "absorption": absorption(data["truth"], dec, codes, a) if structure == "hierarchical" else jnp.nan}


def absorption(truth: jax.Array, decoder: jax.Array, codes: jax.Array, a: jax.Array) -> jax.Array:
    """Mean over (parent 2j, child 2j+1) pairs with a matched parent latent of
    P(latent off | parent, child) - P(latent off | parent, no child) (module docstring)."""
    c = M.cosines(truth[0::2], decoder)                      # (pairs, m)
    latent, matched = c.argmax(axis=1), c.max(axis=1) >= MATCH
    off = codes[:, latent] == 0                              # (batch, pairs)
    parent, child = a[:, 0::2] > 0, a[:, 1::2] > 0

    def rate(given):
        return (off & given).sum(axis=0) / jnp.maximum(given.sum(axis=0), 1)

    gap = rate(parent & child) - rate(parent & ~child)
    return jnp.sum(jnp.where(matched, gap, 0.0)) / jnp.maximum(matched.sum(), 1)


def _cosine_scores(truth: np.ndarray, dec: np.ndarray, alive: np.ndarray) -> dict[str, float]:
    """mmcs, mmcs_latents, recovered, hungarian, merged and split of one SAE's live latents
    (the live latents are masked or sliced in numpy: a jax slice would compile once per live count)."""
    if not alive.any():
        return dict.fromkeys(("mmcs", "mmcs_latents", "recovered", "hungarian", "merged", "split"), 0.0)
    to_dec, to_true = (float(v) for v in M.mmcs(truth, dec, alive))  # fixed shapes: one compile
    c = np.asarray(M.cosines(truth, dec))[:, alive]                   # (n, live)
    matches = (c >= MATCH).sum(axis=1)
    return {"mmcs": to_dec, "mmcs_latents": to_true, "recovered": float((matches > 0).mean()),
            "hungarian": M.matching_cosine(c), "merged": merged_share(truth, dec[alive], c),
            "split": float((matches > 1).sum() / max((matches > 0).sum(), 1))}


def merged_share(truth: np.ndarray, latents: np.ndarray, c: np.ndarray | None = None, span: int = MERGE_SPAN) -> float:
    """The share of latents (rows, unit) that match no true feature but lie (cosine >= MATCH)
    in the span of their `span` best-matching features; `c` their (n, m) cosines if known."""
    c = np.asarray(M.cosines(truth, latents)) if c is None else c
    merged = 0
    for j in range(latents.shape[0]):
        if c[:, j].max() >= MATCH:
            continue
        basis = truth[np.argsort(-c[:, j])[:span]]
        coef, *_ = np.linalg.lstsq(basis.T, latents[j], rcond=None)
        merged += np.linalg.norm(basis.T @ coef) >= MATCH
    return merged / latents.shape[0]


def outcomes(results: Results) -> list[dict]:
    """Each instance's scores, for the per-instance table (report.json, instances.csv)."""
    keep = ("mmcs", "mmcs_latents", "recovered", "hungarian", "l0", "fvu", "dead", "merged", "split")
    return [{k: round(getattr(s, k), 4) for k in keep} for s in results.scores]

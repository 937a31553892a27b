"""Analyses of networks composing group elements (Chughtai, Chan, Nanda 2023; cosets after
Stander et al. 2024), for any group of `toymodels.algebra.groups`.

Every analysis is a pure jnp function of ONE model's arrays and a `GroupTables` of constants,
so callers `jax.vmap` it over instances and `jax.lax.map` it over checkpoints; `analyse(run)`
does so for a finished run and returns its `Results`, which the claims and figures read. Conventions:

- pairs are indexed a*|G| + b; logits are (|G|², |G|) indexed [pair, c];
- irreps are those of `toymodels.algebra.irreps.irreps(G)`, in that order (R of
  them, trivial first); a set of irreps is a bool mask (R,);
- the "span" of an irrep ρ is the span in R^|G| of its matrix entries g -> ρ(g)_ij; the spans are
  orthogonal and complete, so per-irrep fractions of any vector's squared norm sum to 1.

Definitions
- logit similarity of ρ: cosine over all (a, b, c) between the logits centred over c and
  χ_ρ(a b c⁻¹) (also centred over c; the trivial irrep's is 0). Key irreps: similarity >
  `key_threshold` (0.005, the paper's code's); logit FVE: Σ over key irreps of similarity².
- embedding FVE of ρ for a matrix X (|G|, h) (one column per direction): the share of
  ||X||² in ρ's span, column by column. For the MLP the left/right embeddings are a's/b's
  contribution to the hidden pre-activations (E_left @ W_left, E_right @ W_right, as the
  paper's code), the unembedding is W_Uᵀ.
- hidden FVE onto ρ(a), ρ(b), ρ(ab): hidden activations H (|G|², n) centred over pairs,
  projected onto the functions (a, b) -> ρ(a)_ij, ρ(b)_ij, ρ(ab)_ij.
- restricted logits: keep only the ρ(ab) components (as functions of (a, b), per c) of the
  given irreps, plus the mean over pairs of what was removed; restricted loss on all pairs.
  Excluded logits: remove those components; excluded loss on the train pairs.
- learning order: the checkpoint step from which each irrep's logit similarity stays above
  `order_threshold` (0.05, the paper's code's) to the end ("learned" means sustained); irreps
  learned at the same checkpoint are tied, and ties are reported as ties.
- neuron clusters: each hidden neuron's input weights (left and right columns, each centred)
  are split by irrep; the neuron belongs to the non-trivial irrep with the largest share.
- coset view: a neuron's left (or right) input as a function of a is compared with its mean
  over the left cosets aH and right cosets Ha of candidate subgroups H (point stabilisers of
  the natural action, e.g. conjugates of S_{n-1} in S_n, and kernels of irreps, e.g. A_n);
  coset FVE = share of the centred input's variance explained by the coset means.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.algebra.groups import Group, group
from toymodels.algebra.irreps import irreps, projection_basis
from toymodels.models import pairs, transformer
from toymodels.store import Run
from toymodels.universality import model
from toymodels.universality.config import Config


@dataclasses.dataclass(frozen=True, eq=False)
class GroupTables:
    """Constants of a group the analyses need (numpy, float32 unless said)."""

    group: Group
    names: tuple[str, ...]      # irrep names, R
    dims: np.ndarray            # (R,) irrep dimensions
    table: np.ndarray           # (|G|, |G|) int32
    labels: np.ndarray          # (|G|²,) a∘b per pair
    basis: np.ndarray           # (|G|, |G|) orthonormal rows, irrep spans in irrep order
    owner: np.ndarray           # (|G|,) irrep index of each basis row
    owner_onehot: np.ndarray    # (R, |G|)
    char_kernel: np.ndarray     # (R, |G|, |G|): χ_ρ(x c⁻¹), centred over c, scaled: χ_ρ(abc⁻¹) has unit norm
    pair_of_product: np.ndarray  # (|G|, |G|²) one-hot: row x marks pairs with a∘b = x
    partitions: np.ndarray      # (P, |G|, |G|) coset-mean projectors
    partition_names: tuple[str, ...]
    partition_sizes: np.ndarray  # (P,) number of cosets

    @property
    def order(self) -> int:
        return self.table.shape[0]


@functools.lru_cache(maxsize=8)
def _tables_cached(name: str) -> GroupTables:
    g = group(name)
    reps = irreps(g)
    n = g.order
    basis, owner = projection_basis(g)
    labels = g.table.reshape(-1)
    x_cinv = g.table[:, g.inverse]  # [x, c] = x c^-1
    kern = np.stack([r.character[x_cinv] for r in reps])
    kern = kern - kern.mean(axis=2, keepdims=True)
    norms = np.sqrt(n * (kern**2).sum(axis=(1, 2), keepdims=True))  # norm over the (a, b, c) cube
    kern = np.where(norms > 1e-9, kern / np.maximum(norms, 1e-30), 0.0)
    pair_of_product = (labels[None, :] == np.arange(n)[:, None]).astype(np.float32)
    parts, part_names, sizes = coset_partitions(g, reps)
    return GroupTables(
        group=g, names=tuple(r.name for r in reps), dims=np.array([r.dim for r in reps]), table=g.table,
        labels=labels.astype(np.int32), basis=basis.astype(np.float32), owner=owner,
        owner_onehot=(owner[None, :] == np.arange(len(reps))[:, None]).astype(np.float32),
        char_kernel=kern.astype(np.float32), pair_of_product=pair_of_product, partitions=parts,
        partition_names=part_names, partition_sizes=sizes)


def tables(g: Group | str) -> GroupTables:
    return _tables_cached(g if isinstance(g, str) else g.name)


def coset_partitions(g: Group, reps=None) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Left and right coset partitions of the candidate subgroups (point stabilisers and proper,
    non-trivial irrep kernels, deduplicated), as coset-mean projectors (P, |G|, |G|)."""
    reps = irreps(g) if reps is None else reps
    subgroups: list[tuple[str, np.ndarray]] = list(g.point_stabilisers())
    for r in reps:
        k = r.kernel()
        if 1 < k.sum() < g.order:
            subgroups.append((f"ker({r.name})", k))
    seen, mats, names, sizes = set(), [], [], []
    for name, mask in subgroups:
        members = np.nonzero(mask)[0]
        for side, coset_rep in (("left", g.table[:, members].min(axis=1)),    # a H
                                ("right", g.table[members, :].min(axis=0))):  # H a
            key = tuple(np.unique(coset_rep, return_inverse=True)[1])
            if key in seen:
                continue
            seen.add(key)
            same = (coset_rep[:, None] == coset_rep[None, :]).astype(np.float64)
            mats.append(same / same.sum(axis=1, keepdims=True))
            names.append(f"{side} cosets of {name}")
            sizes.append(len(np.unique(coset_rep)))
    if not mats:
        mats, names, sizes = [np.full((g.order, g.order), 1.0 / g.order)], ["trivial partition"], [1]
    return np.stack(mats).astype(np.float32), tuple(names), np.array(sizes)


# ---------------------------------------------------------------------------------------------
# Model outputs


def all_logits(params: dict) -> jax.Array:
    """Logits (|G|², |G|) of either model over every pair."""
    n = _order(params)
    a, b = np.divmod(np.arange(n * n), n)
    return model.logits(params, jnp.asarray(a), jnp.asarray(b))


def hidden_activations(params: dict) -> jax.Array:
    """MLP: post-ReLU hidden layer; transformer: MLP neurons at the `=` position. (|G|², n)."""
    n = _order(params)
    a, b = np.divmod(np.arange(n * n), n)
    if model.is_transformer(params):
        toks = jnp.asarray(np.stack([a, b, np.full_like(a, n)], 1))
        return transformer.run_with_cache(params, toks)[1]["mlp_post"][:, -1]
    return model.mlp_hidden(params, jnp.asarray(a), jnp.asarray(b))


def embeddings(params: dict) -> dict[str, jax.Array]:
    """left, right (|G|, h): each input's contribution to the first hidden layer; unembed
    (|G|, h): W_Uᵀ. For the transformer, left = right = W_E without the `=` row."""
    n = _order(params)
    if model.is_transformer(params):
        return {"left": params["W_E"][:n], "right": params["W_E"][:n], "unembed": params["W_U"][:, :n].T}
    return {"left": params["E_left"] @ params["W_left"], "right": params["E_right"] @ params["W_right"],
            "unembed": params["W_U"].T}


def _order(params: dict) -> int:
    return params["W_E"].shape[0] - 1 if model.is_transformer(params) else params["E_left"].shape[0]


# ---------------------------------------------------------------------------------------------
# Logits


def logit_similarity(logits: jax.Array, T: GroupTables) -> jax.Array:
    """(R,) cosine between centred logits and χ_ρ(a b c⁻¹) per irrep."""
    centred = logits - logits.mean(axis=-1, keepdims=True)
    by_product = jnp.asarray(T.pair_of_product) @ centred  # (|G|, |G|): Σ over pairs with ab = x
    dots = jnp.einsum("rxc,xc->r", jnp.asarray(T.char_kernel), by_product)
    return dots / jnp.maximum(jnp.linalg.norm(centred), 1e-30)


def key_irreps(similarity: jax.Array, threshold: float) -> jax.Array:
    """(R,) bool: non-trivial irreps whose logit similarity exceeds threshold."""
    return (similarity > threshold).at[0].set(False)


def logit_fve(similarity: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.sum(jnp.where(mask, similarity**2, 0.0))


def _product_directions(T: GroupTables) -> jax.Array:
    """(|G|, |G|²): basis rows evaluated at a∘b, unit norm over pairs."""
    return jnp.asarray(T.basis[:, T.labels] / np.sqrt(T.order))


def restricted_logits(logits: jax.Array, mask: jax.Array, T: GroupTables) -> jax.Array:
    D = _product_directions(T)
    keep = jnp.asarray(mask)[jnp.asarray(T.owner)].astype(logits.dtype)
    kept = D.T @ ((D @ logits) * keep[:, None])
    return kept + jnp.mean(logits - kept, axis=0)


def excluded_logits(logits: jax.Array, mask: jax.Array, T: GroupTables) -> jax.Array:
    D = _product_directions(T)
    drop = jnp.asarray(mask)[jnp.asarray(T.owner)].astype(logits.dtype)
    return logits - D.T @ ((D @ logits) * drop[:, None])


def mean_loss(logits: jax.Array, T: GroupTables, weight: jax.Array | None = None) -> jax.Array:
    ce = pairs.cross_entropy(logits, jnp.asarray(T.labels))
    if weight is None:
        return ce.mean()
    w = weight.astype(ce.dtype)
    return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)


def accuracy(logits: jax.Array, T: GroupTables, weight: jax.Array | None = None) -> jax.Array:
    ok = (jnp.argmax(logits, -1) == jnp.asarray(T.labels)).astype(jnp.float32)
    if weight is None:
        return ok.mean()
    w = weight.astype(ok.dtype)
    return jnp.sum(ok * w) / jnp.maximum(jnp.sum(w), 1.0)


def restricted_loss(logits, mask, T):
    """Cross-entropy over ALL pairs of the logits restricted to the irreps in `mask`."""
    return mean_loss(restricted_logits(logits, mask, T), T)


def excluded_loss(logits, mask, is_train, T):
    """Cross-entropy over the TRAIN pairs with the irreps in `mask` removed."""
    return mean_loss(excluded_logits(logits, mask, T), T, is_train)


def _one_hot_masks(T: GroupTables) -> jax.Array:
    return jnp.eye(len(T.names), dtype=bool)


def restricted_loss_per_irrep(logits, T):
    """(R,) restricted loss keeping one irrep at a time."""
    return jax.lax.map(lambda m: restricted_loss(logits, m, T), _one_hot_masks(T))


def excluded_loss_per_irrep(logits, is_train, T):
    """(R,) excluded loss removing one irrep at a time."""
    return jax.lax.map(lambda m: excluded_loss(logits, m, is_train, T), _one_hot_masks(T))


# ---------------------------------------------------------------------------------------------
# Embeddings, hidden layer, neurons


def embedding_fve(x: jax.Array, T: GroupTables) -> jax.Array:
    """(R,) share of ||X||² (X: (|G|, h)) in each irrep's span; sums to 1."""
    coef = jnp.asarray(T.basis) @ x
    per_row = jnp.sum(coef**2, axis=-1)
    return jnp.asarray(T.owner_onehot) @ per_row / jnp.maximum(jnp.sum(x**2), 1e-30)


def embedding_fves(params: dict, T: GroupTables) -> dict[str, jax.Array]:
    return {k: embedding_fve(v, T) for k, v in embeddings(params).items()}


def hidden_fve(hidden: jax.Array, T: GroupTables) -> jax.Array:
    """(R, 3): share of the centred hidden activations' variance along ρ(a), ρ(b), ρ(ab)."""
    n = T.order
    a, b = np.divmod(np.arange(n * n), n)
    B = jnp.asarray(T.basis) / np.sqrt(n)
    h = hidden - hidden.mean(axis=0)
    total = jnp.maximum(jnp.sum(h**2), 1e-30)
    out = []
    for idx in (a, b, T.labels):
        coef = B[:, idx] @ h  # (|G|, n_hidden)
        out.append(jnp.asarray(T.owner_onehot) @ jnp.sum(coef**2, axis=-1) / total)
    return jnp.stack(out, axis=-1)


def neuron_irrep_shares(params: dict, T: GroupTables) -> jax.Array:
    """(n_hidden, R): share of each neuron's centred input weights (left and right) per irrep."""
    emb = embeddings(params)
    if model.is_transformer(params):  # the transformer's neurons read the residual stream: W_E @ W_in
        x = emb["left"] @ params["W_in"]
        parts = [x]
    else:
        parts = [emb["left"], emb["right"]]
    tot = 0.0
    shares = 0.0
    for x in parts:
        x = x - x.mean(axis=0)
        coef = jnp.asarray(T.basis) @ x  # (|G|, n_hidden)
        shares = shares + jnp.asarray(T.owner_onehot) @ coef**2
        tot = tot + jnp.sum(x**2, axis=0)
    return (shares / jnp.maximum(tot, 1e-30)).T


def neuron_clusters(params: dict, T: GroupTables) -> tuple[jax.Array, jax.Array]:
    """(n_hidden,) non-trivial irrep index with the largest share, and that share."""
    s = neuron_irrep_shares(params, T)[:, 1:]
    return jnp.argmax(s, axis=-1) + 1, jnp.max(s, axis=-1)


def coset_fve(x: jax.Array, T: GroupTables) -> jax.Array:
    """(P, n_cols): share of each centred column of x (|G|, n_cols) explained by coset means."""
    x = x - x.mean(axis=0)
    proj = jnp.einsum("pgh,hn->pgn", jnp.asarray(T.partitions), x)
    return jnp.sum(proj**2, axis=1) / jnp.maximum(jnp.sum(x**2, axis=0), 1e-30)


def neuron_cosets(params: dict, T: GroupTables) -> dict[str, jax.Array]:
    """Best coset partition per neuron for its left input: index (n_hidden,) (the coarsest among
    those within 1e-3 of the best FVE), FVE (n_hidden,), and every partition's FVE (P, n_hidden)."""
    left = embeddings(params)["left"]
    if model.is_transformer(params):
        left = left @ params["W_in"]
    fve = coset_fve(left, T)
    # among partitions explaining (within 1e-3) the most, the coarsest: a sign neuron is constant on
    # the cosets of A_n and so on those of any subgroup of A_n too
    tied = fve >= jnp.max(fve, axis=0) - 1e-3
    best = jnp.argmax(jnp.where(tied, -jnp.asarray(T.partition_sizes, jnp.float32)[:, None], -jnp.inf), axis=0)
    return {"best": best, "fve": jnp.max(fve, axis=0), "all": fve}


# ---------------------------------------------------------------------------------------------
# Over training


def learning_steps(similarity: jax.Array, steps: jax.Array, threshold: float) -> jax.Array:
    """(R,) the step from which each irrep's logit similarity (n_ckpt, R) stays above threshold
    to the last checkpoint: the start of its final unbroken run above it. inf where the irrep is
    not above it at the end: an irrep that crossed and fell back was not learned."""
    above = similarity > threshold
    n = above.shape[0]
    last_below = n - 1 - jnp.argmax(~above[::-1], axis=0)
    start = jnp.where((~above).any(axis=0), last_below + 1, 0)
    return jnp.where(above[-1], jnp.asarray(steps, jnp.float32)[jnp.minimum(start, n - 1)], jnp.inf)


# ---------------------------------------------------------------------------------------------
# A finished run, analysed: key irreps and the rest from each final model, and the same measures
# at every checkpoint (vmapped over instances, mapped over checkpoints to bound memory).

# docs/papers.md, universality: S5 MLP, 50 seeds: how often each irrep was key.
PAPER_S5_COUNTS = {"sign": 49, "standard": 49, "(2,2,1)": 18, "standard_sign": 17, "(3,2)": 10, "(3,1,1)": 0}
PAPER_S5_SEEDS = 50
EMBEDDING_PARTS = ("left", "right", "unembed")  # the middle axis of embedding_fve


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FinalAnalyses:
    """Analyses of each instance's final model; leading axis: instance (N)."""

    similarity: np.ndarray       # (N, R) logit similarity per irrep
    key: np.ndarray              # (N, R) bool: key irreps
    logit_fve: np.ndarray        # (N,) logit FVE of the key irreps
    embedding_fve: np.ndarray    # (N, 3, R) per EMBEDDING_PARTS
    hidden_fve: np.ndarray       # (N, R, 3) along ρ(a), ρ(b), ρ(ab)
    neuron_cluster: np.ndarray   # (N, n_hidden) each neuron's irrep
    neuron_share: np.ndarray     # (N, n_hidden) that irrep's share of its input weights
    coset_best: np.ndarray       # (N, n_hidden) each neuron's best coset partition
    coset_fve: np.ndarray        # (N, n_hidden) its coset FVE
    left_input: np.ndarray       # (N, |G|, n_hidden) each neuron's input from a
    test_acc: np.ndarray         # (N,)
    train_loss: np.ndarray       # (N,)
    restricted_loss: np.ndarray  # (N,) key irreps only, all pairs
    excluded_loss: np.ndarray    # (N,) key irreps removed, train pairs


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class OverTraining:
    """The measures at every checkpoint, key irreps those of the final model; axes (checkpoint, N, ...)."""

    similarity: np.ndarray                 # (C, N, R)
    logit_fve: np.ndarray                  # (C, N)
    test_loss: np.ndarray                  # (C, N)
    train_loss: np.ndarray                 # (C, N)
    restricted_loss: np.ndarray            # (C, N)
    excluded_loss: np.ndarray              # (C, N)
    restricted_loss_per_irrep: np.ndarray  # (C, N, R)
    excluded_loss_per_irrep: np.ndarray    # (C, N, R)
    embedding_fve: np.ndarray              # (C, N, 3, R)
    sum_squared_weights: np.ndarray        # (C, N)


@dataclasses.dataclass(frozen=True)
class Results:
    """Everything the claims and figures read of an analysed run."""

    group: str
    irreps: list[str]               # R names, trivial first
    dims: np.ndarray                # (R,)
    partition_names: list[str]      # the coset partitions of GroupTables
    coset_irreps: list[str]         # irreps whose neurons the coset view and claim look at
    key_threshold: float
    order_threshold: float
    checkpoint_steps: np.ndarray    # (C,)
    final: FinalAnalyses
    over_training: OverTraining
    learned_step: np.ndarray        # (N, R) step from which similarity stays above order_threshold (inf: not at the end)
    metrics: dict[str, np.ndarray]  # the in-training metrics: step (E,), the others (E, N)
    n_test: np.ndarray              # (N,) held-out pairs per instance (0 at frac_train=1)

    @property
    def n_instances(self) -> int:
        return len(self.final.key)


def _final(params: dict, T: GroupTables, is_train: jax.Array, key_threshold: float) -> FinalAnalyses:
    logits = all_logits(params)
    sim = logit_similarity(logits, T)
    key = key_irreps(sim, key_threshold)
    cluster, share = neuron_clusters(params, T)
    cosets = neuron_cosets(params, T)
    left = embeddings(params)["left"]
    return FinalAnalyses(
        similarity=sim, key=key, logit_fve=logit_fve(sim, key),
        embedding_fve=jnp.stack(list(embedding_fves(params, T).values())),
        hidden_fve=hidden_fve(hidden_activations(params), T),
        neuron_cluster=cluster, neuron_share=share, coset_best=cosets["best"], coset_fve=cosets["fve"],
        left_input=left @ params["W_in"] if model.is_transformer(params) else left,
        test_acc=accuracy(logits, T, ~is_train), train_loss=mean_loss(logits, T, is_train),
        restricted_loss=restricted_loss(logits, key, T), excluded_loss=excluded_loss(logits, key, is_train, T))


def _over_training(params: dict, key: jax.Array, is_train: jax.Array, T: GroupTables) -> OverTraining:
    logits = all_logits(params)
    sim = logit_similarity(logits, T)
    return OverTraining(
        similarity=sim, logit_fve=logit_fve(sim, key),
        test_loss=mean_loss(logits, T, ~is_train), train_loss=mean_loss(logits, T, is_train),
        restricted_loss=restricted_loss(logits, key, T), excluded_loss=excluded_loss(logits, key, is_train, T),
        restricted_loss_per_irrep=restricted_loss_per_irrep(logits, T),
        excluded_loss_per_irrep=excluded_loss_per_irrep(logits, is_train, T),
        embedding_fve=jnp.stack(list(embedding_fves(params, T).values())),
        sum_squared_weights=pairs.sum_squared_weights(params))


def analyse(run: Run) -> Results:
    cfg = Config(**run.config)
    T = tables(cfg.group)
    is_train = jnp.asarray(model.make_data(cfg, run.instances)["is_train"])
    final = jax.jit(jax.vmap(lambda p, m: _final(p, T, m, cfg.key_threshold)))(run.final_params(), is_train)
    final = jax.tree_util.tree_map(np.asarray, final)
    key = jnp.asarray(final.key)
    per_instance = jax.vmap(lambda p, k, m: _over_training(p, k, m, T))
    over = jax.jit(lambda ps: jax.lax.map(lambda prm: per_instance(prm, key, is_train), ps))(run.params)
    over = jax.tree_util.tree_map(np.asarray, over)
    steps = np.asarray(run.steps)
    learned = np.asarray(jax.vmap(learning_steps, in_axes=(1, None, None))(over.similarity, steps, cfg.order_threshold))
    return Results(group=cfg.group, irreps=list(T.names), dims=T.dims, partition_names=list(T.partition_names),
                   coset_irreps=cfg.coset_irrep_names(), key_threshold=cfg.key_threshold,
                   order_threshold=cfg.order_threshold, checkpoint_steps=steps, final=final, over_training=over,
                   learned_step=learned, metrics=run.metrics, n_test=np.asarray((~is_train).sum(-1)))


# ---------------------------------------------------------------------------------------------
# Summaries of the results, per instance


def key_names(results: Results) -> list[list[str]]:
    """Each instance's key irreps, by name."""
    return [[results.irreps[j] for j in np.nonzero(k)[0]] for k in results.final.key]


def first_learned(results: Results) -> list[tuple[str, ...]]:
    """Each instance's first learned key irreps: every key irrep learned (sustained) at the
    earliest such step, so a tie is a tuple of several; () where no key irrep was learned."""
    out = []
    for i, k in enumerate(results.final.key):
        steps = np.where(k, results.learned_step[i], np.inf)
        first = steps.min() if k.any() else np.inf
        out.append(tuple(results.irreps[j] for j in np.nonzero(steps == first)[0]) if np.isfinite(first) else ())
    return out


def coset_summary(results: Results) -> list[dict] | None:
    """Per instance, for each coset irrep that is key: how many neurons belong to it (input
    share >= 0.9), their most common best partition and the share of them whose coset FVE >= 0.9
    (None without coset irreps)."""
    if not results.coset_irreps:
        return None
    f = results.final
    out = []
    for i in range(results.n_instances):
        per = {}
        for name in results.coset_irreps:
            j = results.irreps.index(name)
            if not f.key[i][j]:
                continue
            sel = (f.neuron_cluster[i] == j) & (f.neuron_share[i] >= 0.9)
            best = np.bincount(f.coset_best[i][sel]).argmax() if sel.any() else None
            per[name] = {"n_neurons": int(sel.sum()), "dim": int(results.dims[j]),
                         "partition": results.partition_names[best] if best is not None else "none",
                         "share_explained": float(np.mean(f.coset_fve[i][sel] >= 0.9)) if sel.any() else 0.0}
        out.append(per)
    return out

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
- null shares: Σ d_ρ² / (|G| - 1) over a set of non-trivial irreps is the share of the
  non-constant functions on G in their spans: what random directions put there on average, and
  the logit similarity² a lookup table of a∘b (logits δ(ab = c)) has with them. A claim that some
  irreps explain a model must beat it; with every non-trivial irrep in the set it is 1.
- learned irreps and learning order: an irrep is LEARNED when its logit similarity stays above
  `order_threshold` (0.05, the paper's code's) from some checkpoint to the last one, and it is key
  at the end; its learned step is the first checkpoint of that final unbroken run (a crossing
  that is later lost does not count). Irreps learned at the same checkpoint are tied: the order
  is a sequence of sets, never broken by irrep index.
- neuron clusters: each hidden neuron's input weights (left and right columns, each centred)
  are split by irrep; the neuron belongs to the non-trivial irrep with the largest share.
- coset view: a neuron's left input as a function of a is compared with its mean over the left
  cosets aH and right cosets Ha of candidate subgroups H (point stabilisers of the natural
  action, e.g. conjugates of S_{n-1} in S_n, and kernels of irreps, e.g. A_n); coset FVE =
  share of the centred input's variance explained by the coset means. The neurons of an irrep
  are SELECTED by a quantity other than the one tested: for the MLP the irrep's share of the
  neuron's right input (from b), for the transformer its share of the neuron's output weights
  (W_out W_U, a function of c); their left input is what the coset partitions must explain.
  (A function in an irrep's span is constant on the cosets of that irrep's kernel, so selecting
  and testing the same input would make the sign/A_n test a tautology.)
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


def _kept_per_irrep(logits: jax.Array, T: GroupTables) -> list[jax.Array]:
    """Per irrep, the logits' ρ(ab) components (restricted_logits' `kept` for that irrep alone),
    each from the irrep's own basis rows: one projection for all irreps, not one per irrep."""
    D = _product_directions(T)
    coef = D @ logits
    return [D[rows].T @ coef[rows] for rows in (np.nonzero(T.owner == r)[0] for r in range(len(T.names)))]


def restricted_loss_per_irrep(logits, T):
    """(R,) restricted loss keeping one irrep at a time."""
    return jnp.stack([mean_loss(kept + jnp.mean(logits - kept, axis=0), T) for kept in _kept_per_irrep(logits, T)])


def excluded_loss_per_irrep(logits, is_train, T):
    """(R,) excluded loss removing one irrep at a time."""
    return jnp.stack([mean_loss(logits - kept, T, is_train) for kept in _kept_per_irrep(logits, T)])


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


def _column_irrep_shares(x: jax.Array, T: GroupTables) -> jax.Array:
    """(n_cols, R): share of each centred column of x (|G|, n_cols) in each irrep's span."""
    x = x - x.mean(axis=0)
    coef = jnp.asarray(T.basis) @ x
    return (jnp.asarray(T.owner_onehot) @ coef**2 / jnp.maximum(jnp.sum(x**2, axis=0), 1e-30)).T


def selection_shares(params: dict, T: GroupTables) -> jax.Array:
    """(n_hidden, R): each irrep's share of what the coset view selects a neuron's irrep by, a
    quantity other than the left input it tests: the MLP's right input (from b); the
    transformer's output weights W_out W_U as a function of c (its neurons read a and b through
    the one embedding)."""
    if model.is_transformer(params):
        x = (params["W_out"] @ params["W_U"][:, :T.order]).T
    else:
        x = embeddings(params)["right"]
    return _column_irrep_shares(x, T)


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
    """(R,) for a similarity history (n_ckpt, R): the first checkpoint step of the final unbroken
    run of checkpoints above threshold that reaches the last checkpoint; inf where the last
    checkpoint is not above threshold. A crossing later lost does not count."""
    above = similarity > threshold
    n = above.shape[0]
    below = ~above
    # index of the last checkpoint below threshold (-1 when none is)
    last_below = jnp.where(below.any(axis=0), n - 1 - jnp.argmax(below[::-1], axis=0), -1)
    start = last_below + 1
    return jnp.where(start < n, jnp.asarray(steps, jnp.float32)[jnp.minimum(start, n - 1)], jnp.inf)


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
    coset_all: np.ndarray        # (N, P, n_hidden) every partition's coset FVE of each neuron's left input
    selection_share: np.ndarray  # (N, n_hidden, R) irrep shares of what the coset view selects by
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
    learned_step: np.ndarray        # (N, R) learned step (see `learned`); inf: not learned
    n_test: np.ndarray              # (N,) test pairs of each instance (0 when frac_train=1)
    metrics: dict[str, np.ndarray]  # the in-training metrics: step (E,), the others (E, N)

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
        coset_all=cosets["all"], selection_share=selection_shares(params, T),
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


# Module-level and jitted with the tables static (one GroupTables object per group), so that
# analysing models of the same shapes again reuses the compiled program.
@functools.partial(jax.jit, static_argnums=(2, 3))
def _final_all(params: dict, is_train: jax.Array, T: GroupTables, key_threshold: float) -> FinalAnalyses:
    return jax.vmap(lambda p, m: _final(p, T, m, key_threshold))(params, is_train)


@functools.partial(jax.jit, static_argnums=3)
def _over_training_all(params: dict, key: jax.Array, is_train: jax.Array, T: GroupTables) -> OverTraining:
    per_instance = jax.vmap(lambda p, k, m: _over_training(p, k, m, T))
    return jax.lax.map(lambda prm: per_instance(prm, key, is_train), params)


def analyse(run: Run) -> Results:
    return analyse_params(Config(**run.config), run.params, run.steps,
                          model.make_data(Config(**run.config), run.instances)["is_train"], run.metrics)


def analyse_params(cfg: Config, params: dict, steps, is_train: np.ndarray,
                   metrics: dict[str, np.ndarray] | None = None) -> Results:
    """The Results of models given directly: params leaves (checkpoint, instance, ...) at the
    checkpoint `steps` (the last one is the final model), `is_train` (instance, |G|²) their
    train pairs. `analyse` serves a run directory with it; tests serve hand-built networks."""
    T = tables(cfg.group)
    is_train = jnp.asarray(np.asarray(is_train, bool))
    final_params = jax.tree_util.tree_map(lambda x: x[-1], params)
    final = jax.tree_util.tree_map(np.asarray, _final_all(final_params, is_train, T, cfg.key_threshold))
    over = jax.tree_util.tree_map(np.asarray, _over_training_all(params, jnp.asarray(final.key), is_train, T))
    steps = np.asarray(steps)
    sustained = np.asarray(jax.vmap(learning_steps, in_axes=(1, None, None))(over.similarity, steps,
                                                                            cfg.order_threshold))
    learned_step = np.where(final.key, sustained, np.inf)  # learned: sustained above order_threshold and key
    return Results(group=cfg.group, irreps=list(T.names), dims=T.dims, partition_names=list(T.partition_names),
                   coset_irreps=cfg.coset_irrep_names(), key_threshold=cfg.key_threshold,
                   order_threshold=cfg.order_threshold, checkpoint_steps=steps, final=final, over_training=over,
                   learned_step=learned_step, n_test=np.asarray((~is_train).sum(axis=1)),
                   metrics=dict(metrics or {}))


# ---------------------------------------------------------------------------------------------
# Summaries of the results, per instance


def select(results: Results, idx) -> Results:
    """The Results of some instances only (idx: indices or a bool mask over instances)."""
    idx = np.arange(results.n_instances)[idx]
    metrics = {k: (v if k == "step" else v[:, idx]) for k, v in results.metrics.items()}
    return dataclasses.replace(
        results, final=jax.tree_util.tree_map(lambda x: x[idx], results.final),
        over_training=jax.tree_util.tree_map(lambda x: x[:, idx], results.over_training),
        learned_step=results.learned_step[idx], n_test=results.n_test[idx], metrics=metrics)


def key_names(results: Results) -> list[list[str]]:
    """Each instance's key irreps, by name."""
    return [[results.irreps[j] for j in np.nonzero(k)[0]] for k in results.final.key]


def learned(results: Results) -> np.ndarray:
    """(N, R) bool: irreps whose logit similarity stays above order_threshold from some
    checkpoint to the end and that are key at the end."""
    return np.isfinite(results.learned_step)


def learned_names(results: Results) -> list[list[str]]:
    return [[results.irreps[j] for j in np.nonzero(k)[0]] for k in learned(results)]


def learning_order(results: Results) -> list[list[tuple[str, ...]]]:
    """Per instance, its learned irreps in the order they were learned, as a list of sets (tuples
    in irrep order): irreps learned at the same checkpoint form one set (a tie, never broken)."""
    out = []
    for steps in results.learned_step:
        done = np.isfinite(steps)
        out.append([tuple(results.irreps[j] for j in np.nonzero(done & (steps == s))[0])
                    for s in np.unique(steps[done])])
    return out


def first_learned(results: Results) -> list[tuple[str, ...]]:
    """Per instance, the irreps sharing the earliest learned step: one name when one irrep was
    learned first alone, several for a tie, () when none was learned."""
    return [order[0] if order else () for order in learning_order(results)]


def lookup_share(results: Results, mask: np.ndarray) -> float:
    """Σ d_ρ² / (|G| - 1) over the non-trivial irreps in mask: the share of the non-constant
    functions on G lying in their spans. It is what random directions put in them on average
    (centred), and what a lookup table of a∘b (logits δ(a∘b = c), centred over c) gets of its
    logit similarity²: the null a model lacking the representation algorithm gets."""
    d = np.asarray(results.dims, float)
    m = np.asarray(mask, bool).copy()
    m[0] = False
    return float((d[m] ** 2).sum() / ((d**2).sum() - 1))  # Σ over all irreps of d² = |G|


def excess_over_lookup(fve: float, share: float) -> float:
    """(fve - share) / (1 - share): 0 for what the null (random directions, a lookup table) gets,
    1 for everything in the key irreps; 0 when the key irreps are everything (share 1)."""
    return 0.0 if share >= 1 - 1e-9 else (fve - share) / (1 - share)


def coset_family(results: Results, irrep: str) -> tuple[str, np.ndarray]:
    """The coset partitions the coset claim tests an irrep's neurons against, and their mask over
    `partition_names`: the standard irrep's neurons against point stabilisers (conjugates of
    S_{n-1}: the permutation representation is trivial + standard), any other irrep's against
    its kernel (e.g. A_n for sign)."""
    names = results.partition_names
    if irrep == "standard":
        return "cosets of a point stabiliser", np.array(["cosets of Stab(" in p for p in names])
    return f"cosets of ker({irrep})", np.array([p.endswith(f"cosets of ker({irrep})") for p in names])


COSET_SELECT = 0.9   # a neuron belongs to an irrep when >= this share of its selection side is in it
COSET_FVE = 0.9      # its left input counts as coset-constant when the partition explains >= this
COSET_MIN_NEURONS = 3


def coset_summary(results: Results) -> list[dict] | None:
    """Per instance, for each coset irrep: whether it can be judged (it is key), the neurons
    selected for it (share >= COSET_SELECT of their selection side, `selection_shares`), and the
    share of those whose left input the irrep's coset family explains >= COSET_FVE, with the
    family's most common best partition. None without coset irreps."""
    if not results.coset_irreps:
        return None
    f = results.final
    out = []
    for i in range(results.n_instances):
        per = {}
        for name in results.coset_irreps:
            r = results.irreps.index(name)
            family, fam = coset_family(results, name)
            entry = {"family": family, "key": bool(f.key[i, r])}
            if not f.key[i, r] or not fam.any():
                entry["judged"] = False
                entry["why"] = "not key" if fam.any() else f"no {family} among the partitions"
                per[name] = entry
                continue
            sel = f.selection_share[i][:, r] >= COSET_SELECT
            fves = f.coset_all[i][fam][:, sel]  # (family partitions, selected neurons)
            entry.update(judged=True, n_neurons=int(sel.sum()))
            if sel.sum() < COSET_MIN_NEURONS:
                entry.update(share_explained=0.0, partition="", passes=False)
            else:
                best = np.nonzero(fam)[0][np.bincount(np.argmax(fves, axis=0)).argmax()]
                share = float(np.mean(fves.max(axis=0) >= COSET_FVE))
                entry.update(share_explained=share, partition=results.partition_names[best], passes=share >= 0.5)
            per[name] = entry
        out.append(per)
    return out

"""Hand-built fact-lookup memorisers whose answers are known, with and without each mechanism
the claims test (activation: ReLU).

Residual layout (d = 2n + 1): dims [0, n) one-hot a (E0), [n, 2n) one-hot b (E1), dim 2n the
readout direction u (w_U = u, b_U = `bias`, so the direct path is `bias` on every pair).

`fact_lookup`: one neuron per stored fact. Fact k = a n + b stored in layer l has neuron k of
MLP l read e_a + e_{n+b} with bias -1.5, so it fires 0.5 on (a, b) alone, and write 2 c_k s_k u:
the fact gets logit c_k s_k from that one neuron (s_k = +-1 its label sign, c_k in [1, 3]). MLP1's
fact neurons read one-hot dimensions only, never u, so they ignore MLP0's output (no MLP0->MLP1
path). With `alpha`, MLP1 neuron 0 reads u and writes alpha u: an amplifier, so
mlp0_to_mlp1 = alpha * ReLU(c_k s_k) for facts of MLP0. Unstored facts get the bias alone.
Extra neurons (`pad` per layer) are masked off and filled with garbage, which must change nothing.

`one_neuron_per_fact`: every fact in MLP0 (MLP1, when present, only the amplifier).
`random_features`: facts spread over every neuron of both layers: the neurons are random ReLU
features of the one-hot inputs, and their readouts the least-squares fit of the margins 2 s_k,
so every fact is a sum over many neurons (each neuron's part returned, for the tests).
`row_rule`: a structured table f(a, b) = g(a) learned as the rule: neuron a of MLP0 fires on every
pair whose first integer is a and writes 2 c_a s_a u, so held-out pairs are right too.

`stack` pads several networks (same n) to one width and stacks them on a leading instance
axis, as a run's final parameters and data are.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.memorisation.model import table_labels, train_split


def _layout(n: int) -> tuple[int, np.ndarray]:
    d = 2 * n + 1
    return d, np.eye(d, dtype=np.float32)


def _network(n, W_in, b_in, W_out, bias, labels, train, live, rng):
    """params and data of a built network: garbage in the masked neurons (columns >= live)."""
    d, eye = _layout(n)
    layers, _, width = W_in.shape
    pad = width - live
    W_in[:, :, live:] = rng.normal(size=(layers, d, pad))
    b_in[:, live:] = rng.normal(size=(layers, pad))
    W_out[:, live:] = rng.normal(size=(layers, pad, d))
    params = {"E0": jnp.asarray(eye[:n]), "E1": jnp.asarray(eye[n:2 * n]), "W_in": jnp.asarray(W_in),
              "b_in": jnp.asarray(b_in), "W_out": jnp.asarray(W_out), "w_U": jnp.asarray(eye[2 * n]),
              "b_U": jnp.asarray(np.float32(bias))}
    facts = n * n
    train = np.ones(facts, bool) if train is None else np.asarray(train, bool).ravel()
    data = {"labels": np.asarray(labels, np.float32).ravel(), "train_weight": train.astype(np.float32),
            "table_weight": np.ones(facts, np.float32), "test_weight": (~train).astype(np.float32),
            "hidden_mask": (np.arange(width) < live).astype(np.float32), "n": np.float32(n),
            "width": np.float32(live)}
    return params, {k: jnp.asarray(v) for k, v in data.items()}


def fact_lookup(labels: np.ndarray, layer_of_fact: np.ndarray, layers: int = 2, bias: float = 0.25,
                alpha: float = 0.0, pad: int = 3, seed: int = 0, train: np.ndarray | None = None
                ) -> tuple[dict, dict, dict]:
    """(params, data, expected) of a one-neuron-per-fact lookup of the (n, n) table `labels`:
    fact k is stored by neuron k of MLP layer_of_fact[k] (0 or 1), or not at all (-1). `train`
    (n, n) bool marks the pairs trained on (default all; only the data's weights change).
    expected holds per pair (P,) arrays: direct, mlp0_direct, mlp1_direct, mlp0_to_mlp1, logit,
    fact_neuron (index of the neuron that stores the fact, -1 if none)."""
    n = labels.shape[0]
    facts = n * n
    where = np.asarray(layer_of_fact).ravel()
    if alpha and (where == 1).any():
        raise ValueError("the amplifier (alpha) uses MLP1 neuron 0: store no fact in MLP1 with it")
    if (where == 1).any() and layers < 2:
        raise ValueError("facts stored in MLP1 need layers=2")
    rng = np.random.default_rng(seed)
    s = 2 * np.asarray(labels, np.float32).ravel() - 1
    c = rng.uniform(1.0, 3.0, facts).astype(np.float32)
    d, eye = _layout(n)
    width = facts + pad
    W_in = np.zeros((layers, d, width), np.float32)
    b_in = np.zeros((layers, width), np.float32)
    W_out = np.zeros((layers, width, d), np.float32)
    a_idx, b_idx = np.divmod(np.arange(facts), n)
    u = eye[2 * n]
    for l in range(layers):
        k = np.flatnonzero(where == l)
        W_in[l, :, k] = eye[a_idx[k]] + eye[n + b_idx[k]]
        b_in[l, k] = -1.5
        W_out[l, k] = 2 * (c[k] * s[k])[:, None] * u
    if layers == 2 and alpha:
        W_in[1, :, 0] = u
        W_out[1, 0] = alpha * u
    params, data = _network(n, W_in, b_in, W_out, bias, labels, train, facts, rng)
    mlp0 = np.where(where == 0, c * s, 0).astype(np.float32)
    mlp1 = np.where(where == 1, c * s, 0).astype(np.float32)
    composed = alpha * np.maximum(mlp0, 0) if layers == 2 else np.zeros(facts, np.float32)
    expected = {"direct": np.full(facts, bias, np.float32), "mlp0_direct": mlp0, "mlp1_direct": mlp1,
                "mlp0_to_mlp1": composed.astype(np.float32),
                "fact_neuron": np.where(where >= 0, np.arange(facts), -1)}
    expected["logit"] = expected["direct"] + mlp0 + mlp1 + expected["mlp0_to_mlp1"]
    return params, data, expected


def one_neuron_per_fact(n: int = 4, layers: int = 2, bias: float = 0.25, alpha: float = 0.5,
                        pad: int = 3, seed: int = 0) -> tuple[dict, dict, dict]:
    """Every fact of a random n x n table stored by its own MLP0 neuron; with two layers MLP1 is
    the amplifier alpha (see the module doc)."""
    labels = table_labels("random", n, seed)
    return fact_lookup(labels, np.zeros(n * n, int), layers=layers, bias=bias, alpha=alpha, pad=pad, seed=seed)


def random_features(n: int = 6, width: int = 16, layers: int = 2, pad: int = 3, seed: int = 0
                    ) -> tuple[dict, dict, np.ndarray]:
    """(params, data, contributions) of a random n x n table spread over every neuron: the neurons
    of each layer are random ReLU features of the one-hot inputs (W_in ~ N(0, 1) on the one-hot
    dimensions, b_in ~ N(0, 1/4); MLP1's read no u, so they ignore MLP0), and their readouts onto u
    are the joint least-squares fit of the margins 2 s_k (layers * width < n^2: an approximate fit,
    as a network over capacity makes). contributions: (n^2, layers * width) each neuron's part of
    each fact's logit, layer 0's neurons first (its direct logit attribution, and, since no neuron
    reads another's output, its single-neuron ablation effect)."""
    labels = table_labels("random", n, seed)
    rng = np.random.default_rng([seed, 1])
    d, eye = _layout(n)
    facts = n * n
    W_in = np.zeros((layers, d, width + pad), np.float32)
    b_in = np.zeros((layers, width + pad), np.float32)
    W_out = np.zeros((layers, width + pad, d), np.float32)
    W_in[:, :2 * n, :width] = rng.normal(size=(layers, 2 * n, width))
    b_in[:, :width] = 0.5 * rng.normal(size=(layers, width))
    a_idx, b_idx = np.divmod(np.arange(facts), n)
    x = eye[a_idx] + eye[n + b_idx]
    features = np.concatenate([np.maximum(x @ W_in[l, :, :width] + b_in[l, :width], 0) for l in range(layers)], 1)
    readout = np.linalg.lstsq(features, 2 * (2 * labels.ravel() - 1), rcond=None)[0].astype(np.float32)
    W_out[:, :width] = readout.reshape(layers, width)[:, :, None] * eye[2 * n]
    params, data = _network(n, W_in, b_in, W_out, 0.0, labels, None, width, rng)
    return params, data, (features * readout).astype(np.float32)


def row_rule(n: int = 6, layers: int = 2, frac_train: float = 0.8, pad: int = 3, seed: int = 0,
             width: int | None = None) -> tuple[dict, dict]:
    """A row table f(a, b) = g(a) (trained on a seeded frac_train share of the pairs) stored as the
    rule: MLP0 neuron a reads e_a with bias -0.5 (fires 0.5 on every pair (a, .)) and writes
    2 c_a s_a u; held-out pairs are right as well. `width` pads the live neurons (default n)."""
    labels = table_labels("row", n, seed)
    rng = np.random.default_rng([seed, 2])
    d, eye = _layout(n)
    live = n if width is None else width
    W_in = np.zeros((layers, d, live + pad), np.float32)
    b_in = np.zeros((layers, live + pad), np.float32)
    W_out = np.zeros((layers, live + pad, d), np.float32)
    s = 2 * labels[:, 0] - 1
    c = rng.uniform(1.0, 3.0, n).astype(np.float32)
    W_in[0, :n, :n] = np.eye(n)
    b_in[0, :n] = -0.5
    W_out[0, :n] = 2 * (c * s)[:, None] * eye[2 * n]
    return _network(n, W_in, b_in, W_out, 0.0, labels, train_split(n, frac_train, seed), live, rng)


def stack(networks: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """Stack (params, data) of networks of the same table size on a leading instance axis, their
    neurons zero-padded (and masked) to the widest."""
    width = max(p["W_in"].shape[-1] for p, _ in networks)

    def widen(p, d):
        extra = width - p["W_in"].shape[-1]
        p = {**p, "W_in": jnp.pad(p["W_in"], ((0, 0), (0, 0), (0, extra))),
             "b_in": jnp.pad(p["b_in"], ((0, 0), (0, extra))), "W_out": jnp.pad(p["W_out"], ((0, 0), (0, extra), (0, 0)))}
        return p, {**d, "hidden_mask": jnp.pad(d["hidden_mask"], (0, extra))}

    wide = [widen(p, d) for p, d in networks]
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[p for p, _ in wide]), \
        jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[d for _, d in wide])

"""A hand-built fact-lookup memoriser with a known answer: one MLP0 neuron per fact.

Residual layout (d = 2n + 1): dims [0, n) one-hot a (E0), [n, 2n) one-hot b (E1), dim 2n the
readout direction u (w_U = u). Neuron k = a n + b of MLP0 reads e_a + e_{n+b} with bias -1.5,
so under ReLU it fires 0.5 on fact (a, b) alone, and writes 2 c_k s_k u: fact k gets logit
c_k s_k from that one neuron (s_k = +-1 its label sign, c_k > 0 an amplitude). b_U = `bias`
is the direct path. With two layers, MLP1 has one live neuron ReLU(u . x) writing `alpha` u,
so mlp1_direct = 0 and mlp0_to_mlp1 = alpha * ReLU(c_k s_k). Extra neurons (`pad` of them
per layer) are masked off and filled with garbage, which must change nothing.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from toymodels.memorisation.model import table_labels


def one_neuron_per_fact(n: int = 4, layers: int = 2, bias: float = 0.25, alpha: float = 0.5,
                        pad: int = 3, seed: int = 0) -> tuple[dict, dict, dict]:
    """(params, data, expected) for a random n x n table. expected holds per pair (P,) arrays:
    direct, mlp0_direct, mlp1_direct, mlp0_to_mlp1, logit, fact_neuron (index of the neuron
    that stores the fact)."""
    rng = np.random.default_rng(seed)
    labels = table_labels("random", n, seed).ravel()
    s = 2 * labels - 1
    c = rng.uniform(1.0, 3.0, n * n).astype(np.float32)
    d, facts = 2 * n + 1, n * n
    width = facts + pad
    eye = np.eye(d, dtype=np.float32)
    u = eye[2 * n]
    W_in = np.zeros((layers, d, width), np.float32)
    b_in = np.zeros((layers, width), np.float32)
    W_out = np.zeros((layers, width, d), np.float32)
    a_idx, b_idx = np.divmod(np.arange(facts), n)
    W_in[0, :, :facts] = (eye[a_idx] + eye[n + b_idx]).T
    b_in[0, :facts] = -1.5
    W_out[0, :facts] = 2 * (c * s)[:, None] * u
    if layers == 2:
        W_in[1, :, 0] = u
        W_out[1, 0] = alpha * u
    # garbage in the masked neurons (and the unused MLP1 neurons' weights stay 0)
    W_in[:, :, facts:] = rng.normal(size=(layers, d, pad))
    b_in[:, facts:] = rng.normal(size=(layers, pad))
    W_out[:, facts:] = rng.normal(size=(layers, pad, d))
    params = {"E0": jnp.asarray(eye[:n]), "E1": jnp.asarray(eye[n:2 * n]), "W_in": jnp.asarray(W_in),
              "b_in": jnp.asarray(b_in), "W_out": jnp.asarray(W_out), "w_U": jnp.asarray(u),
              "b_U": jnp.asarray(np.float32(bias))}
    ones = np.ones(facts, np.float32)
    data = {"labels": labels.astype(np.float32), "train_weight": ones, "table_weight": ones,
            "test_weight": np.zeros(facts, np.float32),
            "hidden_mask": (np.arange(width) < facts).astype(np.float32),
            "n": np.float32(n), "width": np.float32(facts)}
    mlp0 = c * s
    expected = {"direct": np.full(facts, bias, np.float32), "mlp0_direct": mlp0,
                "mlp1_direct": np.zeros(facts, np.float32),
                "mlp0_to_mlp1": alpha * np.maximum(mlp0, 0) if layers == 2 else np.zeros(facts, np.float32),
                "fact_neuron": np.arange(facts)}
    expected["logit"] = expected["direct"] + expected["mlp0_direct"] + expected["mlp0_to_mlp1"]
    data = {k: jnp.asarray(v) for k, v in data.items()}
    return params, data, expected

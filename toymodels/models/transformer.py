"""The one-layer transformer of Nanda et al. (2023), shared by grokking (tokens [a, b, =] of
Z_p) and universality (tokens [a, b, =] of any finite group).

Parameters, TransformerLens-style shapes (a pure dict to the engine):

    W_E   (d_vocab, d_model)           token embedding; the last row is the `=` token
    W_pos (3, d_model)                 learned positional embedding
    W_Q, W_K, W_V (n_heads, d_model, d_head)
    W_O   (n_heads, d_head, d_model)
    W_in  (d_model, d_mlp), b_in (d_mlp,)
    W_out (d_mlp, d_model), b_out (d_model,)
    W_U   (d_model, d_vocab)           unembedding (the `=` logit is kept, as in the paper's code)

ReLU MLP, no LayerNorm, causal attention scaled by 1/sqrt(d_head), biases only in the MLP.

Two forward passes compute the same function:
- `Transformer.__call__` (and `run_with_cache`) is the plain model over all three positions and
  records every named activation; analyses use it.
- `last_logits` is what training uses. The loss reads only the `=` position, and in a one-layer
  model that position's query is the same for every input (it sees the `=` token at position
  2), while keys and values at positions 0 and 1 depend on one token each. So attention scores
  and each head's OV output are per-token tables, looked up per pair; only the MLP and the
  unembedding run per example. Tests check the two agree, forward and gradient.
  Two rewrites with fewer FLOPs were measured no faster on a CPU (engine chunks, side by
  side): W_in acting on per-token OV tables (W_in's matmul becomes gathers of
  |heads| x d_mlp rows per pair and their scatter-add backward: ~0.5x), and W_out folded into
  W_U (3-4% fewer FLOPs, no faster).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from toymodels.config import require_positive
from toymodels.errors import ConfigError
from toymodels.models import module
from toymodels.models.module import record

N_CTX = 3


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """The config fields of a toy that trains this transformer: its sizes (the grokking paper's
    mainline) and the AdamW betas and eps that paper trains it with. A toy's Config inherits
    them beside `toymodels.config.TrainConfig`: `class Config(TransformerConfig, TrainConfig)`."""

    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-8

    def validate(self) -> None:
        super().validate()
        require_positive(self, "d_model", "n_heads", "d_head", "d_mlp")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and self.eps > 0):
            raise ConfigError(f"AdamW needs 0 <= beta1, beta2 < 1 and eps > 0 "
                              f"(got beta1={self.beta1}, beta2={self.beta2}, eps={self.eps})")

    def transformer_sizes(self) -> dict[str, int]:
        return {"d_model": self.d_model, "n_heads": self.n_heads, "d_head": self.d_head, "d_mlp": self.d_mlp}


def _shapes(d_vocab: int, d_model: int, n_heads: int, d_head: int, d_mlp: int) -> dict[str, tuple[int, ...]]:
    return {
        "W_E": (d_vocab, d_model),
        "W_pos": (N_CTX, d_model),
        "W_Q": (n_heads, d_model, d_head),
        "W_K": (n_heads, d_model, d_head),
        "W_V": (n_heads, d_model, d_head),
        "W_O": (n_heads, d_head, d_model),
        "W_in": (d_model, d_mlp),
        "W_out": (d_mlp, d_model),
        "W_U": (d_model, d_vocab),
    }


class Transformer(nnx.Module):
    """Init as the paper's code: N(0, 1)/sqrt(d_model) everywhere except W_U ~ N(0, 1)/sqrt(d_vocab);
    MLP biases zero. One normal draw is cut into the matrices: compiling a draw per matrix takes
    5-10x longer, and init is compiled on every run."""

    def __init__(self, d_vocab: int, d_model: int, n_heads: int, d_head: int, d_mlp: int, key: jax.Array):
        shapes = _shapes(d_vocab, d_model, n_heads, d_head, d_mlp)
        sizes = [math.prod(s) for s in shapes.values()]
        draws = jnp.split(jax.random.normal(key, (sum(sizes),), jnp.float32), np.cumsum(sizes)[:-1])
        for (name, shape), z in zip(shapes.items(), draws):
            scale = d_vocab if name == "W_U" else d_model
            setattr(self, name, nnx.Param(z.reshape(shape) / np.sqrt(scale)))
        self.b_in = nnx.Param(jnp.zeros((d_mlp,), jnp.float32))
        self.b_out = nnx.Param(jnp.zeros((d_model,), jnp.float32))

    def __call__(self, tokens: jax.Array, cache: dict | None = None) -> jax.Array:
        """Logits (batch, n, d_vocab) of token sequences (batch, n <= 3)."""
        p = module.params_of(self)
        d_head = p["W_Q"].shape[-1]
        n = tokens.shape[-1]
        embed = record(cache, "embed", p["W_E"][tokens])
        resid_pre = record(cache, "resid_pre", embed + p["W_pos"][:n])
        q = record(cache, "q", jnp.einsum("bpd,hde->bhpe", resid_pre, p["W_Q"]))
        k = record(cache, "k", jnp.einsum("bpd,hde->bhpe", resid_pre, p["W_K"]))
        v = record(cache, "v", jnp.einsum("bpd,hde->bhpe", resid_pre, p["W_V"]))
        causal = jnp.tril(jnp.ones((n, n), dtype=bool))
        scores = jnp.where(causal, jnp.einsum("bhqe,bhke->bhqk", q, k) / np.sqrt(d_head), -jnp.inf)
        record(cache, "attn_scores", scores)
        pattern = record(cache, "pattern", jax.nn.softmax(scores, axis=-1))
        z = record(cache, "z", jnp.einsum("bhqk,bhke->bhqe", pattern, v))
        attn_out = record(cache, "attn_out", jnp.einsum("bhqe,hed->bqd", z, p["W_O"]))
        resid_mid = record(cache, "resid_mid", resid_pre + attn_out)
        mlp_pre = record(cache, "mlp_pre", resid_mid @ p["W_in"] + p["b_in"])
        mlp_post = record(cache, "mlp_post", jax.nn.relu(mlp_pre))
        mlp_out = record(cache, "mlp_out", mlp_post @ p["W_out"] + p["b_out"])
        resid_post = record(cache, "resid_post", resid_mid + mlp_out)
        return record(cache, "logits", resid_post @ p["W_U"])


def sizes_of(params: dict) -> dict[str, int]:
    n_heads, d_model, d_head = params["W_Q"].shape
    return {"d_vocab": params["W_E"].shape[0], "d_model": d_model, "n_heads": n_heads, "d_head": d_head,
            "d_mlp": params["W_in"].shape[1]}


def init_params(key: jax.Array, **sizes: int) -> dict[str, jax.Array]:
    return module.params_of(Transformer(**sizes, key=key))


def bind(params: dict) -> Transformer:
    sizes = sizes_of(params)
    return module.bind(lambda: Transformer(**sizes, key=jax.random.PRNGKey(0)), params)


def run_with_cache(params: dict, tokens: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The module's forward on token sequences (batch, 3): logits (batch, 3, d_vocab) and every
    named activation (see `toymodels.models.module`)."""
    return module.run_with_cache(bind(params), tokens)


def last_logits(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
    """Logits at the `=` position for inputs a, b (each (batch,) ints): (batch, d_vocab).
    Equal to run_with_cache(params, [a, b, =])[0][:, -1], with per-token tables for attention."""
    eq = params["W_E"].shape[0] - 1
    d_head = params["W_Q"].shape[-1]
    x_a = params["W_E"][:eq] + params["W_pos"][0]  # (vocab, d): residual at position 0 per token
    x_b = params["W_E"][:eq] + params["W_pos"][1]
    x_eq = params["W_E"][eq] + params["W_pos"][2]  # (d,): residual at the `=` position
    q = jnp.einsum("d,hde->he", x_eq, params["W_Q"]) / np.sqrt(d_head)
    W_OV = jnp.einsum("hde,hef->hdf", params["W_V"], params["W_O"])
    wk_q = jnp.einsum("hde,he->dh", params["W_K"], q)  # scores are x @ (W_K q)
    score_a, score_b, score_eq = x_a @ wk_q, x_b @ wk_q, x_eq @ wk_q  # (vocab, h), (vocab, h), (h,)
    ov_a = jnp.einsum("td,hdf->thf", x_a, W_OV)  # (vocab, h, d)
    ov_b = jnp.einsum("td,hdf->thf", x_b, W_OV)
    ov_eq = jnp.einsum("d,hdf->hf", x_eq, W_OV)
    scores = jnp.stack([score_a[a], score_b[b], jnp.broadcast_to(score_eq, score_a[a].shape)], -1)
    pattern = jax.nn.softmax(scores, axis=-1)  # (batch, h, 3)
    attn_out = (jnp.einsum("bh,bhf->bf", pattern[..., 0], ov_a[a])
                + jnp.einsum("bh,bhf->bf", pattern[..., 1], ov_b[b])
                + pattern[..., 2] @ ov_eq)
    resid_mid = x_eq + attn_out
    mlp_post = jax.nn.relu(resid_mid @ params["W_in"] + params["b_in"])
    resid_post = resid_mid + mlp_post @ params["W_out"] + params["b_out"]
    return resid_post @ params["W_U"]

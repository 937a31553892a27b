"""The fact-lookup memoriser (after Nanda, Rajamanoharan, Kramar, Shah, "Fact Finding", 2023).

A table f: {0..n-1} x {0..n-1} -> {0, 1}. Each integer has a random embedding, one table per
input position (E0, E1, dimension d, frozen unless `train_embed`). The residual stream starts
as E0[a] + E1[b]; MLP0 (and MLP1 when layers = 2) add W_out act(W_in x + b_in) to it (no
output bias); a binary linear classifier reads logit = w_U . x + b_U. Full batch over the
table's pairs, binary cross-entropy, minimised by L-BFGS (or AdamW: `optimizer`).

`Memoriser` is that model, unpadded (n rows, `width` neurons), as a flax module recording its
activations by name; `forward` is the padded, masked version the analyses run on the pure
parameter dict, recording the same activations, and `logits` the same function without the
per-pair residual stream, which training and the metrics run (tests check both equal the
module, forward and gradient).

Parameters (one instance, padded):
    E0, E1   (max_n, d)                  row a is integer a's embedding at position 0 / 1
    W_in     (layers, d, max_width)      b_in (layers, max_width)
    W_out    (layers, max_width, d)
    w_U      (d,)                        b_U ()

Padding, so that a sweep over table size and width is ONE compiled program. Every parameter
row/column is drawn from its own key (`fold_in(key, index)`), so a model of width w and table
size n is exactly the first w neurons and n rows of the padded draw. Per instance, the data
carry a hidden mask (1 for the instance's first `width` neurons) that multiplies the hidden
activations, and pair weights (0 for pairs outside the instance's n x n table or outside its
train split). The padded arrays are as large as the largest swept size (`make_data`); the
parameters are as large as `max_n` / `max_width` and only their leading slice is used. A masked
neuron's output is exactly 0 and its gradient exactly 0, so neither optimizer moves it (an
L-BFGS direction is 0 wherever every gradient so far was 0); weight decay shrinks its weights
but they never reach the output (tests/test_memorisation_task.py checks a masked instance
against the narrower model step by step, under each optimizer).

Label kinds (drawn with numpy from `table_seed` and n, the same for every model seed):
    random   iid fair coin per pair: pure memorisation; trains on every pair
    row      f(a, b) = g(a), g a fair coin per integer: depends on a alone
    xor      f(a, b) = g0(a) XOR g1(b): a rule of a and b that generalises, but is not linear
             in the summed embeddings
Structured kinds train on a seeded `frac_train` share of the pairs (random tables train on all
of them: there is nothing to generalise) so that generalisation is measured on the rest.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from toymodels.errors import ConfigError
from toymodels.memorisation.config import LABEL_KINDS, Config
from toymodels.models import module
from toymodels.models.module import record


def label_kind(cfg: Config, structured) -> str:
    return cfg.structure if structured else "random"


def trainable_parameters(n: int, width: int, d: int, layers: int, train_embed: bool) -> int:
    """Trainable parameters of an unpadded model: per layer W_in, b_in, W_out; the classifier
    w_U, b_U; the two embedding tables only when trained."""
    return layers * width * (2 * d + 1) + d + 1 + (2 * n * d if train_embed else 0)


# ---------------------------------------------------------------------------------------------
# Data


def table_labels(kind: str, n: int, table_seed: int) -> np.ndarray:
    """The n x n label table (0/1 float32), row a, column b, for a label kind."""
    rng = np.random.default_rng([table_seed, n, LABEL_KINDS.index(kind)])
    if kind == "random":
        return rng.integers(0, 2, (n, n)).astype(np.float32)
    g0, g1 = rng.integers(0, 2, n), rng.integers(0, 2, n)
    if kind == "row":
        return np.repeat(g0[:, None], n, axis=1).astype(np.float32)
    if kind == "xor":
        return (g0[:, None] ^ g1[None, :]).astype(np.float32)
    raise ConfigError(f"unknown label kind {kind!r}; known: {', '.join(LABEL_KINDS)}")


def train_split(n: int, frac_train: float, table_seed: int) -> np.ndarray:
    """(n, n) bool: a seeded random share frac_train of the pairs (at least one)."""
    k = max(1, int(round(frac_train * n * n)))
    order = np.random.default_rng([table_seed, n, 99]).permutation(n * n)
    mask = np.zeros(n * n, bool)
    mask[order[:k]] = True
    return mask.reshape(n, n)


def make_data(cfg: Config, instances: list[dict]) -> dict[str, np.ndarray]:
    """Per-instance arrays over the padded n_pad x n_pad pairs (n_pad = the largest instance n),
    pair index a * n_pad + b, and the padded hidden width (the largest instance width):
        labels        (P,)   0/1 label of each pair (0 outside the table)
        train_weight  (P,)   1 on pairs trained on, else 0
        table_weight  (P,)   1 on every pair of the instance's table
        test_weight   (P,)   1 on table pairs held out of training (structured labels only)
        hidden_mask   (W,)   1 on the instance's neurons
        n, width      ()     the instance's sizes (float32)
    """
    n_pad = max(int(i["n"]) for i in instances)
    w_pad = max(int(i["width"]) for i in instances)
    out = {k: [] for k in ("labels", "train_weight", "table_weight", "test_weight", "hidden_mask", "n", "width")}
    for inst in instances:
        n, w = int(inst["n"]), int(inst["width"])
        kind = label_kind(cfg, inst["structured"])
        table = np.zeros((n_pad, n_pad), np.float32)
        table[:n, :n] = table_labels(kind, n, cfg.table_seed)
        in_table = np.zeros((n_pad, n_pad), bool)
        in_table[:n, :n] = True
        train = np.zeros((n_pad, n_pad), bool)
        train[:n, :n] = train_split(n, cfg.frac_train, cfg.table_seed) if kind != "random" else True
        out["labels"].append(table.ravel())
        out["train_weight"].append(train.ravel().astype(np.float32))
        out["table_weight"].append(in_table.ravel().astype(np.float32))
        out["test_weight"].append((in_table & ~train).ravel().astype(np.float32))
        out["hidden_mask"].append((np.arange(w_pad) < w).astype(np.float32))
        out["n"].append(np.float32(n))
        out["width"].append(np.float32(w))
    return {k: np.stack(v) for k, v in out.items()}


def pair_indices(n_pad: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.divmod(np.arange(n_pad * n_pad), n_pad)
    return a, b


# ---------------------------------------------------------------------------------------------
# Model


def _rows(key: jax.Array, count: int, size: int, scale: float) -> jax.Array:
    """(count, size) normal rows, row i drawn from fold_in(key, i): independent of count."""
    keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(count))
    return jax.vmap(lambda k: jax.random.normal(k, (size,), jnp.float32))(keys) * scale


def activation_fn(name: str):
    return jax.nn.relu if name == "relu" else jax.nn.gelu  # gelu: the tanh approximation


class Memoriser(nnx.Module):
    """One memoriser of n integers per position and `width` neurons per layer, unpadded.

    Init: embeddings and W_in ~ N(0, 1/d) entries (embedding rows have norm ~1), W_out ~
    N(0, out_init^2 / d), biases 0, w_U ~ N(0, 1/d). Each embedding row and each neuron (its W_in
    column and W_out row) comes from a key of its own, so smaller tables and narrower models are
    prefixes of larger ones. A small out_init (the config's 0.01) starts each MLP writing almost
    nothing: in our runs, tables near a width's capacity were memorised faster and further than
    from out_init = 1 (see config.py)."""

    def __init__(self, n: int, width: int, d: int, layers: int, activation: str, key: jax.Array,
                 out_init: float = 1.0):
        k_e0, k_e1, k_mlp, k_u = jax.random.split(key, 4)
        s = 1.0 / np.sqrt(d)
        neurons = [_rows(jax.random.fold_in(k_mlp, l), width, 2 * d, s) for l in range(layers)]
        self.E0 = nnx.Param(_rows(k_e0, n, d, s))
        self.E1 = nnx.Param(_rows(k_e1, n, d, s))
        self.W_in = nnx.Param(jnp.stack([nr[:, :d].T for nr in neurons]))
        self.b_in = nnx.Param(jnp.zeros((layers, width), jnp.float32))
        self.W_out = nnx.Param(jnp.stack([nr[:, d:] for nr in neurons]) * out_init)
        self.w_U = nnx.Param(jax.random.normal(k_u, (d,), jnp.float32) * s)
        self.b_U = nnx.Param(jnp.zeros((), jnp.float32))
        self.activation = activation

    def __call__(self, a: jax.Array, b: jax.Array, cache: dict | None = None) -> jax.Array:
        """Logits (batch,) of the pairs (a, b) (each (batch,) ints < n). resid.<l> is the
        residual stream before layer l; resid.<layers> the one the classifier reads."""
        p = module.params_of(self)
        act = activation_fn(self.activation)
        x = record(cache, "embed", p["E0"][a] + p["E1"][b])
        for l in range(p["W_in"].shape[0]):
            record(cache, f"resid.{l}", x)
            pre = record(cache, f"mlp_pre.{l}", x @ p["W_in"][l] + p["b_in"][l])
            post = record(cache, f"mlp_post.{l}", act(pre))
            x = x + record(cache, f"mlp_out.{l}", post @ p["W_out"][l])
        record(cache, f"resid.{p['W_in'].shape[0]}", x)
        return record(cache, "logits", x @ p["w_U"] + p["b_U"])


def init_params(cfg: Config, key: jax.Array) -> dict[str, jax.Array]:
    """The padded parameters one instance trains: a Memoriser of max_n rows and max_width neurons."""
    return module.params_of(Memoriser(cfg.max_n, cfg.max_width, cfg.d, cfg.layers, cfg.activation, key,
                                      cfg.out_init))


def bind(params: dict, activation: str = "gelu") -> Memoriser:
    """The Memoriser holding `params` (sizes read from their shapes)."""
    (layers, d, width), n = params["W_in"].shape, params["E0"].shape[0]
    return module.bind(lambda: Memoriser(n, width, d, layers, activation, jax.random.PRNGKey(0)), params)


def mlp_layer(params: dict, data: dict, l: int, x: jax.Array, activation: str) -> tuple[jax.Array, ...]:
    """Layer l of the padded model on residual x (P, d): pre-activations, masked post-activations
    (P, W) and what the layer writes back (P, d)."""
    w_pad = data["hidden_mask"].shape[-1]
    pre = x @ params["W_in"][l, :, :w_pad] + params["b_in"][l, :w_pad]
    post = activation_fn(activation)(pre) * data["hidden_mask"]
    return pre, post, post @ params["W_out"][l, :w_pad]


def forward(params: dict, data: dict, activation: str = "gelu", cache: dict | None = None) -> jax.Array:
    """The padded model the analyses use: logits (P,) on every padded pair of one
    instance's padded parameters, its neurons masked by data["hidden_mask"]. Records the
    Memoriser's activations by the same names (padded pairs and neurons)."""
    n_pad = int(round(data["labels"].shape[-1] ** 0.5))
    a, b = pair_indices(n_pad)
    x = record(cache, "embed", params["E0"][:n_pad][a] + params["E1"][:n_pad][b])
    for l in range(params["W_in"].shape[0]):
        record(cache, f"resid.{l}", x)
        pre, post, out = mlp_layer(params, data, l, x, activation)
        record(cache, f"mlp_pre.{l}", pre)
        record(cache, f"mlp_post.{l}", post)
        x = x + record(cache, f"mlp_out.{l}", out)
    record(cache, f"resid.{params['W_in'].shape[0]}", x)
    return record(cache, "logits", x @ params["w_U"] + params["b_U"])


def logits(params: dict, data: dict, activation: str = "gelu") -> jax.Array:
    """`forward`'s logits (P,) without its per-pair residual stream: what training reads.

    The pairs are the whole n_pad x n_pad grid and the residual stream is linear in what it
    reads, so every matrix that reads the embeddings acts on the two per-integer tables
    (E0 M, E1 M; n_pad rows each), broadcast over the grid, and each layer's output reaches
    later layers and the classifier through a product of weight matrices (W_out W_in, W_out
    w_U). Per pair remain only the activations and the layer-to-layer products."""
    n_pad, w_pad = int(round(data["labels"].shape[-1] ** 0.5)), data["hidden_mask"].shape[-1]
    E0, E1 = params["E0"][:n_pad], params["E1"][:n_pad]
    W_in, b_in, W_out = params["W_in"][:, :, :w_pad], params["b_in"][:, :w_pad], params["W_out"][:, :w_pad]
    act = activation_fn(activation)

    def read(M):  # the embeddings' residual stream times M, on the (a, b) grid: (n_pad, n_pad, ...)
        return (E0 @ M)[:, None] + (E1 @ M)[None]

    posts = []
    for l in range(W_in.shape[0]):
        pre = read(W_in[l]) + b_in[l] + sum(_chain(post, W_out[j], W_in[l]) for j, post in enumerate(posts))
        posts.append(act(pre) * data["hidden_mask"])
    out = read(params["w_U"]) + params["b_U"] + sum(post @ (W_out[j] @ params["w_U"]) for j, post in enumerate(posts))
    return out.reshape(-1)


def _chain(x: jax.Array, A: jax.Array, B: jax.Array) -> jax.Array:
    """x @ A @ B, multiplied in the order with fewer operations per row of x."""
    (w, d), k = A.shape, B.shape[1]
    return x @ (A @ B) if w * k <= d * (w + k) else (x @ A) @ B


def run_with_cache(params: dict, data: dict, activation: str = "gelu") -> tuple[jax.Array, dict[str, jax.Array]]:
    """(logits, {activation name: array}) of the padded forward."""
    cache: dict[str, jax.Array] = {}
    return forward(params, data, activation, cache), cache


def bce(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-pair binary cross-entropy in nats, softplus(-s * logit) with s = 2y - 1 (exact in
    float32 at any loss)."""
    return jax.nn.softplus(-(2.0 * labels - 1.0) * logits)


def _weighted_mean(x, w):
    return jnp.sum(x * w) / jnp.maximum(jnp.sum(w), 1.0)


def bits_stored(train_loss: jax.Array, train_weight: jax.Array) -> jax.Array:
    """Bits stored about the facts trained on, n_train (ln 2 - train loss) / ln 2 (n_train = n^2
    for a random table; a structured table's held-out pairs test its rule, they are not facts it
    was given to store)."""
    return jnp.sum(train_weight > 0) * (np.log(2.0) - train_loss) / np.log(2.0)


def loss(params: dict, data: dict, activation: str = "gelu", train_embed: bool = False) -> jax.Array:
    """Mean binary cross-entropy over the instance's train pairs."""
    if not train_embed:
        params = {**params, "E0": jax.lax.stop_gradient(params["E0"]), "E1": jax.lax.stop_gradient(params["E1"])}
    return _weighted_mean(bce(logits(params, data, activation), data["labels"]), data["train_weight"])


def metrics(params: dict, data: dict, activation: str = "gelu") -> dict[str, jax.Array]:
    """Loss and accuracy on the train pairs, the held-out pairs (0 when none) and the whole table;
    bits stored (`bits_stored`)."""
    out_logits = logits(params, data, activation)
    ce = bce(out_logits, data["labels"])
    correct = ((out_logits > 0) == (data["labels"] > 0.5)).astype(jnp.float32)
    out = {}
    for name in ("train", "test", "table"):
        w = data[f"{name}_weight"]
        out[f"{name}_loss"] = _weighted_mean(ce, w)
        out[f"{name}_acc"] = _weighted_mean(correct, w)
    out["bits"] = bits_stored(out["train_loss"], data["train_weight"])
    return out


LBFGS_MEMORY = 10     # optax's default history
LBFGS_BACKTRACKS = 20  # shrinkings of the step (by 0.8 each) the line search may try in one iteration
LBFGS_MAX_STEP = 1.0   # the longest step (global norm over the parameters) one iteration may take


def optimizer(cfg: Config, hp: dict) -> optax.GradientTransformation:
    """L-BFGS (optax.lbfgs's parts, with a cap on the step) and a backtracking line search (full
    batch: the loss each step is the whole table's, so a line search is exact); or AdamW with
    linear warmup then cosine decay to final_lr_frac of lr (the decay keeps the learning rate
    proportional, as in PyTorch), the embeddings getting no update unless train_embed. Under L-BFGS the frozen embeddings stay
    put because their gradient is zero (`loss` stops it), so every direction leaves them alone."""
    if cfg.optimizer == "lbfgs":
        return optax.chain(
            optax.scale_by_lbfgs(memory_size=LBFGS_MEMORY),
            # a trust region: once a table is stored exactly its loss flattens towards 0, the curvature
            # estimate with it, and uncapped steps blew weights up to NaN or a loss of 1e19
            optax.clip_by_global_norm(LBFGS_MAX_STEP),
            optax.scale(-1.0),
            optax.scale_by_backtracking_linesearch(max_backtracking_steps=LBFGS_BACKTRACKS, store_grad=True))
    sched = optax.warmup_cosine_decay_schedule(0.0, 1.0, max(cfg.warmup_steps, 1), max(cfg.steps, cfg.warmup_steps + 1),
                                               end_value=cfg.final_lr_frac)
    adamw = optax.adamw(lambda c: hp["lr"] * sched(c), weight_decay=hp["weight_decay"])
    if cfg.train_embed:
        return adamw
    labels = lambda p: {k: ("frozen" if k in ("E0", "E1") else "train") for k in p}  # noqa: E731
    return optax.multi_transform({"train": adamw, "frozen": optax.set_to_zero()}, labels)

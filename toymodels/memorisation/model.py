"""The fact-lookup memoriser (after Nanda, Rajamanoharan, Kramar, Shah, "Fact Finding", 2023).

A table f: {0..n-1} x {0..n-1} -> {0, 1}. Each integer has a random embedding, one table per
input position (E0, E1, dimension d, frozen unless `train_embed`). The residual stream starts
as E0[a] + E1[b]; MLP0 (and MLP1 when layers = 2) add W_out act(W_in x + b_in) to it (no
output bias); a binary linear classifier reads logit = w_U . x + b_U. Full batch over the
table's pairs, AdamW, binary cross-entropy.

Parameters (one instance):
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
neuron's output is exactly 0 and its gradient exactly 0, so Adam leaves it alone; weight decay
shrinks its weights but they never reach the output (tests/test_memorisation_task.py checks a
masked instance against the narrower model step by step).

Label kinds (drawn with numpy from `table_seed` and n, the same for every model seed):
    random   iid fair coin per pair: pure memorisation; trains on every pair
    row      f(a, b) = g(a), g a fair coin per integer: depends on a alone
    xor      f(a, b) = g0(a) XOR g1(b): a rule of a and b that generalises, but is not linear
             in the summed embeddings
Structured kinds train on a seeded `frac_train` share of the pairs (random tables train on all
of them: there is nothing to generalise) so that generalisation is measured on the rest.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from toymodels.errors import ConfigError

LABEL_KINDS = ("random", "row", "xor")
ACTIVATIONS = ("gelu", "relu")
MAX_PAIRS = 2**24  # every analysis holds per-pair, per-neuron arrays of all n^2 pairs


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 32                  # table size (sweepable: the instance's own n <= max_n)
    width: int = 16              # neurons per MLP layer (sweepable: <= max_width)
    structured: bool = False     # sweepable: False = random labels, True = `structure` labels
    structure: str = "row"       # the structured label kind: "row" or "xor"
    max_n: int = 64              # rows of the embedding tables (compiled shape)
    max_width: int = 64          # neurons per layer in the parameters (compiled shape)
    d: int = 32                  # embedding / residual dimension
    layers: int = 2              # MLP layers: 1 or 2
    activation: str = "gelu"     # "gelu" or "relu"
    train_embed: bool = False    # train the embeddings too (counted as parameters then)
    frac_train: float = 0.8      # structured labels: share of pairs trained on
    table_seed: int = 0
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    final_lr_frac: float = 0.05  # cosine decay of the learning rate to this fraction at the end
    steps: int = 4000
    eval_every: int = 100
    checkpoint_every: int = 0    # 0: only the last step
    seed: int = 0
    seeds: int = 1

    def validate(self) -> None:
        if self.n < 2:
            raise ConfigError(f"table size n must be >= 2 (got n={self.n})")
        if self.max_n < self.n:
            raise ConfigError(f"n={self.n} exceeds max_n={self.max_n} (the compiled embedding table); --set max_n={self.n}")
        if self.max_n**2 > MAX_PAIRS:
            raise ConfigError(f"max_n={self.max_n} is too large: its {self.max_n**2:,} pairs exceed the "
                              f"{MAX_PAIRS:,} the analyses can hold; use max_n <= {int(MAX_PAIRS**0.5)}")
        for name in ("d", "width", "max_width", "steps", "eval_every", "seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer (got {name}={getattr(self, name)})")
        if self.max_width < self.width:
            raise ConfigError(f"width={self.width} exceeds max_width={self.max_width} (the compiled MLP); "
                              f"--set max_width={self.width}")
        if self.structure not in LABEL_KINDS[1:]:
            raise ConfigError(f"unknown label kind structure={self.structure!r}; known structured kinds: "
                              f"{', '.join(LABEL_KINDS[1:])} (random labels: structured=0)")
        if self.layers not in (1, 2):
            raise ConfigError(f"layers must be 1 or 2 (got {self.layers})")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")
        if not 0.0 < self.frac_train <= 1.0:
            raise ConfigError(f"frac_train must lie in (0, 1] (got {self.frac_train})")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0 (got lr={self.lr}, weight_decay={self.weight_decay})")
        if not 0.0 <= self.final_lr_frac <= 1.0:
            raise ConfigError(f"final_lr_frac must lie in [0, 1] (got {self.final_lr_frac})")
        for name in ("warmup_steps", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")


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


def init_params(cfg: Config, key: jax.Array) -> dict[str, jax.Array]:
    """Embeddings, W_in and W_out ~ N(0, 1/d) entries (embedding rows have norm ~1), biases 0,
    w_U ~ N(0, 1/d). Each embedding row and each neuron (its W_in column and W_out row) comes
    from a key of its own, so smaller tables and narrower models are prefixes of larger ones."""
    k_e0, k_e1, k_mlp, k_u = jax.random.split(key, 4)
    s = 1.0 / np.sqrt(cfg.d)
    neurons = [_rows(jax.random.fold_in(k_mlp, l), cfg.max_width, 2 * cfg.d, s) for l in range(cfg.layers)]
    return {
        "E0": _rows(k_e0, cfg.max_n, cfg.d, s),
        "E1": _rows(k_e1, cfg.max_n, cfg.d, s),
        "W_in": jnp.stack([nr[:, : cfg.d].T for nr in neurons]),
        "b_in": jnp.zeros((cfg.layers, cfg.max_width), jnp.float32),
        "W_out": jnp.stack([nr[:, cfg.d:] for nr in neurons]),
        "w_U": jax.random.normal(k_u, (cfg.d,), jnp.float32) * s,
        "b_U": jnp.zeros((), jnp.float32),
    }


def activation_fn(name: str):
    return jax.nn.relu if name == "relu" else jax.nn.gelu  # gelu: the tanh approximation


def forward(params: dict, data: dict, activation: str = "gelu", cache: bool = False):
    """Logits (P,) on every padded pair; with cache, also a dict of named activations:
    resid_0 (P, d) summed embeddings, post_l (P, W) masked hidden activations of layer l,
    mlp_out_l (P, d), resid_{l+1} (P, d) after layer l; logit = w_U . resid_final + b_U."""
    n_pad = int(round(data["labels"].shape[-1] ** 0.5))
    w_pad = data["hidden_mask"].shape[-1]
    a, b = pair_indices(n_pad)
    act = activation_fn(activation)
    x = params["E0"][:n_pad][a] + params["E1"][:n_pad][b]
    acts = {"resid_0": x}
    for l in range(params["W_in"].shape[0]):
        post = act(x @ params["W_in"][l, :, :w_pad] + params["b_in"][l, :w_pad]) * data["hidden_mask"]
        out = post @ params["W_out"][l, :w_pad]
        x = x + out
        acts |= {f"post_{l}": post, f"mlp_out_{l}": out, f"resid_{l + 1}": x}
    logits = x @ params["w_U"] + params["b_U"]
    return (logits, acts) if cache else logits


def bce(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-pair binary cross-entropy in nats, softplus(-s * logit) with s = 2y - 1 (exact in
    float32 at any loss)."""
    return jax.nn.softplus(-(2.0 * labels - 1.0) * logits)


def _weighted_mean(x, w):
    return jnp.sum(x * w) / jnp.maximum(jnp.sum(w), 1.0)


def loss(params: dict, data: dict, activation: str = "gelu", train_embed: bool = False) -> jax.Array:
    """Mean binary cross-entropy over the instance's train pairs."""
    if not train_embed:
        params = {**params, "E0": jax.lax.stop_gradient(params["E0"]), "E1": jax.lax.stop_gradient(params["E1"])}
    return _weighted_mean(bce(forward(params, data, activation), data["labels"]), data["train_weight"])


def metrics(params: dict, data: dict, activation: str = "gelu") -> dict[str, jax.Array]:
    """Loss and accuracy on the train pairs, the held-out pairs (0 when none) and the whole table;
    bits stored n^2 (ln 2 - table loss) / ln 2."""
    logits = forward(params, data, activation)
    ce = bce(logits, data["labels"])
    correct = ((logits > 0) == (data["labels"] > 0.5)).astype(jnp.float32)
    out = {}
    for name in ("train", "test", "table"):
        w = data[f"{name}_weight"]
        out[f"{name}_loss"] = _weighted_mean(ce, w)
        out[f"{name}_acc"] = _weighted_mean(correct, w)
    out["bits"] = data["n"] ** 2 * (np.log(2.0) - out["table_loss"]) / np.log(2.0)
    return out


def optimizer(cfg: Config, hp: dict) -> optax.GradientTransformation:
    """AdamW with linear warmup then cosine decay to final_lr_frac of lr (the decay keeps the
    learning rate proportional, as in PyTorch); the embeddings get no update unless train_embed."""
    sched = optax.warmup_cosine_decay_schedule(0.0, 1.0, max(cfg.warmup_steps, 1), max(cfg.steps, cfg.warmup_steps + 1),
                                               end_value=cfg.final_lr_frac)
    adamw = optax.adamw(lambda c: hp["lr"] * sched(c), weight_decay=hp["weight_decay"])
    if cfg.train_embed:
        return adamw
    labels = lambda p: {k: ("frozen" if k in ("E0", "E1") else "train") for k in p}  # noqa: E731
    return optax.multi_transform({"train": adamw, "frozen": optax.set_to_zero()}, labels)

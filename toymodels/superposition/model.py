"""Toy models of superposition (Elhage et al. 2022): four small autoencoder-like models, sparse
synthetic features, importance-weighted squared error.

Models, for ONE model with W of shape (m, n) (m hidden dimensions, n features), x of shape (n,):

    linear          x' = W^T W x + b
    relu_output     x' = ReLU(W^T W x + b)
    hidden_relu     x' = ReLU(W^T ReLU(W x) + b)                 (privileged hidden basis)
    absolute_value  x' = ReLU(W_out ReLU(W x) + b), target |x|   (untied W_out (n, m); x in [-1, 1])

Data: feature i is 0 with probability S (sparsity), otherwise uniform on [0, 1] ([-1, 1] for
absolute_value). One uniform u per feature gives both: the feature is present iff u < p = 1 - S
and then takes the value u / p, which is uniform on [0, 1) given u < p. Models of one group (same
shape, different sparsity or importance) share the batch's u: each model sees exactly the
paper's distribution, the models merely use common random numbers, and the random-number cost
(the bottleneck on a CPU) is paid once per group instead of once per model.

Loss of one model: mean over the batch of sum_i I_i (x_i - x'_i)^2 / n (mean over batch and
features, as in the reference notebook); the loss of an instance sums over its models, as the
notebook sums over its instance axis. AdamW updates are per parameter, so summing never mixes
models.

The figure set of the paper (one `Group` per sub-experiment: a stack of K models of one kind and
shape) is described by one flat `Config`; `groups(cfg)` builds it.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from toymodels.errors import ConfigError

KINDS = ("linear", "relu_output", "hidden_relu", "absolute_value")
CORRELATIONS = ("independent", "correlated", "anticorrelated")
UNROLL_MAX = 16  # models with n * m <= this run as unrolled elementwise code: 10x faster on a CPU than
                 # tiny matmuls, but compile time grows with n * m (the phase-diagram and intro models)

# The paper's sparsity grids that are lists rather than geometric ranges (feature probability p = 1 - S).
LINEAR_VS_RELU_DENSITIES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
HIDDEN_RELU_DENSITIES = (0.75, 0.35, 0.15, 0.1, 0.06, 0.02, 0.01)
ABSOLUTE_VALUE_DENSITIES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole figure set of the paper. Sizes are (features n, hidden m) per sub-experiment;
    `*_sparsity_max` sets a geometric grid p = (1 - S_max)^linspace(0, 1, points)."""

    intro_n: int = 5
    intro_m: int = 2
    intro_points: int = 10
    intro_sparsity_max: float = 0.95          # p = 20^-linspace(0, 1, 10)
    lvr_n: int = 20                           # linear vs ReLU output
    lvr_m: int = 5
    wtw_n: int = 100                          # W^T W matrices
    wtw_m: int = 20
    geometry_n: int = 200                     # D* and D_i
    geometry_m: int = 20
    geometry_points: int = 20                 # also the W^T W grid
    geometry_sparsity_max: float = 0.95
    phase_points: int = 12                    # grid side of each phase diagram
    phase_tries: int = 3                      # models per phase-grid point; the lowest-loss one is kept
    phase_density_min: float = 0.01           # densities 1 .. this (log grid)
    phase_importance_max: float = 10.0        # relative importance 1/this .. this (log grid)
    hidden_n: int = 10
    hidden_m: int = 5
    abs_n: int = 100
    abs_m: int = 40
    abs_pair_n: int = 20
    abs_pair_m: int = 10
    abs_pair_sparsity: float = 0.5
    batch: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.01
    steps: int = 10_000
    eval_every: int = 500
    checkpoint_every: int = 0                 # 0: only the final step
    best_of: bool = False                     # figures use, per model, the lowest-loss seed (analysis only)
    seed: int = 0
    seeds: int = 1

    def validate(self) -> None:
        ints = ("intro_n", "intro_m", "intro_points", "lvr_n", "lvr_m", "wtw_n", "wtw_m", "geometry_n",
                "geometry_m", "geometry_points", "phase_points", "phase_tries", "hidden_n", "hidden_m", "abs_n",
                "abs_m", "abs_pair_n", "abs_pair_m", "batch", "steps", "eval_every", "seeds")
        for name in ints:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer (got {getattr(self, name)})")
        if self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be >= 0 (got {self.checkpoint_every})")
        for name in ("intro_sparsity_max", "geometry_sparsity_max", "abs_pair_sparsity"):
            s = getattr(self, name)
            if not 0.0 <= s < 1.0:
                raise ConfigError(f"{name} must lie in [0, 1) (got {s}): a sparsity is the probability that a feature is zero")
        if not 0.0 < self.phase_density_min < 1.0:
            raise ConfigError(f"phase_density_min must lie in (0, 1) (got {self.phase_density_min})")
        if not self.phase_importance_max > 1.0:
            raise ConfigError(f"phase_importance_max must be > 1 (got {self.phase_importance_max})")
        for prefix in ("intro", "lvr", "wtw", "geometry", "hidden", "abs", "abs_pair"):
            n, m = getattr(self, f"{prefix}_n"), getattr(self, f"{prefix}_m")
            if m >= n:
                raise ConfigError(f"{prefix}_m={m} must be < {prefix}_n={n}: superposition needs fewer "
                                  f"hidden dimensions than features")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0 (got lr={self.lr}, weight_decay={self.weight_decay})")
        if self.intro_m != 2:
            raise ConfigError(f"intro_m must be 2 (the intro figure draws the 2-D hidden space; got {self.intro_m})")


@dataclasses.dataclass(frozen=True)
class Group:
    """K models of one kind and shape trained side by side. density and importance are (K, n);
    `grid` is the shape the K models form (e.g. (tries, importances, densities) for a phase
    diagram), row-major."""

    name: str
    kind: str
    n: int
    m: int
    density: np.ndarray
    importance: np.ndarray
    grid: tuple[int, ...]
    correlation: str = "independent"
    set_size: int = 1

    @property
    def k(self) -> int:
        return self.density.shape[0]


def geometric_densities(sparsity_max: float, points: int) -> np.ndarray:
    """p = (1 - S_max)^linspace(0, 1, points): from dense (p = 1) to p = 1 - S_max."""
    return (1.0 - sparsity_max) ** np.linspace(0.0, 1.0, points)


def phase_axes(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(relative importances, log-spaced 1/max .. max; densities, log-spaced 1 .. min)."""
    r = np.geomspace(1.0 / cfg.phase_importance_max, cfg.phase_importance_max, cfg.phase_points)
    s = np.geomspace(1.0, cfg.phase_density_min, cfg.phase_points)
    return r, s


def _group(name, kind, n, m, densities, importance_row, grid=None, **kw) -> Group:
    densities = np.asarray(densities, np.float64)
    k = densities.shape[0]
    density = np.broadcast_to(densities.reshape(k, -1), (k, n)).astype(np.float32)
    importance = np.broadcast_to(np.asarray(importance_row, np.float64), (k, n)).astype(np.float32)
    return Group(name, kind, n, m, np.ascontiguousarray(density), np.ascontiguousarray(importance), grid or (k,), **kw)


def phase_group(name: str, n: int, m: int, cfg: Config) -> Group:
    """Importance (1, ..., 1, r) and density s for every feature, over the (r, s) grid, `phase_tries` times."""
    r, s = phase_axes(cfg)
    t = cfg.phase_tries
    rr, ss = np.meshgrid(r, s, indexing="ij")
    imp = np.ones((t, len(r), len(s), n))
    imp[..., -1] = rr
    dens = np.broadcast_to(ss[None, :, :, None], (t, len(r), len(s), n))
    return Group(name, "relu_output", n, m, dens.reshape(-1, n).astype(np.float32),
                 imp.reshape(-1, n).astype(np.float32), (t, len(r), len(s)))


def groups(cfg: Config) -> tuple[Group, ...]:
    """Every sub-experiment of the paper's figures, as named groups (REFERENCE section 2)."""
    geo = geometric_densities(cfg.geometry_sparsity_max, cfg.geometry_points)
    lvr = np.array(LINEAR_VS_RELU_DENSITIES)
    return (
        _group("intro", "relu_output", cfg.intro_n, cfg.intro_m,
               geometric_densities(cfg.intro_sparsity_max, cfg.intro_points), 0.9 ** np.arange(cfg.intro_n)),
        _group("lvr_linear", "linear", cfg.lvr_n, cfg.lvr_m, lvr, 0.7 ** np.arange(cfg.lvr_n)),
        _group("lvr_relu", "relu_output", cfg.lvr_n, cfg.lvr_m, lvr, 0.7 ** np.arange(cfg.lvr_n)),
        _group("wtw", "relu_output", cfg.wtw_n, cfg.wtw_m, geo, 100.0 ** -np.linspace(0, 1, cfg.wtw_n)),
        _group("geometry", "relu_output", cfg.geometry_n, cfg.geometry_m, geo, np.ones(cfg.geometry_n)),
        phase_group("phase_2_1", 2, 1, cfg),
        phase_group("phase_3_2", 3, 2, cfg),
        _group("hidden_relu", "hidden_relu", cfg.hidden_n, cfg.hidden_m, np.array(HIDDEN_RELU_DENSITIES),
               0.75 ** (np.arange(cfg.hidden_n) + 1)),
        _group("abs", "absolute_value", cfg.abs_n, cfg.abs_m, np.array(ABSOLUTE_VALUE_DENSITIES),
               0.8 ** (np.arange(cfg.abs_n) + 1)),
        _group("abs_pair", "absolute_value", cfg.abs_pair_n, cfg.abs_pair_m, np.array([1.0 - cfg.abs_pair_sparsity]),
               0.8 ** (np.arange(cfg.abs_pair_n) + 1)),
    )


def group_named(cfg: Config, name: str) -> Group:
    return next(g for g in groups(cfg) if g.name == name)


# ---------------------------------------------------------------------------------------------
# Data


def sample_features(key: jax.Array, density: jax.Array, batch: int, signed: bool = False,
                    correlation: str = "independent", set_size: int = 1) -> jax.Array:
    """Features of a group's K models: (K, n, batch), from density (K, n).

    independent     feature i present with probability p_i (one shared uniform per feature and example)
    correlated      features come in consecutive sets of `set_size` that are all present or all zero
                    (probability p of the set's first feature); values independent
    anticorrelated  consecutive pairs, at most one present: the pair is active with probability 2 p
                    (p <= 1/2) and then one of the two, chosen evenly; each feature's rate stays p
    Values are uniform on [0, 1), or [-1, 1) when signed."""
    k, n = density.shape
    p = density[:, :, None]
    if correlation == "independent":
        return features_from_uniform(jax.random.uniform(key, (n, batch)), density, signed)
    k_gate, k_val, k_pick = jax.random.split(key, 3)
    values = jax.random.uniform(k_val, (k, n, batch))
    if signed:
        values = 2.0 * values - 1.0
    if correlation == "correlated":
        if n % set_size:
            raise ValueError(f"n={n} is not a multiple of set_size={set_size}")
        gate = jax.random.uniform(k_gate, (k, n // set_size, batch)) < p[:, ::set_size]
        present = jnp.repeat(gate, set_size, axis=1)
    elif correlation == "anticorrelated":
        if n % 2:
            raise ValueError(f"anticorrelated features come in pairs; n={n} is odd")
        active = jax.random.uniform(k_gate, (k, n // 2, batch)) < 2.0 * p[:, ::2]
        first = jax.random.uniform(k_pick, (k, n // 2, batch)) < 0.5
        present = jnp.stack([active & first, active & ~first], axis=2).reshape(k, n, batch)
    else:
        raise ValueError(f"unknown correlation {correlation!r}; known: {', '.join(CORRELATIONS)}")
    return jnp.where(present, values, 0.0)


def features_from_uniform(u: jax.Array, density: jax.Array, signed: bool = False) -> jax.Array:
    """Independent features (K, n, B) from one uniform draw u (n, B) shared by the K models:
    present iff u < p, value u / p (uniform on [0, 1) given presence), or 2 u / p - 1 when signed."""
    p = density[:, :, None]
    present = u < p
    x = jnp.where(present, u / p, 0.0)
    return jnp.where(present, 2.0 * x - 1.0, 0.0) if signed else x


# ---------------------------------------------------------------------------------------------
# Models


def init_group(key: jax.Array, kind: str, k: int, n: int, m: int) -> dict:
    """Xavier-normal weights (std sqrt(2 / (n + m)) per model), zero bias."""
    std = math.sqrt(2.0 / (n + m))
    k_w, k_out = jax.random.split(key)
    params = {"W": std * jax.random.normal(k_w, (k, m, n), jnp.float32), "b": jnp.zeros((k, n), jnp.float32)}
    if kind == "absolute_value":
        params["W_out"] = std * jax.random.normal(k_out, (k, n, m), jnp.float32)
    return params


def forward(kind: str, params: dict, x: jax.Array) -> jax.Array:
    """One model (params W (m, n), b (n,) [, W_out (n, m)]) on x (..., n): the definition."""
    W, b = params["W"], params["b"]
    h = x @ W.T
    if kind in ("hidden_relu", "absolute_value"):
        h = jax.nn.relu(h)
    out = h @ (params["W_out"].T if kind == "absolute_value" else W) + b
    return out if kind == "linear" else jax.nn.relu(out)


def target(kind: str, x: jax.Array) -> jax.Array:
    return jnp.abs(x) if kind == "absolute_value" else x


def group_forward(kind: str, params: dict, x: jax.Array) -> jax.Array:
    """All K models of a group at once: x (K, n, B) -> x' (K, n, B). Same function as `forward`
    per model; small models (n * m <= UNROLL_MAX) are written out as elementwise sums."""
    W, b = params["W"], params["b"]
    k, m, n = W.shape
    W_out = params["W_out"] if kind == "absolute_value" else jnp.swapaxes(W, 1, 2)  # (K, n, m)
    hidden_relu = kind in ("hidden_relu", "absolute_value")
    if n * m <= UNROLL_MAX:
        xs = [x[:, i] for i in range(n)]
        hs = [sum(W[:, j, i, None] * xs[i] for i in range(n)) for j in range(m)]
        if hidden_relu:
            hs = [jax.nn.relu(h) for h in hs]
        outs = [sum(W_out[:, i, j, None] * hs[j] for j in range(m)) + b[:, i, None] for i in range(n)]
        out = jnp.stack(outs, axis=1)
    else:
        h = jnp.einsum("kmn,knb->kmb", W, x)
        if hidden_relu:
            h = jax.nn.relu(h)
        out = jnp.einsum("knm,kmb->knb", W_out, h) + b[:, :, None]
    return out if kind == "linear" else jax.nn.relu(out)


def group_losses(group: Group, params: dict, data: dict, key: jax.Array, batch: int,
                 u: jax.Array | None = None) -> jax.Array:
    """Per-model loss (K,): mean over batch and features of I_i (x_i - x'_i)^2. Independent
    features can come from a pre-drawn uniform u (n, batch) instead of the key."""
    signed = group.kind == "absolute_value"
    if u is not None and group.correlation == "independent":
        x = features_from_uniform(u, data["density"], signed)
    else:
        x = sample_features(key, data["density"], batch, signed=signed, correlation=group.correlation,
                            set_size=group.set_size)
    err = (group_forward(group.kind, params, x) - target(group.kind, x)) ** 2
    return jnp.mean(jnp.sum(data["importance"][:, :, None] * err, axis=1), axis=-1) / group.n


# ---------------------------------------------------------------------------------------------
# The task of one engine instance: every group, summed


def _weight_shapes(g: Group) -> dict:
    shapes = {"W": (g.k, g.m, g.n)}
    if g.kind == "absolute_value":
        shapes["W_out"] = (g.k, g.n, g.m)
    return shapes


def init_params(gs: tuple[Group, ...], key: jax.Array) -> dict:
    """`init_group` for every group, from ONE normal draw cut into the matrices (a draw per
    matrix compiles several times slower on a CPU; init compiles on every run)."""
    shapes = [(g, name, shape) for g in gs for name, shape in _weight_shapes(g).items()]
    sizes = [math.prod(shape) for _, _, shape in shapes]
    z = jax.random.normal(key, (sum(sizes),), jnp.float32)
    params = {g.name: {"b": jnp.zeros((g.k, g.n), jnp.float32)} for g in gs}
    for (g, name, shape), start, size in zip(shapes, np.cumsum([0] + sizes[:-1]), sizes):
        params[g.name][name] = math.sqrt(2.0 / (g.n + g.m)) * z[start:start + size].reshape(shape)
    return params


def losses(gs: tuple[Group, ...], params: dict, data: dict, key: jax.Array, batch: int) -> dict:
    """Per-model losses of every group. One uniform draw serves every group's independent
    features (one random-number kernel to compile instead of one per group)."""
    widths = [g.n for g in gs]
    u = jax.random.uniform(key, (sum(widths), batch))
    starts = np.cumsum([0] + widths[:-1])
    return {g.name: group_losses(g, params[g.name], data[g.name], jax.random.fold_in(key, i), batch,
                                 u=u[start:start + g.n])
            for i, (g, start) in enumerate(zip(gs, starts))}


def loss(params: dict, data: dict, key: jax.Array, gs: tuple[Group, ...], batch: int) -> jax.Array:
    return sum(jnp.sum(v) for v in losses(gs, params, data, key, batch).values())


def metrics(params: dict, data: dict, key: jax.Array, gs: tuple[Group, ...], batch: int) -> dict:
    """train_loss (sum over every model) and loss_<group> (K,) on a fresh batch."""
    per = losses(gs, params, data, key, batch)
    return {"train_loss": sum(jnp.sum(v) for v in per.values()), **{f"loss_{k}": v for k, v in per.items()}}


def make_data(gs: tuple[Group, ...], n_instances: int) -> dict:
    """{group: {"density": (N, K, n), "importance": (N, K, n)}}: the same for every instance."""
    return {g.name: {"density": np.broadcast_to(g.density, (n_instances, *g.density.shape)).copy(),
                     "importance": np.broadcast_to(g.importance, (n_instances, *g.importance.shape)).copy()}
            for g in gs}


def optimizer(hp: dict) -> optax.GradientTransformation:
    """AdamW, constant learning rate, PyTorch's defaults (betas 0.9/0.999, eps 1e-8) as in the notebook."""
    return optax.adamw(hp["lr"], b1=0.9, b2=0.999, eps=1e-8, weight_decay=hp["weight_decay"])

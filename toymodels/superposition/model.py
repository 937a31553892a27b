"""Toy models of superposition (Elhage et al. 2022): four small autoencoder-like models, sparse
synthetic features, importance-weighted squared error.

Models, for ONE model with W of shape (m, n) (m hidden dimensions, n features), x of shape (n,):

    linear          x' = W^T W x + b
    relu_output     x' = ReLU(W^T W x + b)
    hidden_relu     x' = ReLU(W^T ReLU(W x) + b)                 (privileged hidden basis)
    absolute_value  x' = ReLU(W_out ReLU(W x) + b), target |x|   (untied W_out (n, m); x in [-1, 1])

`SuperpositionModel` is that one model as a flax module (the definition; analyses read its named
activations). Training runs `stack_forward`, the same function for a stack of K models at once.

Data: feature i is 0 with probability S (sparsity), otherwise uniform on [0, 1] ([-1, 1] for
absolute_value). One uniform u per feature gives both: the feature is present iff u < p = 1 - S
and then takes the value u / p, which is uniform on [0, 1) given u < p. Models of one stack (same
shape, different sparsity or importance) share the batch's u: each model sees exactly the
paper's distribution, the models merely use common random numbers, and the random-number cost
(the bottleneck on a CPU) is paid once per stack instead of once per model.

Loss of one model: mean over the batch of sum_i I_i (x_i - x'_i)^2 / n (mean over batch and
features, as in the reference notebook); the loss of an instance sums over its models, as the
notebook sums over its instance axis. AdamW updates are per parameter, so summing never mixes
models.

The figure set of the paper (one `ModelStack` per sub-experiment: K models of one kind and
shape) is described by one flat `Config`; `stacks(cfg)` builds it.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from toymodels import engine
from toymodels.models import module
from toymodels.models.module import record
from toymodels.superposition.config import Config

KINDS = ("linear", "relu_output", "hidden_relu", "absolute_value")
HIDDEN_RELU_KINDS = ("hidden_relu", "absolute_value")
CORRELATIONS = ("independent", "correlated", "anticorrelated")
UNROLL_MAX = 16  # models with n * m <= this run as unrolled elementwise code: 10x faster on a CPU than
                 # tiny matmuls, but compile time grows with n * m (the phase-diagram and intro models)

# The paper's sparsity grids that are lists rather than geometric ranges (feature probability p = 1 - S).
LINEAR_VS_RELU_DENSITIES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
HIDDEN_RELU_DENSITIES = (0.75, 0.35, 0.15, 0.1, 0.06, 0.02, 0.01)
ABSOLUTE_VALUE_DENSITIES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)


@dataclasses.dataclass(frozen=True)
class ModelStack:
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

    @classmethod
    def over_densities(cls, name: str, kind: str, n: int, m: int, densities, importance_row, **kw) -> ModelStack:
        """One model per density (the same for every feature), every model with the same importances."""
        densities = np.asarray(densities, np.float64)
        k = densities.shape[0]
        density = np.broadcast_to(densities.reshape(k, -1), (k, n)).astype(np.float32)
        importance = np.broadcast_to(np.asarray(importance_row, np.float64), (k, n)).astype(np.float32)
        return cls(name, kind, n, m, np.ascontiguousarray(density), np.ascontiguousarray(importance), (k,), **kw)


def geometric_densities(sparsity_max: float, points: int) -> np.ndarray:
    """p = (1 - S_max)^linspace(0, 1, points): from dense (p = 1) to p = 1 - S_max."""
    return (1.0 - sparsity_max) ** np.linspace(0.0, 1.0, points)


def phase_axes(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(relative importances, log-spaced 1/max .. max; densities, log-spaced 1 .. min)."""
    r = np.geomspace(1.0 / cfg.phase_importance_max, cfg.phase_importance_max, cfg.phase_points)
    s = np.geomspace(1.0, cfg.phase_density_min, cfg.phase_points)
    return r, s


def set_densities(cfg: Config, stack: str) -> np.ndarray:
    """The feature probabilities of a correlated-feature sweep ("corr", "anti" or "collapse"),
    log-spaced from its max (dense) to its min."""
    points = cfg.collapse_points if stack == "collapse" else cfg.corr_points
    return np.geomspace(getattr(cfg, f"{stack}_density_max"), getattr(cfg, f"{stack}_density_min"), points)


def set_stack(name: str, correlation: str, n: int, m: int, densities: np.ndarray, tries: int) -> ModelStack:
    """ReLU-output models whose features come in consecutive pairs, correlated or anti-correlated,
    equal importance, over `densities`, each setting `tries` times: grid (tries, densities)."""
    stack = ModelStack.over_densities(name, "relu_output", n, m, np.tile(densities, tries), np.ones(n),
                                      correlation=correlation, set_size=2)
    return dataclasses.replace(stack, grid=(tries, len(densities)))


SET_STACKS = ("corr_pairs", "anti_pairs", "corr_collapse")  # the correlated-feature sweeps, named by stack


def phase_stack(name: str, n: int, m: int, cfg: Config) -> ModelStack:
    """Importance (1, ..., 1, r) and density s for every feature, over the (r, s) grid, `phase_tries` times."""
    r, s = phase_axes(cfg)
    t = cfg.phase_tries
    rr, ss = np.meshgrid(r, s, indexing="ij")
    imp = np.ones((t, len(r), len(s), n))
    imp[..., -1] = rr
    dens = np.broadcast_to(ss[None, :, :, None], (t, len(r), len(s), n))
    return ModelStack(name, "relu_output", n, m, dens.reshape(-1, n).astype(np.float32),
                      imp.reshape(-1, n).astype(np.float32), (t, len(r), len(s)))


def stacks(cfg: Config) -> tuple[ModelStack, ...]:
    """Every sub-experiment of the paper's figures, as named stacks (docs/papers.md, superposition)."""
    geo = geometric_densities(cfg.geometry_sparsity_max, cfg.geometry_points)
    lvr = np.array(LINEAR_VS_RELU_DENSITIES)
    over = ModelStack.over_densities
    return (
        over("intro", "relu_output", cfg.intro_n, cfg.intro_m,
             geometric_densities(cfg.intro_sparsity_max, cfg.intro_points), 0.9 ** np.arange(cfg.intro_n)),
        over("lvr_linear", "linear", cfg.lvr_n, cfg.lvr_m, lvr, 0.7 ** np.arange(cfg.lvr_n)),
        over("lvr_relu", "relu_output", cfg.lvr_n, cfg.lvr_m, lvr, 0.7 ** np.arange(cfg.lvr_n)),
        over("wtw", "relu_output", cfg.wtw_n, cfg.wtw_m, geo, 100.0 ** -np.linspace(0, 1, cfg.wtw_n)),
        over("geometry", "relu_output", cfg.geometry_n, cfg.geometry_m, geo, np.ones(cfg.geometry_n)),
        phase_stack("phase_2_1", 2, 1, cfg),
        phase_stack("phase_3_2", 3, 2, cfg),
        over("hidden_relu", "hidden_relu", cfg.hidden_n, cfg.hidden_m, np.array(HIDDEN_RELU_DENSITIES),
             0.75 ** (np.arange(cfg.hidden_n) + 1)),
        over("abs", "absolute_value", cfg.abs_n, cfg.abs_m, np.array(ABSOLUTE_VALUE_DENSITIES),
             0.8 ** (np.arange(cfg.abs_n) + 1)),
        over("abs_pair", "absolute_value", cfg.abs_pair_n, cfg.abs_pair_m, np.array([1.0 - cfg.abs_pair_sparsity]),
             0.8 ** (np.arange(cfg.abs_pair_n) + 1)),
        set_stack("corr_pairs", "correlated", cfg.corr_n, cfg.corr_m, set_densities(cfg, "corr"), cfg.corr_tries),
        set_stack("anti_pairs", "anticorrelated", cfg.corr_n, cfg.corr_m, set_densities(cfg, "anti"), cfg.corr_tries),
        set_stack("corr_collapse", "correlated", cfg.collapse_n, cfg.collapse_m, set_densities(cfg, "collapse"),
                  cfg.corr_tries),
    )


# ---------------------------------------------------------------------------------------------
# Data


def sample_features(key: jax.Array, density: jax.Array, batch: int, signed: bool = False,
                    correlation: str = "independent", set_size: int = 1) -> jax.Array:
    """Features of a stack's K models: (K, n, batch), from density (K, n).

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


def stack_data(stack_list: tuple[ModelStack, ...], n_instances: int) -> dict:
    """{stack: {"density": (N, K, n), "importance": (N, K, n)}}: the same for every instance."""
    return {s.name: {"density": np.broadcast_to(s.density, (n_instances, *s.density.shape)).copy(),
                     "importance": np.broadcast_to(s.importance, (n_instances, *s.importance.shape)).copy()}
            for s in stack_list}


# ---------------------------------------------------------------------------------------------
# One model, the definition


def init_std(n: int, m: int) -> float:
    """Xavier-normal: std sqrt(2 / (n + m)) per model."""
    return math.sqrt(2.0 / (n + m))


class SuperpositionModel(nnx.Module):
    """One model of `kind`: W (m, n), b (n,), and W_out (n, m) for absolute_value. Init:
    Xavier-normal weights (W from the first half of split(key), W_out from the second), zero bias.

    Activations: hidden (W x), mlp_post (ReLU(W x), hidden-ReLU kinds only), out_pre (before the
    output ReLU, ReLU-output kinds only) and out (the reconstruction x')."""

    def __init__(self, kind: str, n: int, m: int, key: jax.Array):
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        self.kind = kind
        std = init_std(n, m)
        k_w, k_out = jax.random.split(key)
        self.W = nnx.Param(std * jax.random.normal(k_w, (m, n), jnp.float32))
        self.b = nnx.Param(jnp.zeros((n,), jnp.float32))
        if kind == "absolute_value":
            self.W_out = nnx.Param(std * jax.random.normal(k_out, (n, m), jnp.float32))

    def __call__(self, x: jax.Array, cache: dict | None = None) -> jax.Array:
        """x' of x (..., n)."""
        W = self.W[...]
        h = record(cache, "hidden", x @ W.T)
        if self.kind in HIDDEN_RELU_KINDS:
            h = record(cache, "mlp_post", jax.nn.relu(h))
        out = h @ (self.W_out[...].T if self.kind == "absolute_value" else W) + self.b[...]
        if self.kind == "linear":
            return record(cache, "out", out)
        record(cache, "out_pre", out)
        return record(cache, "out", jax.nn.relu(out))


def bind(kind: str, params: dict) -> SuperpositionModel:
    """The module of one model holding `params` (W (m, n), b (n,) [, W_out])."""
    m, n = params["W"].shape
    return module.bind(lambda: SuperpositionModel(kind, n, m, jax.random.PRNGKey(0)), params)


def run_with_cache(kind: str, params: dict, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """One model's x' of x (..., n) and its named activations (see `toymodels.models.module`)."""
    return module.run_with_cache(bind(kind, params), x)


def target(kind: str, x: jax.Array) -> jax.Array:
    return jnp.abs(x) if kind == "absolute_value" else x


# ---------------------------------------------------------------------------------------------
# A stack of K models at once: the training path


def stack_forward(kind: str, params: dict, x: jax.Array) -> jax.Array:
    """All K models of a stack at once: x (K, n, B) -> x' (K, n, B). The module's function per
    model; small models (n * m <= UNROLL_MAX) are written out as elementwise sums. The tied
    kinds compute W^T W x as (W^T W) x, the Gram matrix made once per step, where that pays
    (`gram_pays`)."""
    W, b = params["W"], params["b"]
    _, m, n = W.shape
    unrolled = n * m <= UNROLL_MAX
    if kind not in HIDDEN_RELU_KINDS and gram_pays(n, m, unrolled):
        out = _per_model(jnp.einsum("kmi,kmj->kij", W, W), x, unrolled)
    else:
        h = _per_model(W, x, unrolled)
        if kind in HIDDEN_RELU_KINDS:
            h = jax.nn.relu(h)
        out = _per_model(params["W_out"] if kind == "absolute_value" else jnp.swapaxes(W, 1, 2), h, unrolled)
    out = out + b[:, :, None]
    return out if kind == "linear" else jax.nn.relu(out)


def gram_pays(n: int, m: int, unrolled: bool) -> bool:
    """Whether a tied model trains faster through its Gram matrix W^T W (n x n) than through W.
    Per example, forward and backward, the Gram path multiplies 2 n^2 times, the plain one 5 m n.
    Unrolled, the counts decide. As matmuls (measured side by side, CPU, engine chunks), the Gram
    path's square matmuls win up to twice the count (n <= 5 m: the paper's 20x5 and 100x20
    models) and lose at four times (200x20), the thin m-wide ones running far below their rate."""
    return 2 * n < 5 * m if unrolled else n <= 5 * m


def _per_model(M: jax.Array, x: jax.Array, unrolled: bool) -> jax.Array:
    """M (K, r, c) times x (K, c, B), model by model."""
    if unrolled:
        r, c = M.shape[1:]
        return jnp.stack([sum(M[:, i, j, None] * x[:, j] for j in range(c)) for i in range(r)], axis=1)
    return jnp.einsum("krc,kcb->krb", M, x)


def stack_losses(stack: ModelStack, params: dict, data: dict, key: jax.Array, batch: int,
                 u: jax.Array | None = None) -> jax.Array:
    """Per-model loss (K,): mean over batch and features of I_i (x_i - x'_i)^2. Independent
    features can come from a pre-drawn uniform u (n, batch) instead of the key."""
    signed = stack.kind == "absolute_value"
    if u is not None and stack.correlation == "independent":
        x = features_from_uniform(u, data["density"], signed)
    else:
        x = sample_features(key, data["density"], batch, signed=signed, correlation=stack.correlation,
                            set_size=stack.set_size)
    err = (stack_forward(stack.kind, params, x) - target(stack.kind, x)) ** 2
    return jnp.mean(jnp.sum(data["importance"][:, :, None] * err, axis=1), axis=-1) / stack.n


# ---------------------------------------------------------------------------------------------
# The task of one engine instance: every stack, summed


def _weight_shapes(s: ModelStack) -> dict:
    shapes = {"W": (s.k, s.m, s.n)}
    if s.kind == "absolute_value":
        shapes["W_out"] = (s.k, s.n, s.m)
    return shapes


def init_params(stack_list: tuple[ModelStack, ...], key: jax.Array) -> dict:
    """The module's init (Xavier-normal, zero bias) for every model of every stack, from ONE
    normal draw cut into the matrices (a draw per matrix compiles several times slower on a CPU;
    init compiles on every run): {stack: {"W": (K, m, n), "b": (K, n)[, "W_out": (K, n, m)]}}."""
    shapes = [(s, name, shape) for s in stack_list for name, shape in _weight_shapes(s).items()]
    sizes = [math.prod(shape) for _, _, shape in shapes]
    z = jax.random.normal(key, (sum(sizes),), jnp.float32)
    params = {s.name: {"b": jnp.zeros((s.k, s.n), jnp.float32)} for s in stack_list}
    for (s, name, shape), start, size in zip(shapes, np.cumsum([0] + sizes[:-1]), sizes):
        params[s.name][name] = init_std(s.n, s.m) * z[start:start + size].reshape(shape)
    return params


def losses(stack_list: tuple[ModelStack, ...], params: dict, data: dict, key: jax.Array, batch: int) -> dict:
    """Per-model losses of every stack. One uniform draw serves every stack's independent
    features (one random-number kernel to compile instead of one per stack)."""
    widths = [s.n for s in stack_list]
    u = jax.random.uniform(key, (sum(widths), batch))
    starts = np.cumsum([0] + widths[:-1])
    return {s.name: stack_losses(s, params[s.name], data[s.name], jax.random.fold_in(key, i), batch,
                                 u=u[start:start + s.n])
            for i, (s, start) in enumerate(zip(stack_list, starts))}


def loss(params: dict, data: dict, key: jax.Array, stack_list: tuple[ModelStack, ...], batch: int) -> jax.Array:
    return sum(jnp.sum(v) for v in losses(stack_list, params, data, key, batch).values())


def metrics(params: dict, data: dict, key: jax.Array, stack_list: tuple[ModelStack, ...], batch: int) -> dict:
    """train_loss (sum over every model) and loss_<stack> (K,) on a fresh batch."""
    per = losses(stack_list, params, data, key, batch)
    return {"train_loss": sum(jnp.sum(v) for v in per.values()), **{f"loss_{k}": v for k, v in per.items()}}


def optimizer(hp: dict) -> optax.GradientTransformation:
    """AdamW, constant learning rate, PyTorch's defaults (betas 0.9/0.999, eps 1e-8) as in the notebook."""
    return optax.adamw(hp["lr"], b1=0.9, b2=0.999, eps=1e-8, weight_decay=hp["weight_decay"])


def stack_task(stack_list: tuple[ModelStack, ...], batch: int) -> engine.Task:
    """The engine task of any stacks (one instance trains all of them)."""
    return engine.Task(
        init_params=functools.partial(init_params, stack_list),
        loss=functools.partial(loss, stack_list=stack_list, batch=batch),
        metrics=functools.partial(metrics, stack_list=stack_list, batch=batch),
        optimizer=optimizer,
        stochastic=True,
    )


def task(cfg: Config) -> engine.Task:
    return stack_task(stacks(cfg), cfg.batch)


def make_data(cfg: Config, insts: list[dict]) -> dict:
    """The sparsity and importance of every model: data, the same for every instance."""
    return stack_data(stacks(cfg), len(insts))

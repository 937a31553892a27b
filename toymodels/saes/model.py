"""Sources of activations whose features are known, and the sparse autoencoders trained on them.

A source is a mixing matrix `mix` (n, d) and a sampler of sparse coefficients a (batch, n):
inputs are x = a @ mix. Planted: mix is n random unit directions (the truth itself), a_i
uniform in [0, 2] when present. TMS: mix is W^T of a trained TMS model, a_i uniform in [0, 1]
when present (x as the TMS model saw it, h = W x its hidden layer). See `config` for both.

SAE (one instance; the engine vmaps): codes = act(W_enc^T (x - b_dec) + b_enc), x̂ = codes
W_dec + b_dec, the decoder's rows (latent directions) normalised in the forward pass, so every
latent direction is a unit vector whatever the optimiser does and an L1 penalty cannot be
dodged by shrinking codes and growing directions.
- relu:     act = ReLU; loss = ||x - x̂||² + coef Σ|codes| (the standard L1 recipe).
- topk:     keep the k largest pre-activations (ReLU'd) and zero the rest (Gao et al. 2024);
            loss = ||x - x̂||², sparsity set by k. (No auxiliary dead-latent loss.)
- jumprelu: act = z · H(z - θ) with a learned threshold θ > 0 per latent (Rajamanoharan et al.
            2024); loss = ||x - x̂||² + l0_coef · L0. H has no gradient, so θ learns through a
            straight-through estimate: d H(z - θ)/dθ ≈ -K((z - θ)/ε)/ε with a rectangle kernel K
            of bandwidth ε = BANDWIDTH.

Padding: every instance holds max_dict_size latents; a mask in the data switches off those
beyond its dict_size (their codes are zero, so they neither reconstruct nor count). Each
latent's initial direction is drawn from its own key (fold_in(key, latent)), so an instance of
dict_size m starts from the first m latents of any wider one: a padded SAE is the unpadded one.
The variant and each sparsity setting are per-instance data, so one program trains them all.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from toymodels import engine
from toymodels.saes import metrics as M
from toymodels.saes.config import VARIANTS, Config
from toymodels.superposition import model as tms

TRUTH_SALT = 0x7E0           # the truth's key differs from every instance's init key
BANDWIDTH = 0.05             # JumpReLU's straight-through kernel width (inputs are O(1))
THRESHOLD_INIT = 0.1
REPRESENTED = 0.5            # a TMS feature is in the truth when its column of W has this norm


# ---------------------------------------------------------------------------------------------
# Sources


def planted_dictionary(key: jax.Array, n: int, d: int) -> jax.Array:
    """(n, d) random unit feature directions."""
    f = jax.random.normal(key, (n, d))
    return f / jnp.linalg.norm(f, axis=1, keepdims=True)


def feature_probs(cfg: Config) -> np.ndarray:
    if cfg.source == "tms":
        return np.full(cfg.tms_n, 1.0 - cfg.tms_sparsity, np.float32)
    return (cfg.feature_prob * cfg.prob_decay ** np.arange(cfg.n_features)).astype(np.float32)


def sample_coefficients(key: jax.Array, probs: jax.Array, batch: int, structure: str = "independent",
                        magnitude: float = 2.0) -> jax.Array:
    """(batch, n) sparse coefficients: feature i present with probability probs[i] (for a pair,
    its first feature's), magnitude uniform in [0, magnitude] when present (config: structures).
    One uniform u per feature and input serves both: present iff u < p, magnitude u / p times the
    maximum (uniform given presence); drawing random numbers is most of a step's cost on a CPU."""
    n = probs.shape[0]
    lead = probs[0::2] if structure != "independent" else probs
    u = jax.random.uniform(key, (batch, lead.shape[0]))
    a = jnp.where(u < lead, u / lead * magnitude, 0.0)
    if structure == "independent":
        return a
    if structure == "correlated":  # both present together, with magnitudes of their own
        second = jax.random.uniform(jax.random.fold_in(key, 1), (batch, n // 2), maxval=magnitude)
        return jnp.stack([a, jnp.where(a > 0, second, 0.0)], axis=2).reshape(batch, n)
    child = jax.random.uniform(jax.random.fold_in(key, 1), (batch, n // 2))  # hierarchical: child with its parent, half the time
    return jnp.stack([a, jnp.where((a > 0) & (child < 0.5), 2.0 * child * magnitude, 0.0)], axis=2).reshape(batch, n)


def planted_batch(key: jax.Array, dictionary: jax.Array, p: float, batch: int) -> tuple[jax.Array, jax.Array]:
    """(x (batch, d), true coefficients (batch, n)) of independent features of probability p."""
    a = sample_coefficients(key, jnp.full(dictionary.shape[0], p), batch)
    return a @ dictionary, a


def train_tms_source(cfg: Config) -> np.ndarray:
    """W (m, n) of a ReLU-output TMS model (importance 0.9^i, density 1 - tms_sparsity), trained
    from source_seed by the superposition toy's own model and the engine."""
    stack = tms.ModelStack.over_densities("source", "relu_output", cfg.tms_n, cfg.tms_m,
                                          [1.0 - cfg.tms_sparsity], 0.9 ** np.arange(cfg.tms_n))
    keys = jax.random.PRNGKey(cfg.source_seed)[None]
    hp = {"lr": np.full(1, 1e-3, np.float32), "weight_decay": np.zeros(1, np.float32)}
    state, _ = engine.train(tms.stack_task((stack,), 1024), keys, hp, tms.stack_data((stack,), 1),
                            engine.Schedule.make(cfg.tms_steps, cfg.tms_steps), progress=False)
    return np.asarray(state["params"]["source"]["W"][0, 0])


@functools.lru_cache(maxsize=4)  # training and the analyses of one process share a TMS source
def source(cfg: Config) -> dict[str, np.ndarray]:
    """{"mix": (n, d), "truth": (n_true, d) unit true features, "probs": (n,), "magnitude": ()}."""
    if cfg.source == "tms":
        mix = train_tms_source(cfg).T
        norms = np.linalg.norm(mix, axis=1)
        truth = mix[norms >= REPRESENTED] / norms[norms >= REPRESENTED, None]
        magnitude = 1.0
    else:
        key = jax.random.fold_in(jax.random.PRNGKey(cfg.source_seed), TRUTH_SALT)
        mix = truth = np.asarray(planted_dictionary(key, cfg.n_features, cfg.d))
        magnitude = 2.0
    return {"mix": mix.astype(np.float32), "truth": truth.astype(np.float32), "probs": feature_probs(cfg),
            "magnitude": np.float32(magnitude)}


def source_batch(key: jax.Array, data: dict, batch: int, structure: str) -> tuple[jax.Array, jax.Array]:
    """(x (batch, d), coefficients (batch, n)) from a source's arrays (one instance's data)."""
    a = sample_coefficients(key, data["probs"], batch, structure, data["magnitude"])
    return a @ data["mix"], a


# ---------------------------------------------------------------------------------------------
# SAEs


def init_params(key: jax.Array, d: int, m: int) -> dict[str, jax.Array]:
    """Unit random decoder directions, one key per latent; the encoder their transpose; zero
    biases; JumpReLU thresholds at THRESHOLD_INIT."""
    w = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (d,)))(jnp.arange(m))
    w = w / jnp.linalg.norm(w, axis=1, keepdims=True)
    return {"W_enc": w.T, "b_enc": jnp.zeros(m), "W_dec": w, "b_dec": jnp.zeros(d),
            "log_threshold": jnp.full(m, np.log(THRESHOLD_INIT), jnp.float32)}


def decoder(params: dict) -> jax.Array:
    """(m, d) unit-norm latent directions."""
    w = params["W_dec"]
    return w / jnp.maximum(jnp.linalg.norm(w, axis=-1, keepdims=True), 1e-12)


@jax.custom_vjp
def heaviside(z: jax.Array, threshold: jax.Array) -> jax.Array:
    """H(z - θ), with the straight-through gradient in θ (none in z)."""
    return (z > threshold).astype(z.dtype)


def _heaviside_fwd(z, threshold):
    return heaviside(z, threshold), (z, threshold)


def _heaviside_bwd(res, g):
    z, threshold = res
    kernel = (jnp.abs((z - threshold) / BANDWIDTH) < 0.5) / BANDWIDTH
    d_threshold = -(g * kernel).reshape(-1, threshold.shape[-1]).sum(axis=0).reshape(threshold.shape)
    return jnp.zeros_like(z), d_threshold


heaviside.defvjp(_heaviside_fwd, _heaviside_bwd)


def variant_code(variant: str) -> int:
    return VARIANTS.index(variant)


def encode(params: dict, x: jax.Array, variant: jax.Array | str, k: jax.Array | int = 1,
           mask: jax.Array | None = None, k_max: int | None = None) -> jax.Array:
    """Codes (batch, m). The variant is a name, or a traced code (`variant_code`, a per-instance
    hyperparameter: every variant's codes are computed and one is selected); k may be traced too,
    so TopK reads the k-th largest pre-activation off lax.top_k(k_max), a static bound on k (a
    full sort when none is given: several times slower on a CPU). `mask` (m,) switches latents off."""
    return _encode(params, x, variant, k, mask, k_max)[0]


def _encode(params, x, variant, k, mask, k_max) -> tuple[jax.Array, jax.Array]:
    """(codes, JumpReLU's gate H(z - θ), 0 unless the variant may be JumpReLU)."""
    pre = (x - params["b_dec"]) @ params["W_enc"] + params["b_enc"]
    live = jnp.ones(pre.shape[-1], bool) if mask is None else mask.astype(bool)
    relu = jnp.where(live, jax.nn.relu(pre), 0.0)
    named = isinstance(variant, str)
    if named and variant == "relu":
        return relu, jnp.zeros_like(pre)
    if not named or variant == "topk":
        ranked = jax.lax.top_k(jnp.where(live, pre, -jnp.inf), k_max or pre.shape[-1])[0]
        topk = jnp.where(pre >= jnp.take(ranked, jnp.asarray(k, jnp.int32) - 1, axis=-1)[..., None], relu, 0.0)
        if named:
            return topk, jnp.zeros_like(pre)
    gate = heaviside(jnp.where(live, pre, 0.0), jnp.exp(params["log_threshold"])) * live
    jump = pre * gate
    if named:
        return jump, gate
    return jnp.select([variant == 0, variant == 1], [relu, topk], jump), gate


def decode(params: dict, codes: jax.Array) -> jax.Array:
    return codes @ decoder(params) + params["b_dec"]


def loss(params: dict, x: jax.Array, variant: jax.Array | str, coef=0.0, k=1, l0_coef=0.0, mask=None,
         k_max: int | None = None) -> jax.Array:
    """Reconstruction error plus the variant's sparsity penalty: coef · L1 (relu), l0_coef · L0
    (jumprelu, through the straight-through gate), none (topk)."""
    code = variant_code(variant) if isinstance(variant, str) else variant
    codes, gate = _encode(params, x, variant, k, mask, k_max)
    mse = jnp.sum((x - decode(params, codes)) ** 2, axis=-1).mean()
    l1, l0 = jnp.abs(codes).sum(axis=-1).mean(), gate.sum(axis=-1).mean()
    return mse + jnp.where(code == 0, coef * l1, 0.0) + jnp.where(code == 2, l0_coef * l0, 0.0)


# ---------------------------------------------------------------------------------------------
# Training on the engine: one source for every instance; variant, settings and mask per instance


def make_data(cfg: Config, instances: list[dict]) -> dict[str, np.ndarray]:
    src = source(cfg)
    n = len(instances)
    per = {key: np.broadcast_to(v, (n, *np.shape(v))).copy() for key, v in src.items()}
    per["variant"] = np.array([variant_code(i.get("variant", cfg.variant)) for i in instances], np.int32)
    for key in ("coef", "k", "l0_coef"):
        per[key] = np.array([i.get(key, getattr(cfg, key)) for i in instances], np.float32)
    # the largest k of the run, as a shape (static under jit): TopK's lax.top_k bound
    per["k_slots"] = np.zeros((n, max(1, *(int(i.get("k", cfg.k)) for i in instances))), np.float32)
    per["mask"] = np.stack([np.arange(cfg.max_dict_size) < i.get("dict_size", cfg.dict_size)
                            for i in instances]).astype(np.float32)
    return per


def instance_loss(params: dict, data: dict, x: jax.Array) -> jax.Array:
    return loss(params, x, data["variant"], data["coef"], data["k"], data["l0_coef"], data["mask"], k_max(data))


def k_max(data: dict) -> int:
    return data["k_slots"].shape[-1]


def task(cfg: Config) -> engine.Task:
    def train_loss(params, data, key):
        return instance_loss(params, data, source_batch(key, data, cfg.batch, cfg.structure)[0])

    def metrics(params, data, key):
        x = source_batch(key, data, cfg.batch, cfg.structure)[0]
        codes = encode(params, x, data["variant"], data["k"], data["mask"], k_max(data))
        to_decoder, to_true = M.mmcs(data["truth"], decoder(params), (codes != 0).any(axis=0))
        return {"loss": instance_loss(params, data, x), "fvu": M.fvu(x, decode(params, codes)),
                "l0": M.latent_activity(codes)["l0"], "mmcs": to_decoder, "mmcs_latents": to_true}

    return engine.Task(init_params=lambda key: init_params(key, cfg.source_dim, cfg.max_dict_size),
                       loss=train_loss, metrics=metrics, optimizer=lambda hp: optax.adam(hp["lr"]),
                       stochastic=True)

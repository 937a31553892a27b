"""Analyses of a fact-lookup memoriser (`model`): pure jnp functions of ONE instance's params
and data (the padded arrays of `make_data`), vmappable over instances, and `analyse(run)`,
which runs them all on every final model of a run into the `Results` claims and figures read.

Definitions chosen here:
- A fact is one pair (a, b) of the instance's table; s = 2 f(a, b) - 1 is its label sign, and
  "towards the correct answer" means multiplied by s.
- Bits stored: n^2 (ln 2 - L) / ln 2 with L the mean cross-entropy (nats) over the table;
  per parameter: divided by the trainable parameters of the unpadded model.
- Probes: L2-regularised logistic regression (Newton's method, features standardised, bias
  included) fitted on every pair of the table, accuracy on the same pairs.
- Paths: logit = direct + mlp0_direct + mlp1_direct + mlp0_to_mlp1, exactly, with
      direct        = w_U . (E0[a] + E1[b]) + b_U
      mlp0_direct   = w_U . MLP0(x0)
      mlp1_direct   = w_U . MLP1(x0)                    (MLP1 as if MLP0 were absent)
      mlp0_to_mlp1  = w_U . (MLP1(x0 + MLP0(x0)) - MLP1(x0))
- Layer shares, each path counted once: a layer's share of the mean signed logit is its own
  direct path plus half of the MLP0->MLP1 path, which needs both layers (the Shapley split of
  the two layers' contributions); the direct path belongs to neither, so the two layers' shares
  and the direct path's sum to 1.
- Layer ablations replace a layer's output by its mean over the table (mean ablation) or by
  zero (removal).
- Neuron direct logit attribution (DLA): neuron j of layer l adds mlp_post.l[j] (W_out[l, j] . w_U)
  to the logit through the residual stream straight to the classifier. Signed by s.
- Neurons for q of a fact: the fewest neurons, largest |contribution| first, whose
  |contributions| sum to at least q of the total |contribution| over all neurons (absolute
  values: a fact carried by two large neurons that cancel is spread, not localised). Computed
  both for DLA and for single-neuron ablation effects.
- Single-neuron ablation: zero the neuron and run the rest of the network; effect = s times the
  drop of the logit (for MLP1 neurons this equals their DLA).
- Neuron-effect correlation: Pearson correlation across neurons of two facts' (unsigned) DLA
  vectors; summarised as the mean over pairs of facts with the same label and with opposite
  labels.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.memorisation import model as M
from toymodels.memorisation.config import Config
from toymodels.memorisation.model import bce, forward, mlp_layer, run_with_cache
from toymodels.store import Run

# The published capacity of a saturated network, ~2 bits per parameter (Allen-Zhu & Li, Physics
# of LMs 3.3; docs/papers.md, memorisation): the figures draw it.
PAPER_BITS_PER_PARAM = 2.0
CORRELATION_FACTS = 96  # facts per instance whose neuron-effect correlations are computed


def _wmean(x, w, axis=None):
    return jnp.sum(x * w, axis=axis) / jnp.maximum(jnp.sum(w, axis=axis), 1e-12)


def _sign(data):
    return 2.0 * data["labels"] - 1.0


# ---------------------------------------------------------------------------------------------
# 1. Capacity


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Capacity:
    """How much of its table a model stores (per instance, or (N,) stacked)."""

    accuracy: jax.Array        # over the table
    loss: jax.Array            # mean cross-entropy over the table (nats)
    bits: jax.Array            # n_train (ln 2 - train loss) / ln 2: about the facts trained on (n^2 for a random table)
    bits_per_param: jax.Array  # bits / trainable parameters of the unpadded model
    train_accuracy: jax.Array
    test_accuracy: jax.Array   # held-out pairs (0 when none)


def capacity(params: dict, data: dict, n_params, activation: str = "gelu") -> Capacity:
    """Accuracy and loss over the table (and over train / held-out pairs), bits stored and bits
    per trainable parameter (`n_params`, the unpadded model's count)."""
    logits = forward(params, data, activation)
    ce = bce(logits, data["labels"])
    correct = ((logits > 0) == (data["labels"] > 0.5)).astype(jnp.float32)
    w = data["table_weight"]
    loss = _wmean(ce, w)
    bits = M.bits_stored(_wmean(ce, data["train_weight"]), data["train_weight"])
    return Capacity(accuracy=_wmean(correct, w), loss=loss, bits=bits, bits_per_param=bits / n_params,
                    train_accuracy=_wmean(correct, data["train_weight"]),
                    test_accuracy=_wmean(correct, data["test_weight"]))


# ---------------------------------------------------------------------------------------------
# 2. Linear probes


def logistic_probe_accuracy(x: jax.Array, y: jax.Array, w: jax.Array, l2: float = 1e-3, iters: int = 30) -> jax.Array:
    """Accuracy of an L2-regularised logistic regression of y (0/1) on features x (P, k), fitted
    and scored on the pairs with weight w. Newton's method on standardised features with a bias;
    the penalty l2 * |beta|^2 / 2 (per unit of mean loss) keeps separable data bounded."""
    mu = _wmean(x, w[:, None], axis=0)
    sd = jnp.sqrt(_wmean((x - mu) ** 2, w[:, None], axis=0)) + 1e-6
    z = jnp.concatenate([(x - mu) / sd, jnp.ones((x.shape[0], 1), x.dtype)], axis=1)
    wn = w / jnp.sum(w)
    reg = l2 * jnp.eye(z.shape[1]).at[-1, -1].set(0.0) + 1e-9 * jnp.eye(z.shape[1])

    def step(beta, _):
        p = jax.nn.sigmoid(z @ beta)
        grad = z.T @ (wn * (p - y)) + reg @ beta
        hess = (z * (wn * p * (1 - p))[:, None]).T @ z + reg
        return beta - jnp.linalg.solve(hess, grad), None

    beta, _ = jax.lax.scan(step, jnp.zeros(z.shape[1], x.dtype), None, length=iters)
    correct = ((z @ beta > 0) == (y > 0.5)).astype(x.dtype)
    return _wmean(correct, w)


def probe_accuracies(params: dict, data: dict, activation: str = "gelu") -> jax.Array:
    """Probe accuracy on the residual stream at the summed embeddings, after MLP0 and after MLP1
    (NaN for a one-layer model): (3,). Fitted on every pair of the table."""
    _, acts = run_with_cache(params, data, activation)
    out = []
    for name in ("resid.0", "resid.1", "resid.2"):
        if name in acts:
            out.append(logistic_probe_accuracy(acts[name], data["labels"], data["table_weight"]))
        else:
            out.append(jnp.array(jnp.nan, jnp.float32))
    return jnp.stack(out)


# ---------------------------------------------------------------------------------------------
# 3. Paths and layer ablations


def path_logits(params: dict, data: dict, activation: str = "gelu") -> dict:
    """The logit of every padded pair split into direct, mlp0_direct, mlp1_direct, mlp0_to_mlp1
    (each (P,); the MLP1 terms are 0 in a one-layer model) and the logit itself; the four
    sum to the logit exactly (up to float rounding)."""
    logits, acts = run_with_cache(params, data, activation)
    wu = params["w_U"]
    x0 = acts["resid.0"]
    out = {"direct": x0 @ wu + params["b_U"], "mlp0_direct": acts["mlp_out.0"] @ wu, "logit": logits}
    if params["W_in"].shape[0] > 1:
        _, _, alone = mlp_layer(params, data, 1, x0, activation)
        out["mlp1_direct"] = alone @ wu
        out["mlp0_to_mlp1"] = (acts["mlp_out.1"] - alone) @ wu
    else:
        out["mlp1_direct"] = out["mlp0_to_mlp1"] = jnp.zeros_like(logits)
    return out


PATHS = ("direct", "mlp0_direct", "mlp1_direct", "mlp0_to_mlp1")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PathSummary:
    """The logit paths over a table's facts, signed towards the correct answer."""

    mean: jax.Array   # (..., 4) mean signed contribution of each path, in the order of PATHS
    share: jax.Array  # (..., 4) its share of the mean signed logit (the four sum to 1)
    logit: jax.Array  # (...) the mean signed logit

    def shares(self, i: int) -> dict[str, float]:
        """{path: share} of instance i (of a stacked summary)."""
        return {k: float(self.share[i, j]) for j, k in enumerate(PATHS)}

    def layer_shares(self, i: int) -> tuple[float, float]:
        """(MLP0, MLP1) shares of instance i, each path counted once: a layer's own direct path
        plus half of the MLP0->MLP1 path (which needs both)."""
        sh = self.shares(i)
        return (sh["mlp0_direct"] + sh["mlp0_to_mlp1"] / 2, sh["mlp1_direct"] + sh["mlp0_to_mlp1"] / 2)


def path_summary(params: dict, data: dict, activation: str = "gelu") -> PathSummary:
    """Mean signed contribution of each path over the table's facts and its share of the mean
    signed logit."""
    p = path_logits(params, data, activation)
    s, w = _sign(data), data["table_weight"]
    total = _wmean(s * p["logit"], w)
    # (mean, share) per path, then split: dividing the stacked means at once changed last bits under XLA
    per_path = jnp.stack([jnp.stack([_wmean(s * p[k], w), _wmean(s * p[k], w) / total]) for k in PATHS])
    return PathSummary(mean=per_path[:, 0], share=per_path[:, 1], logit=total)


def layer_ablations(params: dict, data: dict, activation: str = "gelu") -> jax.Array:
    """Table accuracy with nothing ablated, MLP0 mean-ablated, MLP1 mean-ablated, MLP0 removed,
    MLP1 removed (NaN for MLP1 in a one-layer model): (5,). Mean ablation replaces the layer's
    output by its mean over the table (a layer that only adds a constant costs nothing); removal
    zeroes it (a layer that only rescales what another one wrote costs nothing)."""
    _, acts = run_with_cache(params, data, activation)
    w, y = data["table_weight"], data["labels"] > 0.5
    layers = params["W_in"].shape[0]

    def run(ablate, how):
        x = acts["resid.0"]
        for l in range(layers):
            _, _, out = mlp_layer(params, data, l, x, activation)
            if l == ablate:
                out = jnp.broadcast_to(_wmean(out, w[:, None], axis=0), out.shape) if how == "mean" else 0.0 * out
            x = x + out
        logit = x @ params["w_U"] + params["b_U"]
        return _wmean(((logit > 0) == y).astype(jnp.float32), w)

    nan = jnp.array(jnp.nan, jnp.float32)
    return jnp.stack([run(-1, "mean"), run(0, "mean"), run(1, "mean") if layers > 1 else nan,
                      run(0, "zero"), run(1, "zero") if layers > 1 else nan])


# ---------------------------------------------------------------------------------------------
# 4. Neurons


def neuron_dla(params: dict, data: dict, activation: str = "gelu") -> jax.Array:
    """Direct logit attribution of every neuron to every padded pair's logit, unsigned:
    (P, layers * W), layer 0's neurons first. Masked neurons give 0."""
    _, acts = run_with_cache(params, data, activation)
    w_pad = data["hidden_mask"].shape[-1]
    cols = []
    for l in range(params["W_in"].shape[0]):
        readout = params["W_out"][l, :w_pad] @ params["w_U"]  # (W,)
        cols.append(acts[f"mlp_post.{l}"] * readout)
    return jnp.concatenate(cols, axis=1)


def neurons_for_share(contrib: jax.Array, share: float) -> jax.Array:
    """Per fact (row of `contrib`, (P, K) contributions of K neurons): the fewest neurons,
    largest |contribution| first, whose |contributions| reach `share` of the row's total
    |contribution| (absolute values, so neurons that cancel each other count as used);
    NaN for a row of zeros."""
    mag = jnp.abs(contrib)
    total = mag.sum(axis=1)
    csum = jnp.cumsum(-jnp.sort(-mag, axis=1), axis=1)
    k = jnp.argmax(csum >= share * total[:, None] * (1 - 1e-6), axis=1) + 1
    return jnp.where(total > 0, k.astype(jnp.float32), jnp.nan)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NeuronsPerFact:
    """Per fact (P,) (NaN outside the table): how many neurons carry it."""

    k50: jax.Array           # neurons for 50% of its |direct logit attribution|
    k90: jax.Array           # ... for 90%
    k50_ablation: jax.Array  # neurons for 50% of its |single-neuron ablation effects|
    k90_ablation: jax.Array  # ... for 90%
    top_share: jax.Array     # share of its |DLA| carried by the largest neuron


def neurons_per_fact(params: dict, data: dict, activation: str = "gelu") -> NeuronsPerFact:
    """Per fact (P,), NaN outside the table: neurons needed for 50% and 90% of the fact's
    neuron attribution, by direct logit attribution (k50, k90) and by single-neuron ablation
    effects (k50_ablation, k90_ablation, which include MLP0 neurons' effect through MLP1), and
    the share of the |DLA| carried by the largest neuron (top_share)."""
    dla = neuron_dla(params, data, activation)
    abl = single_neuron_ablations(params, data, activation)
    in_table = data["table_weight"] > 0
    mag = jnp.abs(dla)
    top = jnp.max(mag, axis=1) / jnp.maximum(mag.sum(axis=1), 1e-30)
    out = {"top_share": top}
    for name, c in (("", dla), ("_ablation", abl)):
        out[f"k50{name}"] = neurons_for_share(c, 0.5)
        out[f"k90{name}"] = neurons_for_share(c, 0.9)
    return NeuronsPerFact(**{k: jnp.where(in_table, v, jnp.nan) for k, v in out.items()})


def single_neuron_ablations(params: dict, data: dict, activation: str = "gelu") -> jax.Array:
    """Signed effect of zeroing each neuron on each padded pair's logit, s * (logit -
    logit_without_neuron): (P, layers * W). Layer-0 ablations run through MLP1."""
    logits, acts = run_with_cache(params, data, activation)
    s = _sign(data)
    dla = neuron_dla(params, data, activation)
    w_pad = data["hidden_mask"].shape[-1]
    if params["W_in"].shape[0] == 1:
        return dla * s[:, None]

    def zero_layer0_neuron(j):
        x1 = acts["resid.1"] - acts["mlp_post.0"][:, j][:, None] * params["W_out"][0, j][None, :]
        _, _, out1 = mlp_layer(params, data, 1, x1, activation)
        return (x1 + out1) @ params["w_U"] + params["b_U"]

    ablated0 = jax.lax.map(zero_layer0_neuron, jnp.arange(w_pad))  # (W, P)
    effect0 = (logits[None, :] - ablated0).T * data["hidden_mask"]
    return jnp.concatenate([effect0, dla[:, w_pad:]], axis=1) * s[:, None]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NeuronEffectCorrelation:
    """How alike sampled facts' neuron attributions are."""

    matrix: jax.Array          # (F, F) correlation across neurons of the facts' DLA vectors
    same_label: jax.Array      # mean off-diagonal correlation over facts with the same label
    opposite_label: jax.Array  # ... over facts with opposite labels
    labels: jax.Array          # (F,) the facts' labels


def neuron_effect_correlation(params: dict, data: dict, fact_idx: jax.Array,
                              activation: str = "gelu") -> NeuronEffectCorrelation:
    """Correlation across neurons of the DLA vectors of the facts `fact_idx` (padded pair
    indices inside the table): the matrix (F, F) and the mean off-diagonal correlation over
    pairs with the same label and with opposite labels. Only the instance's own neurons count."""
    dla = neuron_dla(params, data, activation)[fact_idx]
    keep = jnp.tile(data["hidden_mask"], params["W_in"].shape[0]) > 0
    # masked neurons are exactly 0 in every row; drop their influence on the means
    k = keep.sum()
    mean = jnp.sum(dla * keep, axis=1, keepdims=True) / k
    xc = (dla - mean) * keep
    nrm = jnp.sqrt(jnp.sum(xc**2, axis=1, keepdims=True))
    xn = jnp.where(nrm > 0, xc / jnp.where(nrm > 0, nrm, 1.0), 0.0)
    c = xn @ xn.T
    y = data["labels"][fact_idx] > 0.5
    same = (y[:, None] == y[None, :]) & ~jnp.eye(len(fact_idx), dtype=bool)
    opposite = y[:, None] != y[None, :]
    return NeuronEffectCorrelation(matrix=c, same_label=_wmean(c, same), opposite_label=_wmean(c, opposite),
                                   labels=data["labels"][fact_idx])


# ---------------------------------------------------------------------------------------------
# A finished run, analysed: every analysis above on every instance's final model, vmapped.


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FinalAnalyses:
    """Analyses of each instance's final model; leading axis: instance (N), P padded pairs."""

    capacity: Capacity
    probes: np.ndarray                # (N, 3) probe accuracy at the embeddings, after MLP0, after MLP1
    paths: PathSummary
    layer_ablations: np.ndarray       # (N, 5) accuracy: nothing, MLP0, MLP1 mean-ablated, MLP0, MLP1 removed
    neurons: NeuronsPerFact           # (N, P) each
    stored: np.ndarray                # (N, P) 1 on the table's facts the model classifies correctly, else 0
    top_ablation_share: np.ndarray    # (N, P) share of a correct fact's margin its top single-neuron ablation removes
    flipped_by_one_neuron: np.ndarray  # (N,) share of correct facts one single-neuron ablation flips
    correlation: NeuronEffectCorrelation  # over CORRELATION_FACTS sampled facts


@dataclasses.dataclass(frozen=True)
class Results:
    """Everything the memorisation claims and figures read."""

    structure: str                   # the structured label kind
    layers: int
    instances: list[dict]
    n_params: np.ndarray             # (N,) trainable parameters of each unpadded model
    final: FinalAnalyses
    metrics: dict[str, np.ndarray]   # in-loop metrics {"step": (T,), name: (T, N)}
    n_test: np.ndarray               # (N,) held-out table pairs (structured tables; 0 at frac_train=1 and for random ones)


def correlation_facts(insts: list[dict], n_pad: int, k: int = CORRELATION_FACTS) -> np.ndarray:
    """(N, k) padded pair indices: a seeded random sample of each instance's own table."""
    out = []
    for i, inst in enumerate(insts):
        n = int(inst["n"])
        pick = np.random.default_rng([int(inst["seed"]), n, i]).choice(n * n, size=min(k, n * n), replace=False)
        pick = np.resize(pick, k)  # tables smaller than k repeat facts (never in the smallest presets' use)
        a, b = np.divmod(pick, n)
        out.append(a * n_pad + b)
    return np.stack(out).astype(np.int32)


@functools.partial(jax.jit, static_argnames="activation")
def _final_analyses(params, data, n_params, facts, activation) -> FinalAnalyses:
    def one(p, d, n_par, f):
        abl = single_neuron_ablations(p, d, activation)
        margin = _sign(d) * forward(p, d, activation)
        top_ablation = jnp.max(abl, axis=1)
        correct = (d["table_weight"] > 0) & (margin > 0)
        return FinalAnalyses(
            capacity=capacity(p, d, n_par, activation), probes=probe_accuracies(p, d, activation),
            paths=path_summary(p, d, activation), layer_ablations=layer_ablations(p, d, activation),
            neurons=neurons_per_fact(p, d, activation), stored=correct.astype(jnp.float32),
            top_ablation_share=jnp.where(correct, top_ablation / jnp.where(correct, margin, 1.0), jnp.nan),
            flipped_by_one_neuron=jnp.sum(correct & (top_ablation > margin)) / jnp.maximum(jnp.sum(correct), 1),
            correlation=neuron_effect_correlation(p, d, f, activation))

    return jax.vmap(one)(params, data, n_params, facts)


def analyse(run: Run) -> Results:
    cfg = Config(**run.config)
    insts = run.instances
    n_params = [M.trainable_parameters(int(i["n"]), int(i["width"]), cfg.d, cfg.layers, cfg.train_embed)
                for i in insts]
    return results_of(run.final_params(), M.make_data(cfg, insts), insts, n_params, run.metrics,
                      structure=cfg.structure, activation=cfg.activation)


def results_of(params: dict, data: dict, instances: list[dict], n_params, metrics: dict | None = None,
               structure: str = "row", activation: str = "gelu") -> Results:
    """The Results of final models given in memory (params and data stacked on a leading instance
    axis, as a run holds them): what `analyse` returns for a run, and what the tests build from
    hand-built and untrained networks. `metrics` defaults to a flat history (the final train
    loss at steps 0 and 1), for networks that were never trained."""
    data = jax.tree_util.tree_map(jnp.asarray, data)
    n_pad = round(data["labels"].shape[1] ** 0.5)
    n_params = np.asarray(n_params, np.float32)
    final = _final_analyses(params, data, n_params, correlation_facts(instances, n_pad), activation)
    final = jax.tree_util.tree_map(np.asarray, final)
    if metrics is None:
        loss = np.asarray(jax.vmap(lambda p, d: _wmean(bce(forward(p, d, activation), d["labels"]),
                                                       d["train_weight"]))(params, data))
        metrics = {"step": np.array([0, 1]), "train_loss": np.stack([loss, loss])}
    return Results(structure=structure, layers=int(params["W_in"].shape[1]), instances=list(instances),
                   n_params=n_params, final=final, metrics=metrics,
                   n_test=np.asarray(data["test_weight"]).sum(-1).astype(int))


# ---------------------------------------------------------------------------------------------
# Which instances to read: capacity per width, and random tables beside structured ones


def capacity_table(results: Results) -> list[dict]:
    """Random-label instances grouped by (width, seed): the most bits any table size stored,
    bits per parameter there, and whether the width is saturated (its largest table is not
    memorised: accuracy < 0.99), i.e. at capacity."""
    insts, cap = results.instances, results.final.capacity
    groups: dict[tuple, list[int]] = {}
    for i, inst in enumerate(insts):
        if not inst["structured"]:
            groups.setdefault((int(inst["width"]), int(inst["seed"])), []).append(i)
    out = []
    for (w, seed), idx in sorted(groups.items()):
        best = max(idx, key=lambda i: cap.bits[i])
        largest = max(idx, key=lambda i: insts[i]["n"])
        out.append({"width": w, "seed": seed, "params": int(results.n_params[best]), "n_best": int(insts[best]["n"]),
                    "bits": float(cap.bits[best]), "bits_per_param": float(cap.bits_per_param[best]),
                    "largest_n": int(insts[largest]["n"]), "largest_acc": float(cap.accuracy[largest]),
                    "saturated": bool(cap.accuracy[largest] < 0.99)})
    return out


def capacity_instance(results: Results, row: dict) -> int:
    """The instance of a capacity_table row: its width and seed at the table size storing the most bits."""
    return next(i for i, inst in enumerate(results.instances) if not inst["structured"]
                and int(inst["width"]) == row["width"] and int(inst["seed"]) == row["seed"]
                and int(inst["n"]) == row["n_best"])


def at_capacity(results: Results) -> list[int]:
    """Random-label instances of saturated widths at the table size storing the most bits."""
    return [capacity_instance(results, row) for row in capacity_table(results) if row["saturated"]]


def random_structured_pairs(results: Results) -> list[tuple[int, int]]:
    """(random, structured) instance pairs with the same n, width, seed and hyperparameters."""
    insts = results.instances
    key = lambda inst: (inst["n"], inst["width"], inst["seed"], inst.get("lr"), inst.get("weight_decay"))  # noqa: E731
    structured = {key(inst): i for i, inst in enumerate(insts) if inst["structured"]}
    return [(i, structured[key(inst)]) for i, inst in enumerate(insts)
            if not inst["structured"] and key(inst) in structured]

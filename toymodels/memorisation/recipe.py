"""Fact-lookup memoriser (after Nanda, Rajamanoharan, Kramar, Shah, "Fact Finding", 2023):
MLPs over frozen random embeddings memorise a binary table; capacity in bits per parameter,
linear probes by layer, exact logit paths and per-neuron attribution.

No public code or sizes exist; this module defines the reference version. A run is a grid of
instances (table size n x MLP width x label kind x seed) trained as ONE compiled program: the
parameters are padded to the widest model and largest table, and per-instance masks in the
data switch off the unused neurons and pairs (see tasks.memorisation).

The grid of a preset is given by comma lists on the sweepable keys, PRESET_SETS below:
    toymodels reproduce memorisation --preset quick --set n=16,24,32,40 --set width=4,8,16 --set structured=0,1
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from toymodels import engine
from toymodels.memorisation import analyses as A
from toymodels.memorisation import model as M
from toymodels.memorisation.model import Config

PRESETS = {
    # d = 16, widths 4-16 (281-1073 trainable parameters), tables 12^2-40^2 pairs: the narrow
    # models are over capacity at the larger tables; two seeds. ~2-3 minutes on a 2-core CPU.
    "quick": Config(n=16, width=4, max_n=40, max_width=16, d=16, lr=1e-2, steps=3000, eval_every=100, seeds=2),
    # d = 32, widths 8-32 (1073-4193 parameters), tables 32^2-64^2 pairs, 10k steps.
    "paper": Config(n=32, width=8, max_n=64, max_width=32, d=32, lr=1e-2, steps=10_000, eval_every=200, seeds=2),
}
# The grid each preset is meant to train (comma lists on sweepable keys, as with --set).
PRESET_SETS = {
    "quick": ("n=16,24,32,40", "width=4,8,16", "structured=0,1"),
    "paper": ("n=32,48,64", "width=8,16,32", "structured=0,1"),
}
SWEEPABLE = ("seed", "n", "width", "structured", "lr", "weight_decay")
FIGURES = ("capacity_curves", "bits_per_parameter", "probe_accuracy", "path_contributions",
           "neurons_per_fact", "neuron_effect_correlation", "loss_curves")
CORRELATION_FACTS = 96  # facts per instance whose neuron-effect correlations are computed


def task(cfg: Config) -> engine.Task:
    return engine.Task(
        init_params=functools.partial(M.init_params, cfg),
        loss=functools.partial(M.loss, activation=cfg.activation, train_embed=cfg.train_embed),
        metrics=functools.partial(M.metrics, activation=cfg.activation),
        optimizer=functools.partial(M.optimizer, cfg),
    )


make_data = M.make_data


def schedule(cfg: Config) -> engine.Schedule:
    return engine.Schedule.make(cfg.steps, cfg.eval_every, cfg.checkpoint_every)


def figures(run, results, out, only=None):
    from toymodels.memorisation.figures import make_figures

    return make_figures(run, results, out, only)


# ---------------------------------------------------------------------------------------------
# Analyses: every analysis of tasks/analyses.memorisation on every instance, vmapped.


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
def _analyse_all(params, data, n_params, facts, activation):
    def one(p, d, n_par, f):
        npf = A.neurons_per_fact(p, d, activation)
        abl = A.single_neuron_ablations(p, d, activation)
        logits = A.forward(p, d, activation)
        s = 2 * d["labels"] - 1
        margin = s * logits
        in_table = d["table_weight"] > 0
        top_ablation = jnp.max(abl, axis=1)
        correct = in_table & (margin > 0)
        corr = A.neuron_effect_correlation(p, d, f, activation)
        return {
            "capacity": A.capacity(p, d, n_par, activation),
            "probes": A.probe_accuracies(p, d, activation),
            "paths": A.path_summary(p, d, activation),
            "layer_ablations": A.layer_ablations(p, d, activation),
            **npf,
            # share of a correct fact's margin removed by its most important single neuron
            "top_ablation_share": jnp.where(correct, top_ablation / jnp.where(correct, margin, 1.0), jnp.nan),
            # correct facts that one single-neuron ablation flips
            "flipped_by_one_neuron": jnp.sum(correct & (top_ablation > margin)) / jnp.maximum(jnp.sum(correct), 1),
            "correlation": corr["matrix"], "corr_same": corr["same_label"], "corr_opposite": corr["opposite_label"],
            "corr_labels": d["labels"][f],
        }

    return jax.vmap(one)(params, data, n_params, facts)


def analyse(run) -> dict:
    """Per-instance analyses of the final models (numpy, leading instance axis) and the
    in-loop metrics."""
    cfg = Config(**run.config)
    insts = run.instances
    data = make_data(cfg, insts)
    n_pad = int(round(data["labels"].shape[1] ** 0.5))
    n_params = np.array([M.trainable_parameters(int(i["n"]), int(i["width"]), cfg.d, cfg.layers, cfg.train_embed)
                         for i in insts], np.float32)
    facts = correlation_facts(insts, n_pad)
    final = _analyse_all(run.final_params(), data, n_params, facts, cfg.activation)
    final = jax.tree_util.tree_map(np.asarray, final)
    return {"final": final, "n_params": n_params, "metrics": run.metrics, "instances": insts,
            "structure": cfg.structure, "steps": cfg.steps}


# ---------------------------------------------------------------------------------------------
# Claims, each measured per instance (or per width and seed); a claim holds when all do.


def _claim(id_, claim, expected, per_seed, holds, fmt):
    # the instances that fail are shown first, so a NO names its culprits within the first eight
    order = sorted(range(len(per_seed)), key=lambda i: bool(holds[i])) if isinstance(holds, list) else range(len(per_seed))
    shown = [fmt(per_seed[i]) for i in order]
    shown = "; ".join(shown[:8]) + ("; ..." if len(shown) > 8 else "")
    return {"id": id_, "claim": claim, "expected": expected, "measured": shown or "no instance to measure",
            "per_seed": per_seed, "holds": bool(holds) and all(holds) if isinstance(holds, list) else bool(holds)}


def _holds(flags: list) -> bool:
    return bool(flags) and all(flags)


def _info_per_fact(metrics, i, frac):
    """(ln 2 - train loss) / ln 2 at the first evaluation at or after `frac` of training."""
    steps = metrics["step"]
    j = min(int(np.searchsorted(steps, frac * steps[-1])), len(steps) - 1)
    return float((np.log(2) - metrics["train_loss"][j, i]) / np.log(2))


def capacity_table(results) -> list[dict]:
    """Random-label instances grouped by (width, seed): the most bits any table size stored,
    bits per parameter there, and whether the width is saturated (its largest table is not
    memorised: accuracy < 0.99), i.e. at capacity."""
    insts, cap = results["instances"], results["final"]["capacity"]
    groups: dict[tuple, list[int]] = {}
    for i, inst in enumerate(insts):
        if not inst["structured"]:
            groups.setdefault((int(inst["width"]), int(inst["seed"])), []).append(i)
    out = []
    for (w, seed), idx in sorted(groups.items()):
        best = max(idx, key=lambda i: cap["bits"][i])
        largest = max(idx, key=lambda i: insts[i]["n"])
        out.append({"width": w, "seed": seed, "params": int(results["n_params"][best]), "n_best": int(insts[best]["n"]),
                    "bits": float(cap["bits"][best]), "bits_per_param": float(cap["bits_per_param"][best]),
                    "largest_n": int(insts[largest]["n"]), "largest_acc": float(cap["accuracy"][largest]),
                    "saturated": bool(cap["accuracy"][largest] < 0.99)})
    return out


def _random_at_capacity(results) -> list[int]:
    """Random-label instances of saturated widths at the table size storing the most bits."""
    insts = results["instances"]
    return [next(i for i, inst in enumerate(insts) if not inst["structured"] and int(inst["width"]) == row["width"]
                 and int(inst["seed"]) == row["seed"] and int(inst["n"]) == row["n_best"])
            for row in capacity_table(results) if row["saturated"]]


def _pair(results) -> list[tuple[int, int]]:
    """(random, structured) instance pairs with the same n, width and seed."""
    insts = results["instances"]
    key = lambda inst: (inst["n"], inst["width"], inst["seed"], inst.get("lr"), inst.get("weight_decay"))  # noqa: E731
    structured = {key(inst): i for i, inst in enumerate(insts) if inst["structured"]}
    return [(i, structured[key(inst)]) for i, inst in enumerate(insts) if not inst["structured"] and key(inst) in structured]


def claims(run, results) -> list[dict]:
    f, m, insts = results["final"], results["metrics"], results["instances"]
    out = []

    # 1. converged: information per train fact, q = (ln 2 - train loss) / ln 2 bits, stops growing
    conv = []
    for i, inst in enumerate(insts):
        q_mid, q_end = _info_per_fact(m, i, 0.5), _info_per_fact(m, i, 1.0)
        conv.append({"n": inst["n"], "width": inst["width"], "structured": inst["structured"], "seed": inst["seed"],
                     "bits_per_fact_mid": q_mid, "bits_per_fact_end": q_end, "gain": q_end - q_mid})
    out.append(_claim("converged", "training has plateaued: the bits stored per train fact no longer grow",
                      "over the second half of training (learning rate cosine-decayed from 50% to 5% of its peak) "
                      "(ln 2 - train loss)/ln 2 grows by < 0.03 bits per fact in every instance",
                      conv, [c["gain"] < 0.03 for c in conv],
                      lambda v: f"n={v['n']} w={v['width']}{' S' if v['structured'] else ''} s{v['seed']}: +{v['gain']:.3f}"))

    # 2. bits per parameter at capacity
    table = capacity_table(results)
    sat = [r for r in table if r["saturated"]]
    out.append(_claim("bits_per_param_at_capacity",
                      "a saturated MLP stores about 2 bits per trainable parameter (Allen-Zhu & Li; a replication of this toy: ~2)",
                      "for every width whose largest random table is not memorised (accuracy < 0.99), the most bits "
                      "any table size stored / trainable parameters lies in [1, 4] (at least one such width)",
                      table, _holds([1.0 <= r["bits_per_param"] <= 4.0 for r in sat]),
                      lambda v: f"w={v['width']} s{v['seed']}: {v['bits_per_param']:.2f} b/p at n={v['n_best']}"
                                f"{'' if v['saturated'] else ' (not saturated)'}"))

    # 3. facts spread over neurons
    cap_idx = _random_at_capacity(results)
    spread = [{"width": insts[i]["width"], "seed": insts[i]["seed"], "n": insts[i]["n"],
               "live_neurons": int(insts[i]["width"]) * run.config["layers"],
               **{k: float(np.nanmedian(f[k][i])) for k in ("k50", "k90", "k50_ablation", "k90_ablation", "top_share")},
               "flipped_by_one_neuron": float(f["flipped_by_one_neuron"][i]),
               "corr_same": float(f["corr_same"][i]), "corr_opposite": float(f["corr_opposite"][i])} for i in cap_idx]
    out.append(_claim("facts_spread_over_neurons",
                      "memorised facts are spread over many neurons, not localised (a one-neuron-per-fact network needs 1)",
                      "at capacity the median fact needs >= 3 neurons and >= 25% of the live neurons for 90% of its "
                      "single-neuron ablation effects (medians of k50/k90 by ablation and by direct attribution reported)",
                      spread, _holds([s["k90_ablation"] >= max(3, 0.25 * s["live_neurons"]) for s in spread]),
                      lambda v: f"w={v['width']} s{v['seed']} ({v['live_neurons']} neurons): k50/k90 ablation "
                                f"{v['k50_ablation']:.0f}/{v['k90_ablation']:.0f}, DLA {v['k50']:.0f}/{v['k90']:.0f}, "
                                f"top neuron {100 * v['top_share']:.0f}% of |DLA|"))

    # 4. facts spread over layers
    two_layer = run.config["layers"] == 2
    layer = []
    for i in cap_idx:
        sh = {k: float(f["paths"][k][i, 1]) for k in A.PATHS}
        layer.append({"width": insts[i]["width"], "seed": insts[i]["seed"], "shares": sh,
                      "mlp0_share": sh["mlp0_direct"] + sh["mlp0_to_mlp1"], "mlp1_share": sh["mlp1_direct"] + sh["mlp0_to_mlp1"],
                      "acc": float(f["layer_ablations"][i, 0]), "acc_no_mlp0": float(f["layer_ablations"][i, 1]),
                      "acc_no_mlp1": float(f["layer_ablations"][i, 2])})
    out.append(_claim("facts_spread_over_layers",
                      "both MLP layers carry the memorised facts (no single layer does the lookup)",
                      "at capacity the paths through MLP0 and those through MLP1 each carry >= 15% of the mean signed logit, "
                      "and mean-ablating either layer costs >= 5 points of accuracy",
                      layer, two_layer and _holds([v["mlp0_share"] >= 0.15 and v["mlp1_share"] >= 0.15
                                                   and v["acc"] - max(v["acc_no_mlp0"], v["acc_no_mlp1"]) >= 0.05 for v in layer]),
                      lambda v: f"w={v['width']} s{v['seed']}: MLP0 {100 * v['mlp0_share']:.0f}%, MLP1 {100 * v['mlp1_share']:.0f}% "
                                f"(MLP0->MLP1 {100 * v['shares']['mlp0_to_mlp1']:.0f}%); acc {v['acc']:.2f}, "
                                f"-MLP0 {v['acc_no_mlp0']:.2f}, -MLP1 {v['acc_no_mlp1']:.2f}"))

    # 5. hash then look up: is the label linearly readable after MLP0 alone?
    probes = [{"width": insts[i]["width"], "seed": insts[i]["seed"], "embed": float(f["probes"][i, 0]),
               "mlp0": float(f["probes"][i, 1]), "mlp1": float(f["probes"][i, 2])} for i in cap_idx]
    out.append(_claim("mlp0_does_not_make_label_readable",
                      "strong 'hash then look up' is false: MLP0 alone does not make a random label linearly readable "
                      "(a soft version may hold: MLP0 raises probe accuracy above the embeddings')",
                      "at capacity the probe after MLP0 is >= 5 points below the probe after MLP1 (soft version reported: "
                      "after MLP0 minus at the embeddings)",
                      probes, two_layer and _holds([v["mlp1"] - v["mlp0"] >= 0.05 for v in probes]),
                      lambda v: f"w={v['width']} s{v['seed']}: embed {v['embed']:.2f}, MLP0 {v['mlp0']:.2f}, MLP1 {v['mlp1']:.2f}"))

    # 6. structured vs random tables
    pairs = _pair(results)
    cmp = []
    for r, s in pairs:
        cmp.append({"n": insts[r]["n"], "width": insts[r]["width"], "seed": insts[r]["seed"],
                    "random_acc": float(f["capacity"]["accuracy"][r]), "structured_test_acc": float(f["capacity"]["test_accuracy"][s]),
                    "random_probe_mlp0": float(f["probes"][r, 1]), "structured_probe_mlp0": float(f["probes"][s, 1]),
                    "random_k50": float(np.nanmedian(f["k50_ablation"][r])), "structured_k50": float(np.nanmedian(f["k50_ablation"][s]))})
    sat_pairs = [c for c, (r, _) in zip(cmp, pairs) if r in cap_idx]
    out.append(_claim("structured_table_differs",
                      f"a structured table ({results['structure']}) is learned as a rule, a random one is stored fact by fact",
                      "where the random table overflows the width (at capacity), the structured table of the same size and "
                      "width generalises (held-out accuracy >= 0.75, halfway from chance to perfect; a random table's "
                      "held-out pairs are at chance by construction) and its label is more linearly readable after MLP0 "
                      "(probe >= 10 points above the random table's)",
                      sat_pairs, _holds([c["structured_test_acc"] >= 0.75
                                         and c["structured_probe_mlp0"] - c["random_probe_mlp0"] >= 0.10 for c in sat_pairs]),
                      lambda v: f"n={v['n']} w={v['width']} s{v['seed']}: random acc {v['random_acc']:.2f}, structured "
                                f"held-out {v['structured_test_acc']:.2f}; probe after MLP0 {v['random_probe_mlp0']:.2f} vs "
                                f"{v['structured_probe_mlp0']:.2f}"))
    return out

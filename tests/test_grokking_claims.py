"""Each grokking claim fails on a model that lacks what it claims: a random init that never
trains, a model that memorised its train pairs and never grokked, and the hand-built Fourier
network frozen over "training" (the circuit, but none of the dynamics). That the claims hold on
a model that groks is tested on the quick preset (test_grokking_reproduction.py). A run without
test pairs cannot judge the claims that read the test loss."""

import dataclasses

import jax
import numpy as np

from toymodels.grokking import analyses as G
from toymodels.grokking import model as ma
from toymodels.grokking.config import Config
from toymodels.grokking.handbuilt import fourier_algorithm_params
from toymodels.grokking.recipe import NEED_TEST_PAIRS, RECIPE, claims
from toymodels.pipeline import resolve, train_run
from toymodels.store import Run, load_run

P = 23
SMALL = (f"p={P}", "d_model=32", "n_heads=2", "d_head=16", "d_mlp=64", "eval_every=50", "checkpoint_every=50")
DYNAMIC = {"grokking_delay", "restricted_loss_falls_first", "excluded_loss_rises", "cleanup"}


def _claims_of_run(tmp_path, *sets) -> dict:
    _, cfg, spec = resolve("grokking", "quick", 1, SMALL + sets)
    train_run(RECIPE, cfg, spec, tmp_path / "run", progress=False)
    return {c.id: c for c in claims(G.analyse(load_run(tmp_path / "run")))}


def _frozen_run(params: dict, cfg: Config, steps=tuple(range(0, 1001, 100))) -> Run:
    """A 'run' whose every checkpoint holds the same params, with the in-loop metrics they give."""
    insts = [{"seed": 0, "lr": cfg.lr, "weight_decay": cfg.weight_decay, "frac_train": cfg.frac_train}]
    data = jax.tree_util.tree_map(lambda x: x[0], ma.make_data(cfg, insts))
    m = {k: np.full((len(steps), 1), float(v)) for k, v in ma.metrics(params, data, p=cfg.p).items()}
    stacked = jax.tree_util.tree_map(lambda x: np.broadcast_to(np.asarray(x), (len(steps), 1, *x.shape)), params)
    spec = {"experiment": "grokking", "preset": "test", "config": dataclasses.asdict(cfg), "instances": insts}
    return Run(None, spec, {"step": np.array(steps), **m}, list(steps), stacked, None)


def test_every_claim_fails_on_a_random_init_that_never_trains(tmp_path):
    got = _claims_of_run(tmp_path, "lr=1e-12", "steps=200")
    assert not any(c.holds for c in got.values()), {k: c.shown for k, c in got.items() if c.holds}


def test_every_claim_fails_on_a_model_that_only_memorised(tmp_path):
    got = _claims_of_run(tmp_path, "weight_decay=0", "lr=3e-3", "frac_train=0.5", "steps=600")
    assert not any(c.holds for c in got.values()), {k: c.shown for k, c in got.items() if c.holds}


def test_the_circuit_without_its_dynamics_passes_the_static_claims_only():
    cfg = Config(p=P, frac_train=0.5)
    params = fourier_algorithm_params(P, [3, 7], d_model=cfg.d_model, n_heads=cfg.n_heads)
    params = {k: np.asarray(v, np.float32) for k, v in params.items()}
    cfg = dataclasses.replace(cfg, d_head=params["W_Q"].shape[-1], d_mlp=params["W_in"].shape[-1])
    got = {c.id: c for c in claims(G.analyse(_frozen_run(params, cfg)))}
    assert got["generalises"].holds and got["key_frequencies_explain_logits"].holds
    assert got["embedding_sparse"].holds
    assert not any(got[k].holds for k in DYNAMIC), {k: got[k].shown for k in DYNAMIC if got[k].holds}


def test_claims_that_read_the_test_loss_cannot_be_judged_without_test_pairs(tmp_path):
    got = _claims_of_run(tmp_path, "frac_train=0.5,1", "steps=100")  # one cell has no test pairs
    for cid in NEED_TEST_PAIRS:
        assert not got[cid].judged and not got[cid].holds
        assert got[cid].shown == "cannot be judged: no test pairs in 1 of 2 instances (frac_train=1)"
    assert {c for c, claim in got.items() if claim.judged} == {"embedding_sparse", "key_frequencies_explain_logits"}

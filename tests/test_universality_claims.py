"""Each universality claim holds on models with the mechanism it claims and fails on models
without it. S4, one analysis of eight MLPs of one shape (one compile):

  0  trained, weight decay 1: groks (test accuracy 1) with a few irreps
  1  trained, weight decay 0: memorises (train accuracy 1, test accuracy ~0)
  2  random init
  3  hand-built representation network, sign + standard, coset-structured standard neurons
  4  the same without coset structure (standard neurons read random directions of the span)
  5  the same with mixed neurons (two in three read one irrep on b and another on a)
  6  hand-built with every non-trivial irrep (a correct classifier, but no irrep left out)
  7  = 3 with every pair in training (frac_train=1: no test pairs)

S5 (the paper's group): hand-built "histories" (a checkpoint per stage) for the learning order,
the mainline's sign + standard, every irrep, and random init. The quick preset (S4, 4 seeds,
minutes) is behind the paper marker."""

import types

import jax
import numpy as np
import pytest

from toymodels import engine, reproduce
from toymodels.config import instances
from toymodels.pipeline import engine_inputs
from toymodels.universality import analyses as U
from toymodels.universality import model
from toymodels.universality.config import Config
from toymodels.universality.handbuilt import representation_mlp_params
from toymodels.universality.recipe import SWEEPABLE, claims, task

# Seed 0 of this config groks by step ~500 (test accuracy >= 0.99) and keeps three of S4's four non-trivial irreps
# (sign, (2,2), standard). Not every seed does: of seeds 0-5, seeds 2 and 3 also keep
# standard_sign at the end (similarity ~0.2) and so, rightly, fail the claims that ask for an
# irrep left out; the quick preset (lr 1e-2, wider, 3000 steps) keeps three in all 4 seeds.
S4 = Config(group="S4", frac_train=0.7, lr=2e-2, d_embed=64, d_hidden=128, steps=1500, eval_every=50,
            log_checkpoints=12)
S4_CLAIMS = {"generalises", "key_irreps_explain_embedding", "key_irreps_explain_logits",
             "key_irreps_suffice_and_are_needed", "few_key_irreps", "which_irreps", "coset_neurons"}


class _Checkpoints:
    """An in-memory store: the params of every checkpoint, nothing restored."""

    def __init__(self):
        self.steps, self.params = [], []

    def restore_state(self, like):
        return None

    def save(self, step, state, metrics):
        self.steps.append(step)
        self.params.append(jax.tree_util.tree_map(np.asarray, state["params"]))


def _stack(*trees):
    return jax.tree_util.tree_map(lambda *x: np.stack(x), *trees)


def _constant_history(params: dict, n_ckpt: int) -> dict:
    return jax.tree_util.tree_map(lambda x: np.broadcast_to(np.asarray(x, np.float32), (n_ckpt, *x.shape)), params)


def _handbuilt(g, chosen, cfg, **kw) -> dict:
    return representation_mlp_params(g, chosen, d_hidden=cfg.d_hidden, d_embed=cfg.d_embed, **kw)


def _by_id(results) -> dict:
    return {c.id: c for c in claims(results)}


def _holding(got: dict) -> dict:
    return {k: c.shown for k, c in got.items() if c.holds}


def _failing(got: dict) -> dict:
    return {k: c.shown for k, c in got.items() if not c.holds}


@pytest.fixture(scope="module")
def s4():
    insts = instances(S4, {"weight_decay": [1.0, 0.0]}, SWEEPABLE)
    keys, hp = engine_inputs(insts)
    data = model.make_data(S4, insts)
    store = _Checkpoints()
    _, metrics = engine.train(task(S4), keys, hp, data, S4.schedule(), store, progress=False)
    trained = _stack(*store.params)  # (checkpoint, 2, ...)
    n_ckpt = len(store.steps)
    g = S4.group_obj()
    others = [model.init_params(S4, jax.random.PRNGKey(7)),
              _handbuilt(g, ["sign", "standard"], S4, coset=True),
              _handbuilt(g, ["sign", "standard"], S4),
              _handbuilt(g, ["sign", "standard"], S4, coset=True, mixed=True),
              _handbuilt(g, ["sign", "(2,2)", "standard", "standard_sign"], S4, coset=True),
              _handbuilt(g, ["sign", "standard"], S4, coset=True)]
    params = jax.tree_util.tree_map(lambda t, *o: np.concatenate([t, np.stack(o, axis=1)], axis=1), trained,
                                    *[_constant_history(p, n_ckpt) for p in others])
    is_train = np.concatenate([data["is_train"], np.repeat(data["is_train"][:1], 5, 0),
                               np.ones((1, g.order**2), bool)])
    results = U.analyse_params(S4, params, store.steps, is_train)
    return results, metrics


def test_a_trained_model_that_groks_holds_every_claim(s4):
    results, _ = s4
    got = _by_id(U.select(results, [0]))
    assert set(got) == S4_CLAIMS
    assert not _failing(got), _failing(got)


def test_a_memorised_model_fails_every_claim(s4):
    results, metrics = s4
    assert metrics["train_acc"][-1, 1] == 1.0 and results.final.test_acc[1] < 0.1
    got = _by_id(U.select(results, [1]))
    assert not _holding(got), _holding(got)
    # its neurons read no single irrep: the coset claim fails for want of neurons, not by default
    assert all(e["judged"] and e["n_neurons"] < U.COSET_MIN_NEURONS for e in U.coset_summary(
        U.select(results, [1]))[0].values())


def test_a_random_init_fails_every_claim(s4):
    results, _ = s4
    got = _by_id(U.select(results, [2]))
    assert not _holding(got), _holding(got)


def test_one_seed_without_the_mechanism_fails_the_per_seed_claims(s4):
    results, _ = s4
    got = _by_id(U.select(results, [0, 1]))
    assert not _holding(got), _holding(got)


def test_the_handbuilt_representation_network_holds_every_claim(s4):
    results, _ = s4
    got = _by_id(U.select(results, [3]))
    assert not _failing(got), _failing(got)
    assert U.learned_names(U.select(results, [3])) == [["sign", "standard"]]


def test_standard_neurons_without_coset_structure_fail_the_coset_claim(s4):
    results, _ = s4
    one = U.select(results, [4])
    got = _by_id(one)
    assert not got["coset_neurons"].holds and got["which_irreps"].holds and got["key_irreps_explain_logits"].holds
    entry = U.coset_summary(one)[0]
    assert entry["standard"]["n_neurons"] >= U.COSET_MIN_NEURONS and entry["standard"]["share_explained"] < 0.5
    assert entry["sign"]["passes"]


def test_sign_neurons_that_read_another_irrep_of_a_fail_the_coset_claim(s4):
    """The sign half is not implied by the selection: neurons are chosen by their input from b,
    and most of those reading sign(b) here read the standard irrep of a."""
    results, _ = s4
    one = U.select(results, [5])
    assert not _by_id(one)["coset_neurons"].holds
    sign = U.coset_summary(one)[0]["sign"]
    assert sign["judged"] and sign["n_neurons"] >= U.COSET_MIN_NEURONS and sign["share_explained"] < 0.5


def test_every_irrep_key_fails_the_claims_about_a_few_irreps(s4):
    results, _ = s4
    got = _by_id(U.select(results, [6]))
    assert got["generalises"].holds  # a correct classifier: its failures are about the irreps
    few = {"key_irreps_explain_embedding", "key_irreps_explain_logits", "key_irreps_suffice_and_are_needed",
           "few_key_irreps", "which_irreps"}
    assert not any(got[k].holds for k in few), {k: got[k].shown for k in few if got[k].holds}


def test_without_test_pairs_generalisation_cannot_be_judged(s4):
    results, _ = s4
    one = U.select(results, [7])
    assert one.n_test.tolist() == [0]
    got = _by_id(one)
    assert not got["generalises"].judged and not got["generalises"].holds
    assert got["generalises"].shown == "cannot be judged: no test pairs: frac_train=1"
    assert not _failing({k: c for k, c in got.items() if k != "generalises"})


# ---------------------------------------------------------------------------------------------
# S5: learning order, the paper's counts, the mainline


@pytest.fixture(scope="module")
def s5():
    """S5 'histories' of hand-built networks, a checkpoint per stage: sign learned before standard;
    both learned together after a random init; sign's early crossing lost before both; and a
    random init that never changes."""
    cfg = Config(group="S5", d_embed=17, d_hidden=256)
    g = cfg.group_obj()
    sign, main = _handbuilt(g, ["sign"], cfg), _handbuilt(g, ["sign", "standard"], cfg, coset=True)
    init = jax.tree_util.tree_map(np.asarray, model.init_params(cfg, jax.random.PRNGKey(3)))
    histories = {"sign first": [sign, main, main], "tie": [init, main, main], "crossing lost": [sign, init, main],
                 "random init": [init, init, init]}
    params = _stack(*[_stack(*h) for h in zip(*histories.values())])  # (checkpoint, instance, ...)
    is_train = model.make_data(cfg, [{"seed": 0, "frac_train": cfg.frac_train}] * len(histories))["is_train"]
    results = U.analyse_params(cfg, params, [0, 100, 200], is_train)
    return {name: U.select(results, [i]) for i, name in enumerate(histories)} | {"all": results}


def test_sign_counts_as_first_only_when_learned_first_alone(s5):
    assert U.first_learned(s5["sign first"]) == [("sign",)]
    assert U.learning_order(s5["sign first"]) == [[("sign",), ("standard",)]]
    assert _by_id(s5["sign first"])["sign_first"].holds
    for name in ("tie", "crossing lost"):  # sign learned with standard; its earlier crossing was lost
        assert U.first_learned(s5[name]) == [("sign", "standard")], name
        c = _by_id(s5[name])["sign_first"]
        assert not c.holds and c.shown.endswith("all firsts: {'tie sign+standard': 1}"), name
        assert c.shown.startswith("sign first alone in 0/1 [0.00, 0.79]"), c.shown  # Wilson, beside the paper's
    got = _by_id(U.select(s5["all"], [0, 1, 2]))
    assert not got["sign_first"].holds  # sign alone first in 1 of 3 seeds
    assert got["which_irreps"].holds    # sign and standard learned in all three, (3,1,1) in none


def test_the_s5_mainline_handbuilt_holds_every_claim(s5):
    got = _by_id(s5["sign first"])
    assert {"sign_first", "coset_neurons", "which_irreps"} <= set(got) and not _failing(got), _failing(got)


def test_a_random_init_fails_the_s5_claims(s5):
    assert U.first_learned(s5["random init"]) == [()]
    got = _by_id(s5["random init"])
    assert got["sign_first"].shown.endswith("all firsts: {'none learned': 1}")
    assert not _holding(got), _holding(got)
    # one seed in four that learned nothing: sign is learned in 3/4 < 80% of seeds
    assert not _by_id(s5["all"])["which_irreps"].holds


# ---------------------------------------------------------------------------------------------
# The definitions the claims rest on


def test_learned_means_sustained_and_ties_are_ties():
    sim = np.array([[0.0, 0.1, 0.1, 0.1],    # step 0: irreps 1-3 above 0.05
                    [0.0, 0.1, 0.0, 0.1],    # step 10: irrep 2 falls back
                    [0.0, 0.1, 0.1, 0.1]])   # step 20: irrep 2 back, to the end
    steps = U.learning_steps(sim, np.array([0, 10, 20]), 0.05)
    assert list(np.asarray(steps)) == [np.inf, 0, 20, 0]
    assert list(np.asarray(U.learning_steps(sim[:2], np.array([0, 10]), 0.05))) == [np.inf, 0, np.inf, 0]
    fake = types.SimpleNamespace(irreps=["trivial", "a", "b", "c"], learned_step=np.array([[np.inf, 0, 20, 0]]))
    assert U.learning_order(fake) == [[("a", "c"), ("b",)]]
    assert U.first_learned(fake) == [("a", "c")]  # a tie, not "a" by index


@pytest.mark.parametrize("name", ["S4", "D7", "A5"])
def test_lookup_share_is_what_a_lookup_table_gets(name):
    """Logits δ(a∘b = c) have logit similarity² d_ρ²/(|G|-1) with each non-trivial irrep: the null
    that key_irreps_explain_logits and which_irreps compare with."""
    T = U.tables(name)
    logits = (T.labels[:, None] == np.arange(T.order)[None, :]).astype(np.float32)
    sim2 = np.asarray(U.logit_similarity(logits, T)) ** 2
    fake = types.SimpleNamespace(dims=T.dims)
    for r in range(1, len(T.names)):
        mask = np.arange(len(T.names)) == r
        assert abs(sim2[r] - U.lookup_share(fake, mask)) < 1e-5, T.names[r]
    assert U.lookup_share(fake, np.ones(len(T.names), bool)) == pytest.approx(1.0)
    assert U.excess_over_lookup(0.99, 1.0) == 0.0


@pytest.mark.paper
def test_quick_preset_holds_every_claim(tmp_path):
    report = reproduce("universality", "quick", out=tmp_path / "run", progress=False)
    failed = {c["id"]: c["measured"] for c in report["claims"] if not c["holds"]}
    assert not failed, failed

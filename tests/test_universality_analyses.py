"""Universality analyses on a hand-built MLP implementing the representation algorithm for chosen
irreps: every analysis must name exactly those irreps."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toymodels.algebra.groups import group
from toymodels.universality import analyses as U
from toymodels.universality.handbuilt import representation_mlp_params

CASES = [("S4", ["sign", "standard"]), ("D7", ["k=2"]), ("A4", ["(2,2)", "standard"]), ("C3xS3", ["k=1⊗standard"])]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def built(request):
    name, chosen = request.param
    g = group(name)
    T = U.tables(g)
    params = jax.tree_util.tree_map(jnp.asarray, representation_mlp_params(g, chosen, d_hidden=512))
    mask = np.isin(np.array(T.names), chosen)
    return g, T, params, mask


def test_logits_name_exactly_the_chosen_irreps(built):
    _, T, params, mask = built
    logits = U.all_logits(params)
    assert float(U.accuracy(logits, T)) == 1.0
    sim = np.asarray(U.logit_similarity(logits, T))
    assert (np.abs(sim) <= 1 + 1e-5).all()
    assert (np.asarray(U.key_irreps(jnp.asarray(sim), 0.005)) == mask).all()
    assert np.abs(sim[~mask]).max() < 1e-3 and sim[mask].min() > 0.1
    assert float(U.logit_fve(jnp.asarray(sim), mask)) > 0.9


def test_embeddings_and_neurons_lie_in_the_chosen_irreps(built):
    g, T, params, mask = built
    fves = U.embedding_fves(params, T)
    for part, v in fves.items():
        v = np.asarray(v)
        assert abs(v.sum() - 1) < 1e-4, part  # spans complete
        assert v[mask].sum() > 0.999, part
    cluster, share = U.neuron_clusters(params, T)
    assert set(np.asarray(cluster).tolist()) == set(np.nonzero(mask)[0].tolist())
    assert float(share.min()) > 0.999
    pre = params["E_left"][np.repeat(np.arange(g.order), g.order)] @ params["W_left"]
    h = np.asarray(U.hidden_fve(pre, T))  # pre-activations: only the chosen irreps' ρ(a)
    assert h[mask, 0].sum() > 0.999 and h[:, 1:].sum() < 1e-4


def test_restricted_and_excluded_losses(built):
    g, T, params, mask = built
    logits = U.all_logits(params)
    everything = jnp.ones(g.order**2, bool)
    assert float(U.restricted_loss(logits, mask, T)) < 0.01
    assert float(U.excluded_loss(logits, mask, everything, T)) > 0.5 * np.log(g.order)
    per = np.asarray(U.excluded_loss_per_irrep(logits, everything, T))
    base = float(U.mean_loss(logits, T))
    # removing an unused irrep barely matters (the ReLU features leave small mixed ρ'(ab)ρ(c) terms)
    assert np.allclose(per[~mask], base, rtol=0.1, atol=0.01)
    kept = np.asarray(U.restricted_loss_per_irrep(logits, T))
    assert (kept[~mask] > 0.9 * np.log(g.order)).all()  # keeping only an unused irrep is chance


def test_vmaps_over_instances():
    g = group("D7")
    T = U.tables(g)
    ps = [representation_mlp_params(g, c, d_hidden=64, seed=i) for i, c in enumerate([["k=1"], ["k=3"]])]
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *ps)
    sim = jax.vmap(lambda p: U.logit_similarity(U.all_logits(p), T))(stacked)
    assert np.asarray(U.key_irreps(sim[0], 0.005)).nonzero()[0].tolist() == [T.names.index("k=1")]
    assert np.asarray(U.key_irreps(sim[1], 0.005)).nonzero()[0].tolist() == [T.names.index("k=3")]


def test_learning_steps():
    sim = jnp.array([[0, 0.0, 0.01], [0, 0.1, 0.02], [0, 0.2, 0.06]])
    steps = jnp.array([10, 100, 1000])
    out = np.asarray(U.learning_steps(sim, steps, 0.05))
    assert np.isinf(out[0]) and out[1] == 100 and out[2] == 1000


def test_coset_view_on_hand_placed_neurons():
    """A neuron reading a(0) (a permutation-matrix column) is constant on left cosets of Stab(0);
    a neuron reading sign(a) on the cosets of A_n."""
    g = group("S4")
    T = U.tables(g)
    x = np.stack([(g.perms[:, 0] == 2).astype(float), np.where(np.isin(np.arange(24), np.nonzero(
        T.partitions[T.partition_names.index("left cosets of ker(sign)")][0] > 0)[0]), 1.0, -1.0)], 1)
    params = {"E_left": jnp.asarray(x, jnp.float32), "E_right": jnp.zeros((24, 2)), "W_left": jnp.eye(2),
              "W_right": jnp.eye(2), "W_U": jnp.zeros((2, 24))}
    out = U.neuron_cosets(params, T)
    names = [T.partition_names[i] for i in np.asarray(out["best"])]
    assert names == ["left cosets of Stab(0)", "left cosets of ker(sign)"]
    assert np.allclose(np.asarray(out["fve"]), 1.0, atol=1e-5)


def test_coset_neurons_are_selected_by_their_input_from_b():
    """selection_shares reads each neuron's right input (from b): in the hand-built network with
    mixed neurons a neuron reading sign(b) and the standard irrep of a is a sign neuron there,
    while its left input (what the coset view tests) lies in the standard irrep."""
    g = group("S4")
    T = U.tables(g)
    params = jax.tree_util.tree_map(jnp.asarray, representation_mlp_params(g, ["sign", "standard"], d_hidden=64,
                                                                            mixed=True))
    sel = np.asarray(U.selection_shares(params, T))
    sign, standard = T.names.index("sign"), T.names.index("standard")
    right_sign = sel[:, sign] > 0.999
    assert right_sign.sum() >= 4 and np.allclose(sel.sum(1), 1, atol=1e-5)
    left = U.embeddings(params)["left"][:, right_sign]
    per_neuron = np.stack([np.asarray(U.embedding_fve(left[:, [j]], T)) for j in range(left.shape[1])])
    assert (per_neuron[:, standard] > 0.999).mean() > 0.5  # most of them read the standard irrep of a
    assert (per_neuron[:, sign] > 0.999).any()              # the rest read sign on both sides
    fam_name, fam = U.coset_family(types.SimpleNamespace(partition_names=list(T.partition_names)), "sign")
    assert fam_name == "cosets of ker(sign)" and fam.sum() == 1

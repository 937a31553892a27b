"""The engine: per-instance hyperparameters, sharding, resume after kill -9."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from toymodels import engine
from toymodels.pipeline import engine_inputs, resolve, train_run, training_data
from toymodels.store import RunStore, load_run

TINY = ("p=11", "d_model=16", "n_heads=2", "d_head=8", "d_mlp=32", "frac_train=0.5",
        "steps=60", "eval_every=10", "checkpoint_every=20")


def _train(sets, devices=None, n_seeds=1):
    exp, cfg, spec = resolve("grokking", "quick", n_seeds, TINY + tuple(sets))
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    state, metrics = engine.train(exp.task(cfg), keys, hp, exp.make_data(cfg, insts), cfg.schedule(),
                                  progress=False, devices=devices)
    return insts, state, metrics


def _close(a, b, rtol=1e-5, atol=1e-6):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol), a, b)


def test_each_instance_equals_a_single_run_of_its_own_config():
    sweep = ("lr=1e-3,3e-3", "weight_decay=0.1,1.0", "frac_train=0.4,0.7")
    insts, state, metrics = _train(sweep, n_seeds=2)
    assert len(insts) == 16
    finals = [jax.tree_util.tree_map(lambda x: x[i], state["params"]) for i in range(len(insts))]
    # the hyperparameters really differ: no two instances end with the same weights
    assert len({float(np.asarray(f["W_U"]).sum()) for f in finals}) == len(insts)
    for i in (0, 5, 10, 15):
        inst = insts[i]
        single = tuple(f"{k}={v}" for k, v in inst.items())
        _, s1, m1 = _train(single)
        # float32 tolerance: batching 16 instances vectorises differently from 1, so the same
        # arithmetic rounds differently in the last bits and 60 Adam steps amplify it a little
        _close(finals[i], jax.tree_util.tree_map(lambda x: x[0], s1["params"]), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(metrics["test_loss"][:, i], m1["test_loss"][:, 0], rtol=1e-4, atol=1e-6)


def test_sharded_over_four_devices_equals_unsharded():
    assert len(jax.devices()) == 4
    _, sharded, m_sh = _train((), n_seeds=4)
    assert len(sharded["params"]["W_E"].sharding.device_set) == 4
    _, single, m_1 = _train((), n_seeds=4, devices=jax.devices()[:1])
    assert len(single["params"]["W_E"].sharding.device_set) == 1
    _close(sharded["params"], single["params"])
    np.testing.assert_allclose(m_sh["train_loss"], m_1["train_loss"], rtol=1e-5)


def test_schedule_checkpoints_fall_on_chunk_boundaries():
    s = engine.Schedule.make(1000, 30, checkpoint_every=100, log_checkpoints=10)
    assert all(c % 30 == 0 or c == 1000 for c in s.checkpoint_steps)
    assert 1000 in s.checkpoint_steps and max(s.checkpoint_steps) == 1000


CHILD = """
import sys
import jax
jax.config.update("jax_num_cpu_devices", 4)  # the same devices as this test process, so the same numerics
from toymodels.pipeline import resolve, train_run
exp, cfg, spec = resolve("grokking", "quick", 2, tuple(sys.argv[2:]))
train_run(exp, cfg, spec, sys.argv[1], progress=False)
"""


def test_kill_9_then_rerun_resumes_to_identical_params(tmp_path):
    sets = TINY[:-3] + ("steps=3000", "eval_every=10", "checkpoint_every=50")
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(killed), *sets], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any((killed / "resume").glob("[1-9]*")):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = RunStore(killed)
    on_disk = store.checkpoint_steps()
    assert 0 < max(on_disk) < 3000, "the kill should land mid-run"
    exp, cfg, spec = resolve("grokking", "quick", 2, sets)
    train_run(exp, cfg, spec, killed, progress=False)
    train_run(exp, cfg, spec, tmp_path / "straight", progress=False)
    resumed, straight = load_run(killed), load_run(tmp_path / "straight")
    assert resumed.steps == straight.steps
    _close(resumed.final_params(), straight.final_params(), rtol=0, atol=0)
    np.testing.assert_array_equal(resumed.metrics["step"], straight.metrics["step"])
    np.testing.assert_array_equal(resumed.metrics["test_loss"], straight.metrics["test_loss"])


# A stochastic task whose answer is known: w converges to the mean (3) of fresh N(3, 1) batches.
NOISY_MEAN = engine.Task(
    init_params=lambda key: {"w": jax.random.normal(key)},
    loss=lambda params, data, key: ((params["w"] - (3.0 + jax.random.normal(key, (64,)))) ** 2).mean(),
    metrics=lambda params, data, key: {"w": params["w"], "draw": jax.random.normal(key)},
    optimizer=lambda hp: __import__("optax").sgd(0.05),
    stochastic=True,
)


def test_stochastic_task_draws_fresh_batches_and_resumes_to_the_same_stream(tmp_path):
    keys = jax.vmap(jax.random.PRNGKey)(np.arange(4))
    data = {"unused": np.zeros(4, np.float32)}
    sched = engine.Schedule.make(200, 10, checkpoint_every=50)
    state, metrics = engine.train(NOISY_MEAN, keys, {}, data, sched, progress=False)
    np.testing.assert_allclose(np.asarray(state["params"]["w"]), 3.0, atol=0.1)
    assert len(np.unique(metrics["draw"])) == metrics["draw"].size  # fresh per eval and per instance

    class Interrupting(RunStore):  # stop training right after the checkpoint at step 100
        def save(self, step, state, metrics):
            super().save(step, state, metrics)
            if step == 100:
                raise KeyboardInterrupt

    spec = {"experiment": "noisy_mean", "config": {}}
    with pytest.raises(KeyboardInterrupt):
        engine.train(NOISY_MEAN, keys, {}, data, sched, Interrupting.open(tmp_path / "run", spec), progress=False)
    resumed, resumed_metrics = engine.train(NOISY_MEAN, keys, {}, data, sched, RunStore.open(tmp_path / "run", spec),
                                            progress=False)
    np.testing.assert_array_equal(np.asarray(resumed["params"]["w"]), np.asarray(state["params"]["w"]))
    np.testing.assert_array_equal(resumed_metrics["draw"], metrics["draw"])


def test_divergence_is_detected_per_instance_inside_the_loop():
    insts, state, metrics = _train(["lr=1e-3,100"])
    diverged = metrics["diverged"]  # (T, N): step 0 is the init
    assert [i["lr"] for i in insts] == [1e-3, 100]
    assert not diverged[:, 0].any() and not diverged[0, 1] and diverged[-1, 1]
    assert not np.isfinite(np.asarray(state["params"]["W_E"][1])).all()
    summary = engine._summary({k: v[-1] for k, v in metrics.items()}, 2)
    assert summary.endswith("diverged 1/2") and summary.startswith("median of 1: train_loss=")


def _chunk_inputs(n_seeds, devices=None):
    exp, cfg, spec = resolve("grokking", "quick", n_seeds, TINY)
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    sharding = engine.instance_sharding(len(insts), devices)
    keys, hp, data = jax.device_put((keys, hp, exp.make_data(cfg, insts)), sharding)
    return exp.task(cfg), engine.init_state(exp.task(cfg), keys, hp), hp, data


@pytest.mark.parametrize(("block", "devices"), [(1, 1), (4, 4)])
def test_instances_in_blocks_equal_all_vmapped(block, devices):
    """Looping over blocks of instances (the CPU's choice for large instances) trains exactly
    what vmapping all of them does, also with the instance axis sharded over 4 devices."""
    task, state, hp, data = _chunk_inputs(8, jax.devices()[:devices])
    copy = jax.tree_util.tree_map(lambda x: x.copy(), state)
    whole, m_whole = engine.make_chunk(task, 5)(copy, hp, data)
    blocked, m_blocked = engine.make_chunk(task, 5, block)(state, hp, data)
    _close(whole, blocked, rtol=1e-5, atol=1e-6)
    _close(m_whole, m_blocked, rtol=1e-5, atol=1e-6)
    if devices == 4:
        assert len(blocked["params"]["W_E"].sharding.device_set) == 4


def test_block_choice_follows_the_size_of_each_operation(monkeypatch):
    task, state, hp, data = _chunk_inputs(8)
    assert engine.choose_block(task, state, hp, data, platform="gpu") is None  # accelerators vmap everything
    assert engine.choose_block(task, state, hp, data) is None  # p=11, d_mlp=32: small operations, all vmapped
    monkeypatch.setattr(engine, "CPU_FLOPS_PER_OP", 1.0)  # as if every operation were large
    assert engine.choose_block(task, state, hp, data) == 1  # one instance at a time
    assert engine.choose_block(task, state, hp, data, shards=4) == 4  # one per device at a time
    monkeypatch.setattr(engine, "CPU_FLOPS_PER_OP", 3 * engine.flops_per_op(task, state, hp, data))
    assert engine.choose_block(task, state, hp, data) == 4  # 3 instances reach it; 4 is the divisor of 8


def test_blocks_must_divide_the_instances():
    task, state, hp, data = _chunk_inputs(4)
    with pytest.raises(ValueError, match="must divide"):
        engine.make_chunk(task, 1, 3)(state, hp, data)


def test_a_train_fraction_sweep_in_groups_equals_one_padded_program():
    """Grouped by train fraction, each group padded only to its own train set, the sweep trains
    exactly what one program padded to the largest train set does (params and metrics), with
    the instances sharded over the 4 devices (3 groups of 2: each its own sharding)."""
    exp, cfg, spec = resolve("grokking", "quick", 2, TINY + ("frac_train=0.3,0.5,0.8",))
    insts = spec["instances"]
    keys, hp = engine_inputs(insts)
    grouped = training_data(exp, cfg, insts)
    assert isinstance(grouped, engine.Grouped) and len(grouped.indices) == 3
    sizes = [d["train_weight"].shape[1] for d in grouped.data]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] == exp.make_data(cfg, insts)["train_weight"].shape[1]
    run = lambda data: engine.train(exp.task(cfg), keys, hp, data, cfg.schedule(), progress=False)
    s_grouped, m_grouped = run(grouped)
    s_padded, m_padded = run(exp.make_data(cfg, insts))
    _close(s_grouped["params"], s_padded["params"], rtol=1e-4, atol=1e-5)
    for k in m_padded:
        np.testing.assert_allclose(m_grouped[k], m_padded[k], rtol=1e-4, atol=1e-5, err_msg=k)


def _quadratic_task(**kw):
    """Per instance: minimise sum(a * (x - c)^2) over x in R^3, with a and c in the data."""
    return engine.Task(
        init_params=lambda key: {"x": jax.random.normal(key, (3,))},
        loss=lambda p, d, *key: jnp.sum(d["a"] * (p["x"] - d["c"]) ** 2),
        metrics=lambda p, d, *key: {"loss": jnp.sum(d["a"] * (p["x"] - d["c"]) ** 2)},
        optimizer=lambda hp: optax.lbfgs(), **kw)


def test_a_line_search_task_gets_its_loss_and_reaches_each_instances_minimum():
    """optax.lbfgs needs value=, grad= and value_fn= at every update: without them it cannot run,
    with them each of 4 vmapped instances lands on its own minimum."""
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    rng = np.random.default_rng(0)
    data = {"a": rng.uniform(0.5, 5.0, (4, 3)).astype(np.float32), "c": rng.normal(size=(4, 3)).astype(np.float32)}
    schedule = engine.Schedule.make(20, 10, 0, 0)
    state, metrics = engine.train(_quadratic_task(line_search=True), keys, {}, data, schedule, progress=False)
    np.testing.assert_allclose(np.asarray(state["params"]["x"]), data["c"], atol=1e-4)
    assert np.all(metrics["loss"][-1] < 1e-7)
    with pytest.raises(Exception):  # the same optimizer, not given its loss
        engine.train(_quadratic_task(), keys, {}, data, schedule, progress=False)
    with pytest.raises(ValueError, match="line search"):
        _quadratic_task(line_search=True, stochastic=True)

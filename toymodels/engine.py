"""One engine for every toy model: N instances (seeds x hyperparameters) train as one compiled
program, vmapped over instances, `lax.scan` over steps, the instance axis sharded over every
device. The engine knows nothing of any task beyond the four functions of `Task`, and nothing
of files beyond the `Store` it is handed.

On a CPU, instances whose operations are large train in blocks, one block after another
(`choose_block`, `in_blocks`); data whose size differs between instances (a train-fraction
sweep) trains as one program per size (`Grouped`).

Under several processes (after `jax.distributed.initialize()`, e.g. one per GPU node or TPU
host) the same code is JAX's multi-controller program: every process runs `train` with the
same inputs, `jax.devices()` is every process's devices, and the instance axis is sharded over
all of them. Per-instance inputs are identical on every process, so `jax.device_put` makes the
global arrays from them; metrics come back to every process whole (`process_allgather`)."""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Any, Callable, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

Params = Any
Data = Any


@dataclasses.dataclass(frozen=True)
class Task:
    """What the engine needs to know of a toy model, for ONE instance; the engine vmaps.

    init_params(key) -> params
    loss(params, data) -> scalar            differentiated w.r.t. params
    metrics(params, data) -> {name: scalar} evaluated in the compiled loop every eval_every steps
    optimizer(hp) -> optax transform        hp: the instance's hyperparameters (traced scalars)

    A stochastic task (fresh batches every step) takes a PRNG key last: loss(params, data, key)
    and metrics(params, data, key). The engine keeps each instance's key in the train state, so
    a resumed run draws exactly the batches an uninterrupted one would.

    line_search: the optimizer's update also gets value=, grad= and value_fn= (the instance's loss
    as a function of params), as optax.lbfgs needs, and the value and gradient come from the
    line search's state where it stored them; full-batch (not stochastic) tasks only.
    """

    init_params: Callable[[jax.Array], Params]
    loss: Callable[..., jax.Array]
    metrics: Callable[..., dict[str, jax.Array]]
    optimizer: Callable[[dict], optax.GradientTransformation]
    stochastic: bool = False
    line_search: bool = False

    def __post_init__(self):
        if self.line_search and self.stochastic:
            raise ValueError("a line search needs the same loss at every evaluation: not with fresh batches")


class Store(Protocol):
    """Where the engine puts what it produces (see toymodels.store.RunStore)."""

    def restore_state(self, like: Any) -> tuple[int, Any, dict[str, np.ndarray]] | None: ...
    def save(self, step: int, state: Any, metrics: dict[str, np.ndarray]) -> None: ...


@dataclasses.dataclass(frozen=True)
class Schedule:
    steps: int
    eval_every: int
    checkpoint_steps: frozenset[int]

    @staticmethod
    def make(steps: int, eval_every: int, checkpoint_every: int | None = None, log_checkpoints: int = 0) -> "Schedule":
        """Checkpoints every `checkpoint_every` steps and/or at `log_checkpoints` log-spaced steps,
        always at the last step; all rounded up to multiples of eval_every (chunk boundaries)."""
        ckpts = {steps}
        if checkpoint_every:
            ckpts |= set(range(0, steps + 1, checkpoint_every))
        if log_checkpoints:
            ckpts |= {int(s) for s in np.geomspace(1, steps, log_checkpoints)}
        ckpts = {min(steps, math.ceil(s / eval_every) * eval_every) for s in ckpts}
        return Schedule(steps, eval_every, frozenset(ckpts))


def instance_sharding(n_instances: int, devices: list | None = None) -> NamedSharding:
    """Shard the leading (instance) axis over the largest number of devices that divides it."""
    grid = mesh_devices(n_instances, list(devices if devices is not None else jax.devices()))
    mesh = Mesh(grid[0], ("instances",)) if len(grid) == 1 else Mesh(grid, ("copies", "instances"))
    return NamedSharding(mesh, PartitionSpec("instances"))


def mesh_devices(n_instances: int, devices: list) -> np.ndarray:
    """The devices of the instance mesh, (copies, shards): the instances split into the most
    shards (a divisor of n_instances) the devices allow. Under several processes every process
    must hold a shard (one left out could not read the metrics back), so devices are taken in
    turn from each process, and instances too few to reach every process (1 instance, 2
    processes) are computed in copies, one per row. With one process there is one row."""
    n_proc = len({d.process_index for d in devices})

    def size(k):  # devices used with k shards: enough rows of k to reach every process
        return -(-n_proc // k) * k

    k = max(d for d in range(1, len(devices) + 1) if n_instances % d == 0 and size(d) <= len(devices))
    seen: dict[int, int] = {}
    turn = []  # each device's place among its own process's devices
    for d in devices:
        turn.append(seen.get(d.process_index, 0))
        seen[d.process_index] = turn[-1] + 1
    in_turn = [devices[i] for i in sorted(range(len(devices)), key=lambda i: (turn[i], i))]
    return np.array(in_turn[:size(k)]).reshape(-1, k)


def init_state(task: Task, keys: jax.Array, hp: dict) -> dict:
    """Per-instance params and optimizer state, vmapped: {"params", "opt_state"}."""

    def one(key, hp_i):
        params = task.init_params(key)
        state = {"params": params, "opt_state": task.optimizer(hp_i).init(params)}
        if task.stochastic:
            state["key"] = jax.random.fold_in(key, 0x5EED)  # the batch stream, apart from the init draws
        return state

    return jax.jit(jax.vmap(one))(keys, hp)


def _step(task: Task, hp_i, data_i) -> Callable:
    """One optimiser step of one instance: state -> state."""
    tx = task.optimizer(hp_i)

    def step(s):
        if task.stochastic:
            key, batch_key = jax.random.split(s["key"])
            grads = jax.grad(task.loss)(s["params"], data_i, batch_key)
            extra = {}
        elif task.line_search:
            value_fn = lambda p: task.loss(p, data_i)  # noqa: E731
            # the line search already took the gradient at the point it accepted: reuse it
            value, grads = optax.value_and_grad_from_state(value_fn)(s["params"], state=s["opt_state"])
            extra = {"value": value, "grad": grads, "value_fn": value_fn}
        else:
            grads = jax.grad(task.loss)(s["params"], data_i)
            extra = {}
        updates, opt_state = tx.update(grads, s["opt_state"], s["params"], **extra)
        new = {"params": optax.apply_updates(s["params"], updates), "opt_state": opt_state}
        if task.stochastic:
            new["key"] = key
        return new

    return step


def make_chunk(task: Task, n_steps: int, block: int | None = None) -> Callable:
    """A compiled function (state, hp, data) -> (state, metrics) that trains every instance
    n_steps and then evaluates its metrics. block: vmap that many instances at a time and loop
    over the blocks (`in_blocks`); None vmaps all of them at once."""

    def one(state, hp_i, data_i):
        step = _step(task, hp_i, data_i)
        state, _ = jax.lax.scan(lambda s, _: (step(s), None), state, None, length=n_steps)
        return state, _metrics(task, state, data_i)

    return jax.jit(in_blocks(jax.vmap(one), block), donate_argnums=0)


def in_blocks(fn: Callable, block: int | None) -> Callable:
    """fn over N instances (the leading axis of every argument and result) as N/block calls of
    block instances each, one after another. Instance i of block j is instance i * N/block + j,
    so a leading axis sharded in contiguous chunks over k devices (k dividing block) stays
    sharded: every call keeps each device busy with its own block / k instances."""
    if block is None:
        return fn

    def blocked(*args):
        n = jax.tree_util.tree_leaves(args)[0].shape[0]
        if block >= n:
            return fn(*args)
        if n % block:
            raise ValueError(f"block={block} must divide the {n} instances")
        split = lambda x: jnp.swapaxes(x.reshape(block, n // block, *x.shape[1:]), 0, 1)
        join = lambda x: jnp.swapaxes(x, 0, 1).reshape(n, *x.shape[2:])
        out = jax.lax.map(lambda a: fn(*a), jax.tree_util.tree_map(split, args))
        return jax.tree_util.tree_map(join, out)

    return blocked


# On a CPU, vmapping instances whose every operation is already large (a batch of thousands of
# examples through 128-512 wide layers) makes each operation N times larger, its operands fall
# out of cache, and per-instance time rises (1.25-1.8x at 64 grokking seeds); such instances
# train faster one after another. Small operations (SAEs, memorisation tables, the many small
# superposition stacks) gain from vmapping. The threshold sits between the two kinds measured
# on a 2-core CPU (by `flops_per_op`): superposition at 0.24-0.48 MFLOP per operation gained from
# vmapping; the S5 MLP (1.5) and grokking at p=113 (4.2) lost.
CPU_FLOPS_PER_OP = 1e6


def choose_block(task: Task, state: dict, hp: dict, data, shards: int = 1, platform: str = "cpu") -> int | None:
    """How many instances to vmap at once (None: all). Off the CPU, all: an accelerator wants
    the largest operations. On the CPU, the fewest instances (a divisor of N and a multiple of
    the shards) whose step's operations reach CPU_FLOPS_PER_OP on average."""
    n = jax.tree_util.tree_leaves(state)[0].shape[0]
    if platform != "cpu":
        return None
    want = max(shards, math.ceil(CPU_FLOPS_PER_OP / max(flops_per_op(task, state, hp, data), 1.0)))
    fits = [b for b in range(want, n + 1) if n % b == 0 and b % shards == 0]
    return None if not fits or fits[0] >= n else fits[0]


def flops_per_op(task: Task, state: dict, hp: dict, data) -> float:
    """FLOPs per operation of one instance's training step, from XLA's cost analysis of the
    lowered (not compiled: milliseconds) step and its count of operations."""
    one = lambda tree: jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), tree)
    lowered = jax.jit(lambda s, h, d: _step(task, h, d)(s)).lower(one(state), one(hp), one(data))
    ops = sum(" = " in line for line in lowered.as_text().splitlines())
    return (lowered.cost_analysis() or {}).get("flops", 0.0) / max(ops, 1)


def _metrics(task: Task, state: dict, data_i) -> dict:
    """The task's metrics, plus `diverged`: whether any parameter is no longer finite (a NaN or
    inf loss makes NaN gradients, and so NaN parameters, at the next update)."""
    if task.stochastic:  # an evaluation batch of its own, so evaluating never shifts the training stream
        metrics = task.metrics(state["params"], data_i, jax.random.fold_in(state["key"], 0xE7A1))
    else:
        metrics = task.metrics(state["params"], data_i)
    finite = [jnp.isfinite(x).all() for x in jax.tree_util.tree_leaves(state["params"])]
    return {**metrics, "diverged": ~jnp.stack(finite).all()}


def evaluate(task: Task, state: dict, data, block: int | None = None) -> dict:
    return jax.jit(in_blocks(jax.vmap(functools.partial(_metrics, task)), block))(state, data)


@dataclasses.dataclass(frozen=True)
class Grouped:
    """Per-instance data in groups whose shapes differ, e.g. train sets each padded only to its
    own cell's size: data[g] holds the instances indices[g]. Each group trains as a program of
    its own, so a sweep costs the sum of its groups rather than every instance padded to the
    largest. The groups partition the instances."""

    indices: tuple[np.ndarray, ...]
    data: tuple[Any, ...]


@dataclasses.dataclass
class _Part:
    """One group as it trains: its instances, their placement, inputs and compiled chunks."""

    idx: np.ndarray | None  # None: every instance, in order (no gathering)
    sharding: NamedSharding
    hp: dict
    data: Any
    block: int | None
    chunks: dict = dataclasses.field(default_factory=dict)


def train(
    task: Task,
    keys: jax.Array,
    hp: dict,
    data: Data | Grouped,
    schedule: Schedule,
    store: Store | None = None,
    progress: bool = True,
    devices: list | None = None,
    timings: dict | None = None,
    block: int | None | str = "auto",
) -> tuple[dict, dict[str, np.ndarray]]:
    """Train len(keys) instances. Returns the final state and the metrics history
    {"step": (T,), name: (T, N)}. With a store, resumes from its last saved state and saves
    at every checkpoint step; the result is the same as an uninterrupted run's. `timings`, if
    given, receives compile_s: the seconds spent compiling. block: instances vmapped at once
    (`make_chunk`); "auto" asks `choose_block` (per group, for Grouped data).

    Under several processes every process calls this with the same arguments; each gets the
    whole metrics history, and the final state as global arrays (each process holding its
    shards). Only process 0 shows progress."""
    n = keys.shape[0]
    sharding = instance_sharding(n, devices)
    state = init_state(task, *jax.device_put((keys, hp), sharding))
    history: dict[str, list] = {}
    start = 0
    restored = store.restore_state(state) if store is not None else None
    if restored is not None:
        start, state, past = restored
        history = {k: list(v) for k, v in past.items()}
    state = jax.device_put(state, sharding)
    parts = _parts(task, state, hp, data, sharding, devices, block)
    if start == 0 and not history:
        _append(history, 0, _gathered(n, [(part.idx, _to_host(evaluate(task, _take(state, part), part.data, part.block)))
                                           for part in parts]))
        if store is not None and 0 in schedule.checkpoint_steps:
            store.save(0, state, _stack(history))
    elif store is not None and start in schedule.checkpoint_steps:
        store.save(start, state, _stack(history))  # recreates its params checkpoint if it was lost

    bar = _progress_bar(schedule.steps, start, n, enabled=progress and jax.process_index() == 0)
    step = start
    while step < schedule.steps:
        length = min(schedule.eval_every, schedule.steps - step)
        results = []
        for part in parts:
            sub = _take(state, part)
            if length not in part.chunks:
                bar.set_description_str("compiling", refresh=True)
                t0 = time.perf_counter()
                part.chunks[length] = make_chunk(task, length, part.block).lower(sub, part.hp, part.data).compile()
                if timings is not None:
                    timings["compile_s"] = timings.get("compile_s", 0.0) + time.perf_counter() - t0
                bar.set_description_str(_training(n), refresh=True)
                bar.unpause()  # the rate and ETA count training only
            sub, m = part.chunks[length](sub, part.hp, part.data)
            state = _put(state, part, sub, sharding)
            results.append((part.idx, _to_host(m)))
        m = _gathered(n, results)
        step += length
        _append(history, step, m)
        bar.update(length)
        bar.set_postfix_str(_summary(m, n), refresh=False)
        if store is not None and step in schedule.checkpoint_steps:
            store.save(step, state, _stack(history))
    bar.close()
    return state, _stack(history)


def _parts(task: Task, state: dict, hp: dict, data, sharding: NamedSharding, devices, block) -> list[_Part]:
    groups = data.indices if isinstance(data, Grouped) else (None,)
    datas = data.data if isinstance(data, Grouped) else (data,)
    parts = []
    for idx, d in zip(groups, datas):
        sh = sharding if idx is None else instance_sharding(len(idx), devices)
        h = hp if idx is None else jax.tree_util.tree_map(lambda x: np.asarray(x)[idx], hp)
        part = _Part(idx, sh, *jax.device_put((h, d), sh), None)
        part.block = block if block != "auto" else choose_block(
            task, _take(state, part), part.hp, part.data, sh.mesh.shape["instances"], sh.mesh.devices.flat[0].platform)
        parts.append(part)
    return parts


def _take(state: dict, part: _Part) -> dict:
    if part.idx is None:
        return state
    return jax.device_put(_gather(state, part.idx), part.sharding)


def _put(state: dict, part: _Part, sub: dict, sharding: NamedSharding) -> dict:
    if part.idx is None:
        return sub
    whole = NamedSharding(sharding.mesh, PartitionSpec())  # the group's rows, onto the state's devices
    return jax.device_put(_scatter(state, part.idx, jax.device_put(sub, whole)), sharding)


# One compiled call per group and chunk, not one eager operation per leaf.
_gather = jax.jit(lambda state, idx: jax.tree_util.tree_map(lambda x: x[idx], state))
_scatter = jax.jit(lambda state, idx, sub: jax.tree_util.tree_map(lambda x, s: x.at[idx].set(s), state, sub),
                   donate_argnums=0)


def _gathered(n: int, results: list[tuple[np.ndarray | None, dict]]) -> dict[str, np.ndarray]:
    """Per-group metrics {name: (len(group),)} as {name: (n,)} in instance order."""
    if len(results) == 1 and results[0][0] is None:
        return results[0][1]
    out = {k: np.empty((n, *v.shape[1:]), v.dtype) for k, v in results[0][1].items()}
    for idx, m in results:
        for k, v in m.items():
            out[k][idx] = v
    return out


def _to_host(metrics: dict) -> dict[str, np.ndarray]:
    """Every instance's metrics as numpy, on every process (gathered from the processes
    holding them when there are several)."""
    return multihost_utils.process_allgather(metrics, tiled=True)


def _append(history: dict, step: int, metrics: dict) -> None:
    history.setdefault("step", []).append(step)
    for k, v in metrics.items():
        history.setdefault(k, []).append(np.asarray(v))


def _stack(history: dict) -> dict[str, np.ndarray]:
    return {k: np.stack([np.asarray(x) for x in v]) for k, v in history.items()}


def _summary(m: dict, n: int) -> str:
    """Medians over the instances still finite, and how many diverged."""
    ok = ~np.asarray(m["diverged"])
    shown = [k for k in ("train_loss", "test_loss", "test_acc") if k in m]
    values = " ".join(f"{k}={float(np.median(np.asarray(m[k])[ok])):.3g}" for k in shown) if ok.any() else ""
    text = values if n == 1 else f"median of {int(ok.sum())}: {values}" if values else ""
    return f"{text}{'; ' * bool(text)}diverged {n - int(ok.sum())}/{n}" if not ok.all() else text


def _training(n: int) -> str:
    return f"training {n} instance{'s' * (n != 1)}"


def _progress_bar(total: int, start: int, n: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, disable=not enabled, unit="step", dynamic_ncols=True,
                desc=_training(n), mininterval=0.5)

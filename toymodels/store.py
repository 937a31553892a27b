"""The run directory: everything a run writes, and `load_run` to read it back in one line.

    <run>/config.json        experiment, preset, resolved config, instances (written first)
    <run>/metrics.npz        {"step": (T,), name: (T, N)} in-loop metrics up to the last save
    <run>/checkpoints/<step> params of every instance at each checkpoint step (orbax)
    <run>/resume/<step>      full train state (params + optimizer) at the last save (orbax)
    <run>/report.json        claims and figures; written last, so its presence marks a finished run
    <run>/.lock              held (flock) by the process working on the run; names its pid

Every file is written to a temporary name and renamed into place (orbax does the same for its
step directories), so a run killed at any moment leaves the previous complete save readable.

Under several processes (`jax.distributed`; the run directory on a file system they share)
process 0, the primary, holds the lock and writes every file of the run itself, through
`on_primary`, while the others wait for it and stop with it if it fails. Checkpoints are orbax's
multi-host saves: every process calls them and writes its own shards, process 0 the metadata.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from toymodels.errors import OtherProcessError, RunDirError, ToymodelsError

CONFIG = "config.json"
METRICS = "metrics.npz"
REPORT = "report.json"
LOCK = ".lock"

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _ocp():
    import orbax.checkpoint as ocp

    logging.getLogger("absl").setLevel(logging.ERROR)
    return ocp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # as an ordinary open() would create it, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def _json_default(x):
    if isinstance(x, (np.integer, np.floating, np.bool_)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (set, frozenset)):
        return sorted(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path} is unreadable or corrupt ({type(e).__name__}); move it away or pass another --out") from None


def on_primary(fn, *args):
    """fn(*args) on the primary process (process 0; the only one, unless jax.distributed runs
    several), which returns its result; the others wait for it and return None. Whatever fn
    raises on the primary is raised on every process, so none is left waiting for a partner
    that has stopped."""
    if jax.process_count() == 1:
        return fn(*args)
    result, error = None, None
    if jax.process_index() == 0:
        try:
            result = fn(*args)
        except BaseException as e:  # an interrupt too: the others must not wait for a process that has gone
            error = e
    said = _from_primary("" if error is None else str(error) if isinstance(error, ToymodelsError)
                         else f"{type(error).__name__}: {error}".rstrip(": "))
    if error is not None:
        raise error
    if said:
        raise OtherProcessError(f"process 0 stopped: {said}")
    return result


def _from_primary(text: str, size: int = 2048) -> str:
    """Process 0's `text` (up to `size` bytes), on every process."""
    buf = np.zeros(size, np.uint8)
    raw = text.encode()[:size]
    buf[:len(raw)] = np.frombuffer(raw, np.uint8)
    return bytes(np.asarray(multihost_utils.broadcast_one_to_all(buf))).rstrip(b"\0").decode(errors="replace")


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold the run directory `path` for this process (created if need be); a second process
    asking for it is refused at once. The lock is the kernel's (flock), so a process killed in
    any way releases it. Under several processes the primary holds it for all of them (the
    others work in step with it), and a refusal stops every one."""
    with contextlib.ExitStack() as held:
        on_primary(lambda: held.enter_context(_flock(Path(path))))
        yield


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} is a file, not a run directory; pass another --out")
    if path.exists() and any(path.iterdir()) and not (path / CONFIG).exists() and not (path / LOCK).exists():
        _refuse_foreign(path)  # leaves no lock file among someone else's files
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise RunDirError(f"cannot create the run directory {path}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunDirError(f"{path} is in use by another toymodels process (pid {holder}); "
                              f"wait for it to finish or pass another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _refuse_foreign(path: Path):
    """A non-empty directory without a run's config.json: never written into."""
    if (path / "checkpoints").exists() or (path / METRICS).exists():
        raise RunDirError(f"{path} holds run files but no {CONFIG}: corrupt run directory; pass another --out")
    raise RunDirError(f"{path} exists and is not an empty run directory; pass another --out")


class RunStore:
    """A run directory opened for writing. `open` checks that an existing run there has the same
    config (so re-running a command resumes it) and refuses one of a different config, unless
    nothing was trained under it yet (a run that failed before its first save)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path, spec: dict) -> "RunStore":
        store = cls(Path(path))
        on_primary(store._write_config, spec)
        return store

    def _write_config(self, spec: dict) -> None:
        cfg_path = self.path / CONFIG
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path} is a file, not a run directory; pass another --out")
        contents = {p.name for p in self.path.iterdir()} - {LOCK} if self.path.exists() else set()
        if cfg_path.exists():
            on_disk = read_json(cfg_path)
            if on_disk == json.loads(json.dumps(spec, default=_json_default)):
                return
            if contents != {CONFIG}:
                raise RunDirError(f"{self.path} holds a run of another config (differs in "
                                  f"{_differences(on_disk, spec)}); pass another --out")
            # else nothing was trained under that config (the run failed before its first save)
        elif contents:
            _refuse_foreign(self.path)
        try:
            atomic_write_json(cfg_path, spec)
        except OSError as e:
            raise RunDirError(f"cannot create the run directory {self.path}: {e.strerror}") from None

    def finished(self, last_step: int) -> bool:
        """Whether training reached `last_step`: its metrics and its params checkpoint are saved.
        A finished run needs neither its optimizer state (resume/) nor any training."""
        if not (self.path / METRICS).exists():
            return False
        steps = self.metrics()["step"]
        return len(steps) > 0 and int(steps[-1]) == last_step and last_step in self.checkpoint_steps()

    def _manager(self, sub: str, keep: int | None = None, alone: bool = False):
        """orbax's manager of checkpoints/ or resume/. Saving and resuming are collective: every
        process calls them, in step. A reader `alone` is this process reading on its own (the
        primary analysing, say), which must not wait at orbax's barriers for the others."""
        ocp = _ocp()
        where = (self.path / sub).absolute()
        if alone:
            me = ocp.options.MultiprocessingOptions(primary_host=jax.process_index(), active_processes={jax.process_index()})
            options = ocp.CheckpointManagerOptions(read_only=True, multiprocessing_options=me)
            return ocp.CheckpointManager(where, options=options, item_handlers=ocp.StandardCheckpointHandler())
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        return ocp.CheckpointManager(where, options=options)

    def save(self, step: int, state: Any, metrics: dict[str, np.ndarray]) -> None:
        """Metrics, then params to checkpoints/<step>, then the full state to resume/<step> (only
        the last is kept). A kill between the writes leaves metrics that reach at least the
        resume step; `restore_state` truncates them to it."""
        ocp = _ocp()
        on_primary(lambda: atomic_write_bytes(self.path / METRICS, _npz_bytes(metrics)))
        with self._manager("checkpoints") as m:
            if step not in m.all_steps():
                m.save(step, args=ocp.args.StandardSave(state["params"]))
        with self._manager("resume", 1) as m:
            if step not in m.all_steps():
                m.save(step, args=ocp.args.StandardSave(state))

    def restore_state(self, like: Any) -> tuple[int, Any, dict[str, np.ndarray]] | None:
        """The last saved (step, state, metrics up to that step), or None for a fresh run."""
        if not (self.path / "resume").exists():
            return None
        ocp = _ocp()
        with self._manager("resume", 1) as m:
            step = m.latest_step()
            if step is None:
                return None
            abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), like)
            try:
                state = m.restore(step, args=ocp.args.StandardRestore(abstract))
            except Exception as e:  # orbax raises many types for damaged or mismatched files
                raise RunDirError(f"{self.path}/resume/{step} cannot be restored ({type(e).__name__}); corrupt run directory") from None
        metrics = self.metrics()
        keep = metrics["step"] <= step
        return step, state, {k: v[keep] for k, v in metrics.items()}

    def metrics(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path / METRICS) as f:
                return {k: f[k] for k in f.files}
        except Exception as e:  # numpy raises OSError, ValueError, BadZipFile, EOFError, ...
            raise RunDirError(f"{self.path / METRICS} is unreadable or corrupt ({type(e).__name__}); corrupt run directory") from None

    def checkpoint_steps(self) -> list[int]:
        if not (self.path / "checkpoints").exists():
            return []
        with self._manager("checkpoints", alone=True) as m:
            return sorted(m.all_steps())

    def load_params(self, steps: list[int] | None = None) -> tuple[list[int], Any]:
        """Params at the given checkpoint steps (default all), stacked: leaves (n_ckpt, N, ...).
        Read as numpy by this process alone, whatever devices and processes saved them."""
        ocp = _ocp()
        with self._manager("checkpoints", alone=True) as m:
            steps = sorted(m.all_steps()) if steps is None else list(steps)
            trees = []
            for s in steps:
                try:
                    saved = m.item_metadata(s)
                    like = jax.tree_util.tree_map(lambda a: np.broadcast_to(np.zeros((), a.dtype), a.shape),
                                                  getattr(saved, "tree", saved))  # numpy leaves: restored as numpy
                    trees.append(m.restore(s, args=ocp.args.StandardRestore(like)))
                except Exception as e:
                    raise RunDirError(f"{self.path}/checkpoints/{s} cannot be restored ({type(e).__name__}); corrupt run directory") from None
        if not trees:
            raise RunDirError(f"{self.path} has no checkpoints")
        stacked = jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)
        return steps, stacked


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _differences(a: Any, b: Any, most: int = 6) -> str:
    """The dotted names of the fields where two configs differ, values left out."""
    b = json.loads(json.dumps(b, default=_json_default))

    def walk(x, y, path):
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                if x.get(k) != y.get(k):
                    yield from walk(x.get(k), y.get(k), f"{path}.{k}" if path else k)
        elif x != y:
            yield path or "the whole config"

    names = list(walk(a, b, ""))
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


@dataclasses.dataclass(repr=False)
class Run:
    """A run read back from disk. params leaves are (n_checkpoints, n_instances, ...)."""

    path: Path
    spec: dict
    metrics: dict[str, np.ndarray]
    steps: list[int]
    params: Any
    report: dict | None

    @property
    def config(self) -> dict:
        return self.spec["config"]

    @property
    def instances(self) -> list[dict]:
        return self.spec["instances"]

    @property
    def complete(self) -> bool:
        return self.report is not None

    def __repr__(self) -> str:
        n = len(self.instances)
        shown = ", ".join(k for k in self.metrics if k != "step")
        ckpts = f"{self.steps[0]}..{self.steps[-1]}" if len(self.steps) > 1 else str(self.steps[0])
        return (f"Run({str(self.path)!r}: {self.spec.get('experiment')} {self.spec.get('preset')}, "
                f"{n} instance{'s' * (n != 1)}, {len(self.steps)} checkpoints (steps {ckpts}), "
                f"metrics [{shown}], {'complete' if self.complete else 'no report yet'})")

    def final_params(self) -> Any:
        """Params at the last checkpoint: leaves (n_instances, ...)."""
        return jax.tree_util.tree_map(lambda x: x[-1], self.params)

    def select(self, indices: list[int], config: dict | None = None) -> "Run":
        """The same run restricted to some of its instances (in that order), its config updated
        with `config` (a cell's swept values), as if those instances had been trained alone."""
        idx = np.asarray(indices, int)
        spec = {**self.spec, "config": {**self.config, **(config or {}), "seeds": len(idx)},
                "instances": [self.instances[i] for i in idx]}
        if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
            idx = slice(int(idx[0]), int(idx[0]) + len(idx))  # a cell's block: views, not copies of every checkpoint
        metrics = {k: v if k == "step" else v[:, idx] for k, v in self.metrics.items()}
        params = jax.tree_util.tree_map(lambda x: x[:, idx], self.params)
        return Run(self.path, spec, metrics, self.steps, params, None)


def load_run(path: str | Path) -> Run:
    """config, metrics and params (all instances, all checkpoints) of a run directory."""
    path = Path(path)
    if not (path / CONFIG).exists():
        raise RunDirError(f"{path} is not a run directory (no {CONFIG})")
    store = RunStore(path)
    spec = read_json(path / CONFIG)
    metrics = store.metrics()
    steps, params = store.load_params()
    if int(metrics["step"][-1]) != steps[-1]:  # metrics are saved with each checkpoint
        raise RunDirError(f"{path}/checkpoints/{int(metrics['step'][-1])} is missing; run the same command "
                          f"again to recreate it")
    try:  # a damaged report is a run not yet reported: reproducing it again rewrites the report
        report = read_json(path / REPORT) if (path / REPORT).exists() else None
    except RunDirError:
        report = None
    return Run(path, spec, metrics, steps, params, report)

"""The run directory: everything a run writes, and `load_run` to read it back in one line.

    <run>/config.json        experiment, preset, resolved config, instances (written first)
    <run>/metrics.npz        {"step": (T,), name: (T, N)} in-loop metrics up to the last save
    <run>/checkpoints/<step> params of every instance at each checkpoint step (orbax)
    <run>/resume/<step>      full train state (params + optimizer) at the last save (orbax)
    <run>/report.json        claims and figures; written last, so its presence marks a finished run
    <run>/.lock              held (flock) by the process working on the run; names its pid

Every file is written to a temporary name and renamed into place (orbax does the same for its
step directories), so a run killed at any moment leaves the previous complete save readable.
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

from toymodels.errors import RunDirError

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


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold the run directory `path` for this process (created if need be); a second process
    asking for it is refused at once. The lock is the kernel's (flock), so a process killed in
    any way releases it."""
    path = Path(path)
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
        cfg_path = store.path / CONFIG
        if store.path.exists() and not store.path.is_dir():
            raise RunDirError(f"{store.path} is a file, not a run directory; pass another --out")
        contents = {p.name for p in store.path.iterdir()} - {LOCK} if store.path.exists() else set()
        if cfg_path.exists():
            on_disk = read_json(cfg_path)
            if on_disk == json.loads(json.dumps(spec, default=_json_default)):
                return store
            if contents != {CONFIG}:
                raise RunDirError(f"{store.path} holds a run of another config (differs in "
                                  f"{_differences(on_disk, spec)}); pass another --out")
            # else nothing was trained under that config (the run failed before its first save)
        elif contents:
            _refuse_foreign(store.path)
        try:
            atomic_write_json(cfg_path, spec)
        except OSError as e:
            raise RunDirError(f"cannot create the run directory {store.path}: {e.strerror}") from None
        return store

    def finished(self, last_step: int) -> bool:
        """Whether training reached `last_step`: its metrics and its params checkpoint are saved.
        A finished run needs neither its optimizer state (resume/) nor any training."""
        if not (self.path / METRICS).exists():
            return False
        steps = self.metrics()["step"]
        return len(steps) > 0 and int(steps[-1]) == last_step and last_step in self.checkpoint_steps()

    def _manager(self, sub: str, keep: int | None):
        ocp = _ocp()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        return ocp.CheckpointManager((self.path / sub).absolute(), options=options)

    def save(self, step: int, state: Any, metrics: dict[str, np.ndarray]) -> None:
        """Metrics, then params to checkpoints/<step>, then the full state to resume/<step> (only
        the last is kept). A kill between the writes leaves metrics that reach at least the
        resume step; `restore_state` truncates them to it."""
        ocp = _ocp()
        atomic_write_bytes(self.path / METRICS, _npz_bytes(metrics))
        with self._manager("checkpoints", None) as m:
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
        with self._manager("checkpoints", None) as m:
            return sorted(m.all_steps())

    def load_params(self, steps: list[int] | None = None) -> tuple[list[int], Any]:
        """Params at the given checkpoint steps (default all), stacked: leaves (n_ckpt, N, ...)."""
        ocp = _ocp()
        with self._manager("checkpoints", None) as m:
            steps = sorted(m.all_steps()) if steps is None else list(steps)
            trees = []
            for s in steps:
                try:
                    trees.append(m.restore(s, args=ocp.args.StandardRestore()))
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

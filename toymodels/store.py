"""The run directory: everything a run writes, and `load_run` to read it back in one line.

    <run>/config.json        experiment, preset, resolved config, instances (written first)
    <run>/metrics.npz        {"step": (T,), name: (T, N)} in-loop metrics up to the last save
    <run>/checkpoints/<step> params of every instance at each checkpoint step (orbax)
    <run>/resume/<step>      full train state (params + optimizer) at the last save (orbax)
    <run>/report.json        claims and figures; written last, so its presence marks a finished run

Every file is written to a temporary name and renamed into place (orbax does the same for its
step directories), so a run killed at any moment leaves the previous complete save readable.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from toymodels.errors import RunDirError

CONFIG = "config.json"
METRICS = "metrics.npz"
REPORT = "report.json"


def _ocp():
    import orbax.checkpoint as ocp

    logging.getLogger("absl").setLevel(logging.ERROR)
    return ocp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


class RunStore:
    """A run directory opened for writing. `open` checks that an existing run there has the same
    config (so re-running a command resumes it) and refuses one of a different config."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path, spec: dict) -> "RunStore":
        store = cls(Path(path))
        cfg_path = store.path / CONFIG
        if store.path.exists() and not store.path.is_dir():
            raise RunDirError(f"{store.path} is a file, not a run directory; pass another --out")
        if cfg_path.exists():
            on_disk = read_json(cfg_path)
            if on_disk != json.loads(json.dumps(spec, default=_json_default)):
                diff = _first_difference(on_disk, spec)
                raise RunDirError(f"{store.path} holds a run with a different config ({diff}); pass another --out")
        elif store.path.exists() and any(store.path.iterdir()):
            if (store.path / "checkpoints").exists() or (store.path / METRICS).exists():
                raise RunDirError(f"{store.path} holds run files but no {CONFIG}: corrupt run directory; pass another --out")
            raise RunDirError(f"{store.path} exists and is not an empty run directory; pass another --out")
        else:
            try:
                atomic_write_json(cfg_path, spec)
            except OSError as e:
                raise RunDirError(f"cannot create the run directory {store.path}: {e.strerror}") from None
        return store

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


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    b = json.loads(json.dumps(b, default=_json_default))
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else k)
    return f"{path}: {a!r} on disk, {b!r} now" if path else "different"


@dataclasses.dataclass
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

    def final_params(self) -> Any:
        """Params at the last checkpoint: leaves (n_instances, ...)."""
        return jax.tree_util.tree_map(lambda x: x[-1], self.params)


def load_run(path: str | Path) -> Run:
    """config, metrics and params (all instances, all checkpoints) of a run directory."""
    path = Path(path)
    if not (path / CONFIG).exists():
        raise RunDirError(f"{path} is not a run directory (no {CONFIG})")
    store = RunStore(path)
    spec = read_json(path / CONFIG)
    steps, params = store.load_params()
    report = read_json(path / REPORT) if (path / REPORT).exists() else None
    return Run(path, spec, store.metrics(), steps, params, report)

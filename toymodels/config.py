"""Config overrides from the command line, and the instance grid (seeds x swept hyperparameters).

`--set key=value` replaces a field of the experiment's frozen config dataclass. A comma list,
`--set lr=1e-3,3e-3`, on a key the experiment can vary per instance turns it into a sweep axis:
every combination of the swept values trains, once per seed, in the same compiled program.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable
from typing import Any, ClassVar

from toymodels.engine import Schedule
from toymodels.errors import ConfigError


def _coerce(key: str, text: str, like: Any) -> Any:
    try:
        if isinstance(like, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(like, int):
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(like, float):
            return float(text)
        return text
    except ValueError:
        raise ConfigError(f"--set {key}={text}: expected {type(like).__name__}") from None


def apply_overrides(cfg: Any, sets: list[str], sweepable: tuple[str, ...]) -> tuple[Any, dict[str, list]]:
    """Returns (config with single values replaced, {key: [values]} for swept keys)."""
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes: dict[str, Any] = {}
    sweep: dict[str, list] = {}
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not text.strip():
            raise ConfigError(f"--set expects key=value (got {item!r})")
        if key not in fields:
            raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(sorted(fields))}")
        values = [_coerce(key, t.strip(), getattr(cfg, key)) for t in text.split(",")]
        if repeated := sorted({str(v) for v in values if values.count(v) > 1}):
            raise ConfigError(f"--set {key}={text} repeats {', '.join(repeated)}: each value trains once")
        if len(values) == 1:
            changes[key] = values[0]
            sweep.pop(key, None)
        elif key in sweepable:
            sweep[key] = values
        else:
            raise ConfigError(f"{key} cannot be swept within one run (it changes array shapes); "
                              f"sweepable keys: {', '.join(sweepable)}")
    if "seeds" in changes and "seed" in sweep and len(sweep["seed"]) != changes["seeds"]:
        raise ConfigError(seed_count_conflict(changes["seeds"], sweep["seed"]))
    cfg = dataclasses.replace(cfg, **changes)
    # a swept key's config value never trains: validate with the first swept values in its place
    first = dataclasses.replace(cfg, **{key: values[0] for key, values in sweep.items()})
    first.validate()
    for key, values in sweep.items():
        for v in values:
            dataclasses.replace(first, **{key: v}).validate()
    return cfg, sweep


def seed_count_conflict(seeds: int, seed_list: list[int]) -> str:
    return (f"{seeds} seeds asked for, but --set seed={','.join(map(str, seed_list))} lists {len(seed_list)}: "
            f"a seed list sets the seeds itself; drop the seed count or make them agree")


def instances(cfg: Any, sweep: dict[str, list], sweepable: tuple[str, ...],
              canonical: Callable[[dict, Any], dict] | None = None) -> list[dict]:
    """One dict of per-instance hyperparameters (with its seed) per model to train:
    the product of swept values, each for seeds seed, seed+1, ..., seed+seeds-1. A toy's
    `canonical` maps an instance to the one that trains the same model (a key its variant
    ignores set to the config's); instances that then repeat train once."""
    keys = [k for k in sweepable if k != "seed"]
    grid = itertools.product(*[sweep.get(k, [getattr(cfg, k)]) for k in keys])
    seeds = sweep.get("seed", list(range(cfg.seed, cfg.seed + cfg.seeds)))
    out = [{**dict(zip(keys, combo)), "seed": s} for combo in grid for s in seeds]
    if canonical is not None:
        out = list({json.dumps(i, sort_keys=True): i for i in (canonical(i, cfg) for i in out)}.values())
    return out


MAX_SEED = 2**31  # seeds become int32 PRNG keys on every platform


# ---------------------------------------------------------------------------------------------
# What every toy's config shares, and the checks every toy's validate() uses


def require_positive(cfg: Any, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be a positive integer (got {name}={getattr(cfg, name)})")


def require_non_negative(cfg: Any, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must be >= 0 (got {name}={getattr(cfg, name)})")


def require_fraction(name: str, value: float) -> None:
    """A share of something that must not be empty: (0, 1]."""
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{name} must lie in (0, 1] (got {value})")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The fields every toy's config has: the optimiser's sweepable learning rate and weight
    decay, the length of training, how often metrics and checkpoints are taken, and the seeds.
    A toy subclasses it (redeclaring a field changes its default) and extends validate()."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    steps: int = 1000
    eval_every: int = 100
    checkpoint_every: int = 0  # 0: only the last step (plus log_checkpoints, where a toy has them)
    seed: int = 0
    seeds: int = 1

    log_checkpoints: ClassVar[int] = 0  # a toy that wants log-spaced checkpoints declares it as a field

    def validate(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{field.name} must be a finite number (got {field.name}={value})")
        require_positive(self, "steps", "eval_every", "seeds")
        require_non_negative(self, "checkpoint_every", "log_checkpoints")
        if not (0 <= self.seed and self.seed + self.seeds <= MAX_SEED):
            raise ConfigError(f"seeds seed..seed+seeds-1 must lie in [0, {MAX_SEED}) (got seed={self.seed}, seeds={self.seeds})")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0 (got lr={self.lr}, weight_decay={self.weight_decay})")

    def schedule(self) -> Schedule:
        return Schedule.make(self.steps, self.eval_every, self.checkpoint_every, self.log_checkpoints)

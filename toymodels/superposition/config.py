"""The configuration of the superposition toy: the paper's whole figure set in one flat, frozen
dataclass. Sizes are (features n, hidden m) per sub-experiment; `*_sparsity_max` sets a
geometric grid of feature probabilities p = (1 - S_max)^linspace(0, 1, points)."""

from __future__ import annotations

import dataclasses

from toymodels.config import TrainConfig, require_positive
from toymodels.errors import ConfigError

# Each sub-experiment's (n, m) fields are <prefix>_n and <prefix>_m.
SIZE_PREFIXES = ("intro", "lvr", "wtw", "geometry", "hidden", "abs", "abs_pair")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    intro_n: int = 5
    intro_m: int = 2
    intro_points: int = 10
    intro_sparsity_max: float = 0.95          # p = 20^-linspace(0, 1, 10)
    lvr_n: int = 20                           # linear vs ReLU output
    lvr_m: int = 5
    wtw_n: int = 100                          # W^T W matrices
    wtw_m: int = 20
    geometry_n: int = 200                     # D* and D_i
    geometry_m: int = 20
    geometry_points: int = 20                 # also the W^T W grid
    geometry_sparsity_max: float = 0.95
    phase_points: int = 12                    # grid side of each phase diagram
    phase_tries: int = 3                      # models per phase-grid point; the lowest-loss one is kept
    phase_density_min: float = 0.01           # densities 1 .. this (log grid)
    phase_importance_max: float = 10.0        # relative importance 1/this .. this (log grid)
    hidden_n: int = 10
    hidden_m: int = 5
    abs_n: int = 100
    abs_m: int = 40
    abs_pair_n: int = 20
    abs_pair_m: int = 10
    abs_pair_sparsity: float = 0.5
    batch: int = 1024
    weight_decay: float = 0.01                # torch's AdamW default, as in the notebook
    steps: int = 10_000
    eval_every: int = 500
    best_of: bool = False                     # figures use, per model, the lowest-loss seed (analysis only)

    def validate(self) -> None:
        super().validate()
        sizes = [f"{prefix}_{side}" for prefix in SIZE_PREFIXES for side in ("n", "m")]
        require_positive(self, *sizes, "intro_points", "geometry_points", "phase_points", "phase_tries", "batch")
        for name in ("intro_sparsity_max", "geometry_sparsity_max", "abs_pair_sparsity"):
            s = getattr(self, name)
            if not 0.0 <= s < 1.0:
                raise ConfigError(f"{name} must lie in [0, 1) (got {s}): a sparsity is the probability that a "
                                  f"feature is zero")
        if not 0.0 < self.phase_density_min < 1.0:
            raise ConfigError(f"phase_density_min must lie in (0, 1) (got {self.phase_density_min})")
        if not self.phase_importance_max > 1.0:
            raise ConfigError(f"phase_importance_max must be > 1 (got {self.phase_importance_max})")
        for prefix in SIZE_PREFIXES:
            n, m = getattr(self, f"{prefix}_n"), getattr(self, f"{prefix}_m")
            if m >= n:
                raise ConfigError(f"{prefix}_m={m} must be < {prefix}_n={n}: superposition needs fewer "
                                  f"hidden dimensions than features")
        if self.intro_m != 2:
            raise ConfigError(f"intro_m must be 2 (the intro figure draws the 2-D hidden space; got {self.intro_m})")

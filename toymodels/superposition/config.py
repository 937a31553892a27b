"""The configuration of the superposition toy: the paper's whole figure set in one flat, frozen
dataclass. Sizes are (features n, hidden m) per sub-experiment; `*_sparsity_max` sets a
geometric grid of feature probabilities p = (1 - S_max)^linspace(0, 1, points); the correlated-
feature sweeps take theirs from `*_density_max` down to `*_density_min` (log-spaced)."""

from __future__ import annotations

import dataclasses

from toymodels.config import TrainConfig, require_positive
from toymodels.errors import ConfigError

# Each sub-experiment's (n, m) fields are <prefix>_n and <prefix>_m.
SIZE_PREFIXES = ("intro", "lvr", "wtw", "geometry", "hidden", "abs", "abs_pair", "corr", "collapse")
# Sub-experiments whose figures draw the 2-D hidden plane (m must be 2).
PLANE_PREFIXES = ("intro", "corr", "collapse")
# (max, min) feature-probability fields of the correlated-feature sweeps (log grids, max first).
SET_DENSITIES = (("corr_density_max", "corr_density_min"), ("anti_density_max", "anti_density_min"),
                 ("collapse_density_max", "collapse_density_min"))


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
    corr_n: int = 4                           # two correlated pairs, and two anti-correlated pairs, in m=2
    corr_m: int = 2
    corr_points: int = 5                      # sparsities of each of the two pair sweeps
    corr_density_max: float = 0.05            # correlated pairs: p = 0.05 .. 0.002, sparse (sets rarely meet)
    corr_density_min: float = 0.002
    anti_density_max: float = 0.3             # anti-correlated pairs: p = 0.3 .. 0.1 (a pair is active 2p of
    anti_density_min: float = 0.1             # the time), dense enough that the two pairs often meet
    collapse_n: int = 6                       # three correlated pairs in m=2, from dense to very sparse
    collapse_m: int = 2
    collapse_points: int = 7
    collapse_density_max: float = 0.5
    collapse_density_min: float = 0.002
    corr_tries: int = 3                       # models per correlated-feature setting; the lowest-loss one is judged
    batch: int = 1024
    weight_decay: float = 0.01                # torch's AdamW default, as in the notebook
    steps: int = 10_000
    eval_every: int = 500
    best_of: bool = False                     # figures use, per model, the lowest-loss seed (analysis only)

    def validate(self) -> None:
        super().validate()
        sizes = [f"{prefix}_{side}" for prefix in SIZE_PREFIXES for side in ("n", "m")]
        require_positive(self, *sizes, "intro_points", "geometry_points", "phase_points", "phase_tries", "batch",
                         "corr_points", "collapse_points", "corr_tries")
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
        for prefix in PLANE_PREFIXES:
            if getattr(self, f"{prefix}_m") != 2:
                raise ConfigError(f"{prefix}_m must be 2 (its figure draws the 2-D hidden space; "
                                  f"got {getattr(self, f'{prefix}_m')})")
        for prefix in ("corr", "collapse"):
            if getattr(self, f"{prefix}_n") % 2:
                raise ConfigError(f"{prefix}_n must be even: its features come in pairs (got {getattr(self, f'{prefix}_n')})")
        for hi, lo in SET_DENSITIES:
            if not 0.0 < getattr(self, lo) <= getattr(self, hi) <= 1.0:
                raise ConfigError(f"need 0 < {lo} <= {hi} <= 1 (got {getattr(self, lo)}, {getattr(self, hi)})")
        if self.anti_density_max > 0.5:
            raise ConfigError(f"anti_density_max must be <= 0.5: an anti-correlated pair is active 2p of the time "
                              f"(got {self.anti_density_max})")

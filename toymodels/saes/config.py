"""What an SAE run is: a planted source (n known unit features in R^d, each present with
probability feature_prob, magnitude uniform in [0, 2]) and the SAEs trained on it."""

from __future__ import annotations

import dataclasses

from toymodels.config import TrainConfig, require_fraction, require_positive
from toymodels.errors import ConfigError
from toymodels.saes.model import VARIANTS


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    n_features: int = 64
    d: int = 32
    feature_prob: float = 0.02
    source_seed: int = 0         # the planted dictionary: one truth shared by every instance
    dict_size: int = 64
    variant: str = "relu"
    coef: float = 0.15           # the L1 coefficient (relu): 64 features in d=32 at p=0.02 recovered, L0 ~2
    k: int = 4                   # active latents (topk)
    batch: int = 1024
    lr: float = 1e-3
    steps: int = 3000
    eval_every: int = 100

    def validate(self) -> None:
        super().validate()
        require_positive(self, "n_features", "d", "dict_size", "batch", "k")
        require_fraction("feature_prob", self.feature_prob)
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown SAE variant {self.variant!r}; known: {', '.join(VARIANTS)}")
        if self.coef < 0:
            raise ConfigError(f"coef must be >= 0 (got {self.coef})")
        if self.k > self.dict_size:
            raise ConfigError(f"k={self.k} active latents of a dictionary of {self.dict_size}")

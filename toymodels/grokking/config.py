"""What a grokking run is: modular addition (a + b) mod p learned by the one-layer transformer
of Nanda et al. (2023), with the paper's AdamW settings (docs/papers.md, grokking)."""

from __future__ import annotations

import dataclasses
import math

from toymodels.config import TrainConfig, require_fraction, require_non_negative
from toymodels.errors import ConfigError
from toymodels.models.transformer import TransformerConfig


@dataclasses.dataclass(frozen=True)
class Config(TransformerConfig, TrainConfig):
    p: int = 113
    frac_train: float = 0.3
    lr: float = 1e-3
    weight_decay: float = 1.0
    warmup_steps: int = 10
    steps: int = 40_000
    eval_every: int = 100
    checkpoint_every: int = 200
    log_checkpoints: int = 0  # extra checkpoints at this many log-spaced steps (dense early on)

    def validate(self) -> None:
        super().validate()
        if self.p < 3 or self.p % 2 == 0 or not _is_prime(self.p):
            raise ConfigError(f"p must be an odd prime >= 3 (got p={self.p})")
        if 4 * self.p**3 > 2**30:
            raise ConfigError(f"p={self.p} is too large: the analyses hold all p^3 logits of a model "
                              f"({4 * self.p**3 / 2**30:.1f} GiB); use p <= 645")
        require_fraction("frac_train", self.frac_train)
        if int(self.frac_train * self.p**2) < 1:
            raise ConfigError(f"frac_train={self.frac_train} leaves no training pairs for p={self.p}")
        require_non_negative(self, "warmup_steps")

    @property
    def d_vocab(self) -> int:
        return self.p + 1


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, math.isqrt(n) + 1))

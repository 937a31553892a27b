"""What a memorisation run is: MLPs over frozen random embeddings memorising an n x n binary
table (after Nanda, Rajamanoharan, Kramar, Shah, "Fact Finding", 2023; docs/papers.md,
memorisation). Table size, width and label kind vary per instance (a padded sweep); the
compiled shapes are max_n and max_width."""

from __future__ import annotations

import dataclasses

from toymodels.config import TrainConfig, require_fraction, require_non_negative, require_positive
from toymodels.errors import ConfigError

LABEL_KINDS = ("random", "row", "xor")
ACTIVATIONS = ("gelu", "relu")
OPTIMIZERS = ("adamw", "lbfgs")
MAX_PAIRS = 2**24  # every analysis holds per-pair, per-neuron arrays of all n^2 pairs


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    n: int = 32                  # table size (sweepable: the instance's own n <= max_n)
    width: int = 16              # neurons per MLP layer (sweepable: <= max_width)
    structured: bool = False     # sweepable: False = random labels, True = `structure` labels
    structure: str = "row"       # the structured label kind: "row" or "xor"
    max_n: int = 64              # rows of the embedding tables (compiled shape)
    max_width: int = 64          # neurons per layer in the parameters (compiled shape)
    d: int = 32                  # embedding / residual dimension
    layers: int = 2              # MLP layers: 1 or 2
    activation: str = "gelu"     # "gelu" or "relu"
    train_embed: bool = False    # train the embeddings too (counted as parameters then)
    out_init: float = 0.01       # W_out's init scale relative to N(0, 1/d): MLPs start writing almost nothing
    frac_train: float = 0.8      # structured labels: share of pairs trained on
    table_seed: int = 0
    optimizer: str = "adamw"     # "adamw" (lr, schedule, weight decay) or "lbfgs" (full batch, line search, no lr)
    lr: float = 3e-3
    warmup_steps: int = 50
    final_lr_frac: float = 0.05  # cosine decay of the learning rate to this fraction at the end
    steps: int = 4000

    def validate(self) -> None:
        super().validate()
        if self.n < 2:
            raise ConfigError(f"table size n must be >= 2 (got n={self.n})")
        if self.max_n < self.n:
            raise ConfigError(f"n={self.n} exceeds max_n={self.max_n} (the compiled embedding table); "
                              f"--set max_n={self.n}")
        if self.max_n**2 > MAX_PAIRS:
            raise ConfigError(f"max_n={self.max_n} is too large: its {self.max_n**2:,} pairs exceed the "
                              f"{MAX_PAIRS:,} the analyses can hold; use max_n <= {int(MAX_PAIRS**0.5)}")
        require_positive(self, "d", "width", "max_width")
        if not self.out_init >= 0:
            raise ConfigError(f"out_init must be >= 0 (got {self.out_init})")
        if self.max_width < self.width:
            raise ConfigError(f"width={self.width} exceeds max_width={self.max_width} (the compiled MLP); "
                              f"--set max_width={self.width}")
        if self.structure not in LABEL_KINDS[1:]:
            raise ConfigError(f"unknown label kind structure={self.structure!r}; known structured kinds: "
                              f"{', '.join(LABEL_KINDS[1:])} (random labels: structured=0)")
        if self.layers not in (1, 2):
            raise ConfigError(f"layers must be 1 or 2 (got {self.layers})")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        if self.optimizer == "lbfgs" and self.weight_decay:
            raise ConfigError(f"weight_decay={self.weight_decay} needs --set optimizer=adamw (L-BFGS minimises "
                              "the loss alone)")
        require_fraction("frac_train", self.frac_train)
        if not 0.0 <= self.final_lr_frac <= 1.0:  # 0 allowed: decay to nothing
            raise ConfigError(f"final_lr_frac must lie in [0, 1] (got {self.final_lr_frac})")
        require_non_negative(self, "warmup_steps")


def canonical(instance: dict, cfg: Config) -> dict:
    """The instance as trained: under L-BFGS a swept lr or weight decay would train the same
    model over and over, so it is refused."""
    if cfg.optimizer == "lbfgs":
        for key, default in (("lr", cfg.lr), ("weight_decay", 0.0)):
            if instance.get(key, default) != default:
                raise ConfigError(f"{key}={instance[key]} is an AdamW setting: L-BFGS picks its own step by "
                                  "line search; sweep it with --set optimizer=adamw")
    return instance

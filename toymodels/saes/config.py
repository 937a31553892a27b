"""What an SAE run is: a source of activations whose true features are known, and a grid of
sparse autoencoders (variant x dictionary size x sparsity setting x seed) trained on it.

Sources
- "planted": n unit feature directions in R^d drawn at random (one dictionary per source_seed,
  shared by every instance); each input is a sum of the features present, feature i present
  with probability feature_prob (times prob_decay^i, so later features are rarer) and, when
  present, with a magnitude uniform in [0, 2]. `structure` correlates them:
    independent   each feature on its own;
    correlated    consecutive pairs are present together or not at all;
    hierarchical  consecutive pairs are (parent, child): the child is present only with its
                  parent, with probability 1/2 then (the case that makes latents absorb).
- "tms": the hidden layer h = W x of a Toy Models of Superposition model (n = tms_n features in
  d = tms_m dimensions, ReLU output, every feature at density 1 - tms_sparsity), trained before
  the SAEs from source_seed; the true features are W's columns that the model represents
  (norm >= 0.5), and inputs are h for x drawn as the TMS model was trained.

Sparsity settings: `coef` is the L1 coefficient of the ReLU SAE; `k` the active latents of
TopK; `l0_coef` the L0 coefficient of JumpReLU. Each variant ignores the others' settings, so
a grid sweeping all three trains each variant once per setting of its own (`canonical`).
"""

from __future__ import annotations

import dataclasses

from toymodels.config import TrainConfig, require_fraction, require_positive
from toymodels.errors import ConfigError

VARIANTS = ("relu", "topk", "jumprelu")
SOURCES = ("planted", "tms")
STRUCTURES = ("independent", "correlated", "hierarchical")
OWN_SETTING = {"relu": "coef", "topk": "k", "jumprelu": "l0_coef"}


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    source: str = "planted"
    source_seed: int = 0          # the true features: one truth shared by every instance
    n_features: int = 64          # planted
    d: int = 32
    feature_prob: float = 0.02
    prob_decay: float = 1.0
    structure: str = "independent"
    tms_n: int = 5                # tms: the pentagon of the TMS paper's intro figure
    tms_m: int = 2
    tms_sparsity: float = 0.9
    tms_steps: int = 10_000
    variant: str = "relu"
    dict_size: int = 64
    max_dict_size: int = 64       # parameters are padded to this, so dict_size can be swept
    coef: float = 0.15            # relu
    k: int = 4                    # topk
    l0_coef: float = 0.1          # jumprelu
    eval_batch: int = 8192        # inputs the analyses score every SAE on (dead latents need many)
    batch: int = 1024
    lr: float = 1e-3
    steps: int = 3000
    eval_every: int = 100

    def validate(self) -> None:
        super().validate()
        require_positive(self, "n_features", "d", "dict_size", "max_dict_size", "batch", "k", "eval_batch",
                         "tms_n", "tms_m", "tms_steps")
        require_fraction("feature_prob", self.feature_prob)
        require_fraction("prob_decay", self.prob_decay)
        for name, value, known in (("source", self.source, SOURCES), ("variant", self.variant, VARIANTS),
                                   ("structure", self.structure, STRUCTURES)):
            if value not in known:
                raise ConfigError(f"unknown {name} {value!r}; known: {', '.join(known)}")
        if self.coef < 0 or self.l0_coef < 0:
            raise ConfigError(f"coef and l0_coef must be >= 0 (got coef={self.coef}, l0_coef={self.l0_coef})")
        if self.dict_size > self.max_dict_size:
            raise ConfigError(f"dict_size={self.dict_size} is above max_dict_size={self.max_dict_size} "
                              f"(the padded size); raise max_dict_size")
        if self.variant == "topk" and self.k > self.dict_size:
            raise ConfigError(f"k={self.k} active latents of a dictionary of {self.dict_size}")
        if self.structure != "independent" and self.n_features % 2:
            raise ConfigError(f"{self.structure} features come in pairs; n_features={self.n_features} is odd")
        if not 0.0 <= self.tms_sparsity < 1.0:
            raise ConfigError(f"tms_sparsity must lie in [0, 1) (got {self.tms_sparsity})")
        if self.tms_m >= self.tms_n:
            raise ConfigError(f"tms_m={self.tms_m} must be < tms_n={self.tms_n}: superposition needs fewer "
                              f"dimensions than features")

    @property
    def source_dim(self) -> int:
        return self.tms_m if self.source == "tms" else self.d


def canonical(instance: dict, cfg: Config) -> dict:
    """The instance that trains the same SAE: the sparsity settings its variant ignores are set to
    the config's, so a grid over coef, k and l0_coef trains each variant once per setting of its own."""
    own = OWN_SETTING[instance.get("variant", cfg.variant)]
    return {**instance, **{key: getattr(cfg, key) for key in OWN_SETTING.values() if key != own and key in instance}}

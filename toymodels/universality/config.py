"""What a universality run is: composition a∘b of a finite group learned by an MLP or the
one-layer transformer, with the paper's AdamW settings, and the thresholds its analyses judge
by (docs/papers.md, universality). The thresholds are config fields so that config.json records
them and a run is re-judged with the thresholds it was run with."""

from __future__ import annotations

import dataclasses

from toymodels.algebra.groups import Group, group, group_order
from toymodels.algebra.irreps import irrep_index, irreps
from toymodels.config import TrainConfig, require_fraction, require_positive
from toymodels.errors import ConfigError
from toymodels.models.transformer import TransformerConfig

MODELS = ("mlp", "transformer")
MAX_ANALYSED_ORDER = 645  # the analyses hold |G|^3 float32 logits per model: <= 1 GiB


@dataclasses.dataclass(frozen=True)
class Config(TransformerConfig, TrainConfig):
    group: str = "S5"
    model: str = "mlp"
    frac_train: float = 0.4
    # MLP
    d_embed: int = 256
    d_hidden: int = 128
    # the transformer's sizes and AdamW betas: TransformerConfig
    lr: float = 1e-3
    weight_decay: float = 1.0
    # schedule
    steps: int = 250_000
    eval_every: int = 1000
    log_checkpoints: int = 60
    # analyses
    key_threshold: float = 0.005  # logit similarity above which an irrep is "key" (the paper's code's)
    order_threshold: float = 0.05  # logit similarity at which an irrep counts as learned (learning order)
    coset_irreps: str = "auto"  # irreps whose neurons the coset view shows ("auto": standard,sign where they exist)

    def validate(self) -> None:
        super().validate()
        n = group_order(self.group)  # unknown or too-large groups: ConfigError
        if n > MAX_ANALYSED_ORDER:
            raise ConfigError(f"group {self.group} has {n} elements; the analyses hold |G|^3 logits, "
                              f"so at most {MAX_ANALYSED_ORDER} elements are supported")
        if n < 2:
            raise ConfigError(f"group {self.group} is trivial; nothing to learn")
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; known: {', '.join(MODELS)}")
        require_fraction("frac_train", self.frac_train)
        if int(self.frac_train * n * n) < 1:
            raise ConfigError(f"frac_train={self.frac_train} leaves no training pairs for {self.group}")
        require_positive(self, "d_embed", "d_hidden")
        if not (0 < self.key_threshold < 1 and 0 < self.order_threshold < 1):
            raise ConfigError("key_threshold and order_threshold must lie in (0, 1)")
        self.coset_irrep_names()  # unknown irrep names: ConfigError

    def coset_irrep_names(self) -> list[str]:
        g = self.group_obj()
        if self.coset_irreps == "auto":
            names = {r.name for r in irreps(g)}
            return [n for n in ("standard", "sign") if n in names]
        wanted = [s.strip() for s in self.coset_irreps.split("+") if s.strip()]
        return [irreps(g)[irrep_index(g, s)].name for s in wanted]

    def group_obj(self) -> Group:
        return group(self.group)

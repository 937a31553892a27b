"""toymodels: toy models for mechanistic interpretability (grokking, superposition,
memorisation, universality), trained under jit and vmap over seeds on JAX.

    import toymodels
    report = toymodels.reproduce("grokking", preset="quick", seeds=4, out="runs/g")
    run = toymodels.load_run("runs/g")   # config, metrics, params of every checkpoint and instance
    claims = toymodels.check("runs/g")   # the paper's claims, re-evaluated on the run: [Claim]
"""

from toymodels.errors import ConfigError, RunDirError, ToymodelsError
from toymodels.pipeline import check, reproduce
from toymodels.store import Run, load_run

__all__ = ["ConfigError", "Run", "RunDirError", "ToymodelsError", "check", "load_run", "reproduce"]

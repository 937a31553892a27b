"""Elhage et al. 2022, "Toy Models of Superposition": every figure family of the paper from one run."""

from __future__ import annotations

import functools

from toymodels import engine
from toymodels.tasks import superposition as sp
from toymodels.tasks.superposition import Config

PRESETS = {
    "quick": Config(steps=3000, eval_every=250),
    "paper": Config(),
}
SWEEPABLE = ("seed", "lr", "weight_decay")
FIGURES = ("intro_geometry", "linear_vs_relu", "wtw_matrices", "dimensionality", "phase_diagrams",
           "hidden_relu_neurons", "absolute_value_neurons")


def task(cfg: Config) -> engine.Task:
    gs = sp.groups(cfg)
    return engine.Task(
        init_params=functools.partial(sp.init_params, gs),
        loss=functools.partial(sp.loss, gs=gs, batch=cfg.batch),
        metrics=functools.partial(sp.metrics, gs=gs, batch=cfg.batch),
        optimizer=sp.optimizer,
        stochastic=True,
    )


def make_data(cfg: Config, insts: list[dict]) -> dict:
    return sp.make_data(sp.groups(cfg), len(insts))


def schedule(cfg: Config) -> engine.Schedule:
    return engine.Schedule.make(cfg.steps, cfg.eval_every, cfg.checkpoint_every or None)

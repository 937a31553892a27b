"""Fact-lookup memoriser (after Nanda, Rajamanoharan, Kramar, Shah, "Fact Finding", 2023)."""

from __future__ import annotations

import functools

from toymodels import engine
from toymodels.tasks import memorisation as M
from toymodels.tasks.memorisation import Config

PRESETS = {
    "quick": Config(),
    "paper": Config(),
}
SWEEPABLE = ("seed", "n", "width", "structured", "lr", "weight_decay")
FIGURES = ("capacity_curves", "bits_per_parameter", "probe_accuracy", "path_contributions",
           "neurons_per_fact", "neuron_effect_correlation", "loss_curves")


def task(cfg: Config) -> engine.Task:
    return engine.Task(
        init_params=functools.partial(M.init_params, cfg),
        loss=functools.partial(M.loss, activation=cfg.activation, train_embed=cfg.train_embed),
        metrics=functools.partial(M.metrics, activation=cfg.activation),
        optimizer=functools.partial(M.optimizer, cfg),
    )


make_data = M.make_data


def schedule(cfg: Config) -> engine.Schedule:
    return engine.Schedule.make(cfg.steps, cfg.eval_every, cfg.checkpoint_every)

"""Reproducible experiments: one module per paper, each with presets, a task, analyses,
figures and claims. `toymodels list` shows them."""

import importlib

from toymodels.errors import ConfigError

EXPERIMENTS = {
    "grokking": "Nanda et al. 2023: a 1-layer transformer groks (a + b) mod p; Fourier circuit and progress measures",
    "superposition": "Elhage et al. 2022: toy models of superposition; feature geometry, dimensionality, phase diagrams",
    "universality": "Chughtai et al. 2023: MLPs and transformers learn group composition (S5 default) via irreps",
    "memorisation": "Nanda, Rajamanoharan et al. 2023: MLPs memorise a random table over frozen embeddings",
}


def get(name: str):
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"toymodels.{name}.recipe")

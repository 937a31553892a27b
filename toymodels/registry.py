"""Every toy the command line and the pipeline know, by name. Adding a toy means writing its
package and adding its RECIPE here (see `toymodels.recipe`)."""

from __future__ import annotations

from toymodels.errors import ConfigError
from toymodels.grokking.recipe import RECIPE as GROKKING
from toymodels.memorisation.recipe import RECIPE as MEMORISATION
from toymodels.recipe import Recipe
from toymodels.saes.recipe import RECIPE as SAES
from toymodels.superposition.recipe import RECIPE as SUPERPOSITION
from toymodels.universality.recipe import RECIPE as UNIVERSALITY

RECIPES: dict[str, Recipe] = {r.name: r for r in (GROKKING, SUPERPOSITION, UNIVERSALITY, MEMORISATION, SAES)}


def get(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"unknown experiment {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]

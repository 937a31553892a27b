"""Flax modules as the engine sees them, and activations by name.

Each toy defines its model as a `flax.nnx.Module` whose `__call__(*inputs, cache=None)` is the
plain forward pass. The engine never holds a module: it trains a pure dict of arrays, named as
the module's parameters (`params_of`), and a forward pass binds such a dict back into the
module (`bind`). Fast training paths stay functions of that dict, each tested equal to the
module's forward.

Activations are recorded by name into the `cache` dict a caller passes (`run_with_cache`), one
naming scheme across the toys:

    embed                  what the input tokens or features put into the model
    resid_pre/mid/post     the residual stream (transformer); resid.<l> before layer l (MLP stacks)
    q, k, v, attn_scores, pattern, z, attn_out     attention (pattern: batch, head, query, key)
    mlp_pre, mlp_post      neuron pre- and post-activations (suffix .<l> in stacks of MLPs)
    mlp_out                what an MLP writes back (suffix .<l> likewise)
    hidden                 a bottleneck's activations (superposition's h = W x)
    logits                 the output (out, for a model that reconstructs its input)

A plain dict, rather than nnx's sow/capture, records them: it works the same under jit and
vmap on every flax version this package supports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import nnx


def params_of(module: nnx.Module) -> dict:
    """The module's parameters as the engine trains them: a pure (nested) dict of arrays."""
    return nnx.to_pure_dict(nnx.state(module, nnx.Param))


def bind(build: Callable[[], nnx.Module], params: dict) -> nnx.Module:
    """The module that `build()` makes, holding `params` instead of its own init. `build` only
    sets the shapes: it runs abstractly (`nnx.eval_shape`), so no initialisation is computed."""
    graphdef, state = nnx.split(nnx.eval_shape(build))
    nnx.replace_by_pure_dict(state, params)
    return nnx.merge(graphdef, state)


def run_with_cache(module: nnx.Module, *inputs: Any) -> tuple[Any, dict[str, jax.Array]]:
    """(output, {activation name: array}) of one forward pass."""
    cache: dict[str, jax.Array] = {}
    return module(*inputs, cache=cache), cache


def record(cache: dict | None, name: str, value: jax.Array) -> jax.Array:
    if cache is not None:
        cache[name] = value
    return value

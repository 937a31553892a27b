"""SAEs built by hand, whose answers are known, in the layout training produces (max_dict_size
latents, one SAE per leading index once stacked with `stack`):
- oracle: the latents are the true features (decoder = truth, encoder its transpose, or its
  pseudo-inverse when the features fit the dimensions);
- merged: each latent is the normalised sum of a pair of true features (a dictionary half the size);
- dropping: the latents are the first true features only (a small dictionary that drops the rest);
- random: the module's own random initialisation;
- with_dead: any of them with some latents switched off for good (a bias no input overcomes).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.saes import model as S


def _sae(latents: np.ndarray, max_dict: int, threshold: float = 0.0, encoder: np.ndarray | None = None) -> dict:
    """An SAE whose first latents are `latents` (unit rows), the rest padding (masked by dict_size);
    the encoder is the decoder's transpose unless given (d, m)."""
    m, d = latents.shape
    w = np.zeros((max_dict, d), np.float32)
    w[:m] = latents
    w[m:, 0] = 1.0  # padding rows must be normalisable; their latents are masked off
    enc = w.T.copy()
    if encoder is not None:
        enc[:, :m] = encoder
    return {"W_enc": jnp.asarray(enc), "b_enc": jnp.full(max_dict, -threshold, jnp.float32), "W_dec": jnp.asarray(w),
            "b_dec": jnp.zeros(d, jnp.float32), "log_threshold": jnp.full(max_dict, np.log(S.THRESHOLD_INIT))}


def oracle(truth: np.ndarray, max_dict: int, threshold: float = 0.3, exact: bool = False) -> dict:
    """`exact` (no more features than dimensions): the encoder is the truth's pseudo-inverse, so the
    codes are the true coefficients (above the threshold) and reconstruction is exact at threshold 0."""
    truth = np.asarray(truth)
    return _sae(truth, max_dict, threshold, np.linalg.pinv(truth) if exact else None)


def merged(truth: np.ndarray, max_dict: int, threshold: float = 0.3) -> dict:
    pairs = np.asarray(truth)[0::2] + np.asarray(truth)[1::2]
    return _sae(pairs / np.linalg.norm(pairs, axis=1, keepdims=True), max_dict, threshold)


def dropping(truth: np.ndarray, size: int, max_dict: int, threshold: float = 0.3) -> dict:
    return _sae(np.asarray(truth)[:size], max_dict, threshold)


def random(key: jax.Array, d: int, max_dict: int) -> dict:
    return S.init_params(key, d, max_dict)


def with_dead(params: dict, dead: int) -> dict:
    """The SAE with its first `dead` latents never firing."""
    return {**params, "b_enc": params["b_enc"].at[:dead].set(-1e6)}


def stack(saes: list[dict]) -> dict:
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *saes)

"""Population statistics over seeds: how often something happens, with a 95% Wilson interval,
and the median (or mean) of a quantity, with a bootstrap interval. Thin wrappers over scipy.stats, so that
every toy states its intervals the same way."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point estimate and its 95% interval (nan where there is nothing to estimate from)."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}] (n={self.n})"


def proportion(successes: int, n: int) -> Estimate:
    """successes / n with its 95% Wilson score interval (good at 0/n and n/n, unlike the normal one)."""
    if n == 0:
        return Estimate(np.nan, np.nan, np.nan, 0)
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(LEVEL, method="wilson")
    return Estimate(successes / n, float(ci.low), float(ci.high), int(n))


def median(values, resamples: int = 2000, seed: int = 0) -> Estimate:
    """The median of the finite values with a 95% percentile-bootstrap interval; with a single
    value the interval is that value, since one seed says nothing of the spread."""
    return _bootstrap(values, np.median, resamples, seed)


def mean(values, resamples: int = 2000, seed: int = 0) -> Estimate:
    """The mean of the finite values with a 95% percentile-bootstrap interval."""
    return _bootstrap(values, np.mean, resamples, seed)


def _bootstrap(values, statistic, resamples: int, seed: int) -> Estimate:
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Estimate(np.nan, np.nan, np.nan, 0)
    if x.size == 1 or np.all(x == x[0]):
        return Estimate(float(x[0]), float(x[0]), float(x[0]), int(x.size))
    ci = stats.bootstrap((x,), statistic, confidence_level=LEVEL, n_resamples=resamples, method="percentile",
                         rng=np.random.default_rng(seed)).confidence_interval
    return Estimate(float(statistic(x)), float(ci.low), float(ci.high), int(x.size))

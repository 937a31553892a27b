"""Population statistics: known values of the Wilson interval, and a bootstrap interval that
covers the median of the population it samples."""

import numpy as np

from toymodels.stats import mean, median, proportion


def test_wilson_interval_known_values():
    e = proportion(49, 50)  # the paper's sign count for S5
    assert e.value == 0.98 and abs(e.low - 0.8950) < 1e-3 and abs(e.high - 0.9965) < 1e-3
    zero = proportion(0, 50)
    assert zero.low == 0 and abs(zero.high - 0.0713) < 1e-3  # never [0, 0]: 50 seeds do not prove "never"
    assert np.isnan(proportion(0, 0).value)


def test_bootstrap_median_interval_covers_and_narrows():
    rng = np.random.default_rng(1)
    small, large = median(rng.exponential(1.0, 20)), median(rng.exponential(1.0, 2000))
    true = np.log(2)  # the median of Exp(1)
    assert small.low <= true <= small.high and large.low <= true <= large.high
    assert large.high - large.low < small.high - small.low
    assert median([np.nan, 3.0]).n == 1 and median([3.0, 3.0]).low == 3.0 and np.isnan(median([]).value)


def test_bootstrap_mean_interval_covers_the_mean():
    e = mean(np.random.default_rng(2).normal(2.9, 1.0, 50))
    assert e.low < 2.9 < e.high and e.high - e.low < 1.0 and e.n == 50

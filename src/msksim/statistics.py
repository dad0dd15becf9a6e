"""Statistics over replications: intervals, what common random numbers buy, how many runs.

- `t_interval`: mean and 95% t-interval of the mean.
- `crn_gain`: for each figure and scenario, the half-width of the paired difference from the
  baseline (the same seeds in both) against the half-width independent runs would give
  (Welch's interval from the same runs' spreads). The ratio is the variance reduction that
  common random numbers buy (Law & Kelton, *Simulation Modeling and Analysis*, ch. 11).
- `replications_needed`: the smallest n whose t-interval half-width, at the observed spread,
  reaches a chosen precision.
- `verdict`: a difference in one word, for tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["section", "measure", "unit"]
_NAN5 = (0, math.nan, math.nan, math.nan, math.nan)


def t_interval(values) -> tuple[int, float, float, float, float]:
    """n, mean, sd and the 95% t-interval of the mean (NaN where it cannot be computed)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return _NAN5
    mean = float(v.mean())
    if n == 1:
        return 1, mean, math.nan, math.nan, math.nan
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def welch_half_width(a: np.ndarray, b: np.ndarray) -> float:
    """Half-width of the 95% interval of mean(a) − mean(b) for independent samples."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se2 = va + vb
    if se2 == 0:
        return 0.0
    df = se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1)) if va > 0 or vb > 0 else na + nb - 2
    return float(stats.t.ppf(0.975, df)) * math.sqrt(se2)


def crn_gain(runs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per (scenario, figure): paired and unpaired 95% half-widths of the difference from the
    baseline, and how much narrower pairing makes it (%)."""
    base = runs[runs["scenario"] == baseline]
    rows = []
    for sc in runs["scenario"].unique():
        if sc == baseline:
            continue
        pairs = runs[runs["scenario"] == sc].merge(base, on=[*KEYS, "replication"],
                                                   suffixes=("", "_base"))
        for key, g in pairs.groupby(KEYS, sort=False):
            ok = np.isfinite(g["value"]) & np.isfinite(g["value_base"])
            a, b = g.loc[ok, "value"].to_numpy(), g.loc[ok, "value_base"].to_numpy()
            if len(a) < 2:
                continue
            _, _, _, lo, hi = t_interval(a - b)
            paired = (hi - lo) / 2
            unpaired = welch_half_width(a, b)
            gain = 100 * (1 - paired / unpaired) if unpaired > 0 else math.nan
            rows.append((sc, baseline, *key, len(a), paired, unpaired, gain))
    return pd.DataFrame(rows, columns=["scenario", "baseline", *KEYS, "n", "paired_half_width",
                                       "unpaired_half_width", "narrower_pct"])


def replications_needed(sd: float, half_width: float, n_max: int = 10_000) -> int | None:
    """The fewest replications whose 95% t-interval half-width is at most `half_width`."""
    if not (np.isfinite(sd) and np.isfinite(half_width)) or half_width <= 0:
        return None
    if sd == 0:
        return 2
    n = 2
    while n <= n_max:
        if stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) <= half_width:
            return n
        # jump close to the normal-theory answer, then step
        n = max(n + 1, int((1.96 * sd / half_width) ** 2) if n == 2 else n + 1)
    return None


def verdict(n: int, mean_diff: float, sd_diff: float, ci_low: float, ci_high: float) -> str:
    """A difference in one word: "higher" or "lower" when its 95% interval excludes zero,
    else "no clear difference" (or "identical", "one replication: no interval", "no data")."""
    if n == 0 or not np.isfinite(mean_diff):
        return "no data"
    if mean_diff == 0 and (not np.isfinite(sd_diff) or sd_diff == 0):
        return "identical"
    if n > 1 and np.isfinite(ci_low) and np.isfinite(ci_high):
        if ci_low > 0 or ci_high < 0:
            return "higher" if mean_diff > 0 else "lower"
        return "no clear difference"
    return "one replication: no interval"

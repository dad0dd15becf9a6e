"""Explain a difference between two payment rules by mechanism.

A payment rule reaches behaviour only through the margins deciders see, and those reach
decisions through a few channels (`model.CHANNELS`: triage, follow_up, listing,
decision_support, capacity); the rule also moves the money itself (`payment`). Running the city
with each channel seeing either rule A or rule B — same seed, so the same people fall ill in the
same weeks — gives a value of every headline figure for every subset of mechanisms switched to B.
The Shapley value of each mechanism (its average marginal effect over all orders of switching)
splits the total difference B − A exactly: the contributions sum to it by construction.
`method="sequential"` switches mechanisms one at a time in the order given instead (M + 1 runs
rather than 2^M; the split then depends on the order).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd

from .config import CityConfig, ConfigError, check_rule_available
from .io import provenance
from .model import CHANNELS
from .results import KEYS
from .run import run_once

MECHANISMS: tuple[str, ...] = (*CHANNELS, "payment")

#: plain words for each mechanism, for tables people read
MECHANISM_LABELS = {
    "triage": "referral and triage (GP, hub, community routing; GP support; self-management)",
    "follow_up": "follow-up policy",
    "listing": "listing thresholds",
    "decision_support": "decision support",
    "capacity": "theatre capacity",
    "payment": "who is paid what (the money itself)",
}

def run_mix(cfg: CityConfig, base: str, other: str, switched: frozenset[str]) -> pd.DataFrame:
    """The headline table of one run with the mechanisms in `switched` seeing `other`."""
    contract = other if "payment" in switched else base
    channels = {ch: (other if ch in switched else base) for ch in CHANNELS}
    return run_once(cfg, contract, channels=channels).summary().set_index(KEYS)["value"]


def explain(cfg: CityConfig, base: str, other: str,
            mechanisms: tuple[str, ...] = MECHANISMS, method: str = "shapley",
            progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Split every headline figure's difference (other − base) among `mechanisms`.

    Returns one row per figure: the value under each rule, the total difference, one column
    per mechanism and `unexplained` (what the mechanisms left out carry, if some were left
    out; zero when all are included, up to rounding).
    """
    for rule in (base, other):
        check_rule_available(cfg, rule)
    bad = [m for m in mechanisms if m not in MECHANISMS]
    if bad or not mechanisms:
        raise ConfigError(f"--mechanisms: {bad or 'none'} not allowed; choose from "
                          f"{list(MECHANISMS)}")
    if method not in ("shapley", "sequential"):
        raise ConfigError(f"--method: {method!r} not allowed; choose shapley or sequential")
    mechs = tuple(dict.fromkeys(mechanisms))
    rest = frozenset(MECHANISMS) - set(mechs)  # left out: they stay at base throughout
    if method == "shapley":
        subsets = [frozenset(c) for k in range(len(mechs) + 1) for c in combinations(mechs, k)]
    else:
        subsets = [frozenset(mechs[:k]) for k in range(len(mechs) + 1)]
    subsets.append(frozenset(MECHANISMS))
    runs: dict[frozenset, pd.Series] = {}
    for i, s in enumerate(dict.fromkeys(subsets)):
        runs[s] = run_mix(cfg, base, other, s)
        if progress is not None:
            progress(i + 1, len(set(subsets)))
    table = pd.concat(runs, axis=1)
    f = {s: table[s].to_numpy(dtype=np.float64) for s in runs}
    m = len(mechs)
    out = pd.DataFrame(index=table.index)
    out[base] = f[frozenset()]
    out[other] = f[frozenset(MECHANISMS)]
    out["difference"] = out[other] - out[base]
    for j, mech in enumerate(mechs):
        contrib = np.zeros(len(table))
        if method == "shapley":
            others = [x for x in mechs if x != mech]
            for k in range(m):
                weight = factorial(k) * factorial(m - k - 1) / factorial(m)
                for c in combinations(others, k):
                    s = frozenset(c)
                    contrib += weight * (f[s | {mech}] - f[s])
        else:
            contrib = f[frozenset(mechs[: j + 1])] - f[frozenset(mechs[:j])]
        out[mech] = contrib
    out["unexplained"] = out["difference"] - out[list(mechs)].sum(axis=1)
    if not rest:
        out["unexplained"] = out["unexplained"].where(out["unexplained"].abs() > 1e-9, 0.0)
    out.attrs.update({"base": base, "other": other, "mechanisms": list(mechs),
                      "method": method, "runs": len(runs), "seed": cfg.run.seed,
                      **provenance()})
    return out.reset_index()


def format_explanation(table: pd.DataFrame, measures: list[str] | None = None) -> str:
    """The decomposition of chosen figures as plain text (all figures if none chosen)."""
    a = table.attrs
    mechs = a.get("mechanisms", [])
    sel = table
    if measures:
        keep = np.zeros(len(table), dtype=bool)
        for text in measures:
            keep |= table["measure"].str.contains(text, case=False, regex=False).to_numpy()
        sel = table[keep]
    lines = [f"What moved each figure from {a.get('base')} to {a.get('other')} "
             f"({a.get('method')} decomposition over {a.get('runs')} runs, seed "
             f"{a.get('seed')}):"]
    for _, row in sel.iterrows():
        if not np.isfinite(row["difference"]):
            continue
        lines.append(f"\n{row['measure']} ({row['unit']}): {row[a['base']]:,.3g} → "
                     f"{row[a['other']]:,.3g}, difference {row['difference']:+,.3g}")
        for mech in mechs:
            lines.append(f"    {MECHANISM_LABELS.get(mech, mech):<78}{row[mech]:+12,.3g}")
        if abs(row["unexplained"]) > 0:
            lines.append(f"    {'mechanisms left out':<78}{row['unexplained']:+12,.3g}")
    return "\n".join(lines)

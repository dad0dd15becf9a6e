"""`msksim calibrate`: fit the uncertain settings to published figures.

Targets are data (`configs/targets/*.yaml`): each a published figure with its tolerance,
source and weight, and how a run produces it (a row of the headline table, or a figure derived
here from the weekly table). The uncertain settings are declared with ranges in the config's
`calibration` section, on the command line (`--param path=low:high`), or taken from a built-in
set for the default city.

The optimiser is scipy's differential evolution, seeded, on the box of ranges, with the
starting population a Latin hypercube whose first member is the config's own values (so the
fit never ends worse than it began). Each evaluation averages `replications` runs with seeds
1..R, the same seeds for every evaluation (common random numbers), so the objective is a
deterministic function of the settings. The objective is the weighted mean of squared errors in
tolerance units, ((simulated - published) / tolerance)², over the targets the model produces: a
target is within tolerance exactly when its term is at most 1 (a missing figure counts 25).
"""

from __future__ import annotations

import argparse
import math
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .config import (
    BUILTIN_CONFIG,
    CONTRACT_RULES,
    ConfigError,
    deep_merge,
    read_yaml,
    setting_at,
    validate_config,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TARGETS = "configs/targets/sheffield.yaml"
MISSING_PENALTY = 25.0  # a figure the run did not produce counts as 5 tolerances off

#: the built-in uncertain settings, for a config whose calibration section names none (the
#: default city names the same ones): (path, low, high). Each is an assumption or an earlier
#: hand calibration, and each drives one or more targets; a path the config lacks is skipped.
DEFAULT_PARAMETERS: tuple[tuple[str, float, float], ...] = (
    # GP reluctance to refer straight to a clinic: GP-direct referrals and their conversion
    ("behaviour.gp_refer.friction_qaly.outpatient", 0.03, 0.12),
    # community MSK's bar for onward referral: triaged referrals' conversion, clinic volume
    ("behaviour.community_discharge.friction_qaly.outpatient", 0.03, 0.14),
    # the value of one more follow-up: discharge at first, follow-ups per first
    ("behaviour.follow_up_benefit_qaly", 0.015, 0.06),
    # hip and knee OA kept under review until ready for surgery: follow-ups per first
    ("conditions.hip_oa.follow_up_benefit_floor_qaly", 0.0, 0.06),
    ("conditions.knee_oa.follow_up_benefit_floor_qaly", 0.0, 0.06),
    # surgeons' bar for offering a joint replacement: hip and knee operations, gains, spend
    ("procedures.hip_replacement.offer_threshold_qaly", 1.5, 3.0),
    ("procedures.knee_replacement.offer_threshold_qaly", 1.0, 2.2),
    # health after a knee replacement: knee EQ-5D and Oxford gains, the share improved
    ("procedures.knee_replacement.post_op_eq5d_mean", 0.6, 0.75),
)


# ----------------------------------------------------------------------------------------------
# targets
# ----------------------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    value: float
    tolerance: float
    tolerance_type: str
    source: str
    measure: dict | None = None
    unit: str = ""
    weight: float = 1.0
    note: str = ""

    @property
    def band(self) -> float:
        """The tolerance in the figure's own unit."""
        return (self.tolerance * abs(self.value) if self.tolerance_type == "relative"
                else self.tolerance)

    @property
    def tolerance_text(self) -> str:
        if self.tolerance_type == "relative":
            return f"±{100 * self.tolerance:g}%"
        return f"±{self.tolerance:g}"

    @property
    def produced(self) -> bool:
        return self.measure is not None


def resolve_targets_path(text: str, config_path: str | Path | None = None) -> Path:
    """The targets file: as given, or relative to the config file, the working folder or the
    repository."""
    p = Path(text)
    candidates = [p] if p.is_absolute() else (
        ([Path(config_path).parent / p] if config_path else []) + [Path.cwd() / p, REPO / p])
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"--targets: {text!r} not found (looked in "
                      f"{', '.join(str(c.parent) for c in candidates)})")


def load_targets(path: str | Path) -> list[Target]:
    """Read a targets file, with a one-line ConfigError naming the target and field."""
    data = read_yaml(path)
    items = data.get("targets")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"targets: {str(path)!r} needs a non-empty list 'targets'")
    out, names = [], set()
    for i, item in enumerate(items):
        where = f"targets.{i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a mapping")
        for key in ("name", "value", "tolerance", "source"):
            if item.get(key) in (None, ""):
                raise ConfigError(f"{where}.{key}: required")
        unknown = set(item) - {"name", "measure", "unit", "value", "tolerance",
                               "tolerance_type", "source", "weight", "note"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown field")
        kind = item.get("tolerance_type", "relative")
        if kind not in ("relative", "absolute"):
            raise ConfigError(f"{where}.tolerance_type: {kind!r}; allowed: relative, absolute")
        measure = item.get("measure")
        if measure is not None:
            ok = isinstance(measure, dict) and len(measure) == 1 and (
                ("derived" in measure and measure["derived"] in DERIVED)
                or ("summary" in measure and isinstance(measure["summary"], list)
                    and len(measure["summary"]) == 2))
            if not ok:
                raise ConfigError(f"{where}.measure: {measure!r}; give summary: [section, "
                                  f"measure], derived: one of {sorted(DERIVED)}, or null")
        try:
            t = Target(name=str(item["name"]), value=float(item["value"]),
                       tolerance=float(item["tolerance"]), tolerance_type=kind,
                       source=str(item["source"]), measure=measure,
                       unit=str(item.get("unit", "")), weight=float(item.get("weight", 1.0)),
                       note=str(item.get("note", "")))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: value, tolerance and weight must be numbers") from None
        if t.band <= 0 or t.weight < 0:
            raise ConfigError(f"{where}.tolerance: must be above 0 (and weight not negative)")
        if t.name in names:
            raise ConfigError(f"{where}.name: {t.name!r} appears twice")
        names.add(t.name)
        out.append(t)
    return out


# ----------------------------------------------------------------------------------------------
# figures derived from a run
# ----------------------------------------------------------------------------------------------
def _total(weekly: pd.DataFrame, metric: str, **where: Any) -> float:
    sel = weekly["metric"] == metric
    for col, val in where.items():
        if col not in weekly:
            return 0.0
        sel &= weekly[col].isin(val) if isinstance(val, (list, set, tuple)) else \
            weekly[col] == val
    return float(weekly.loc[sel, "value"].sum())


def _ratio(a: float, b: float, times: float = 1.0) -> float:
    return times * a / b if b > 0 else float("nan")


def _ortho_clinics(meta: dict) -> list[str]:
    services = meta["config"]["services"]
    return [n for n, s in services.items() if s.get("kind") == "outpatient"
            and s.get("specialty") == "orthopaedics" and s.get("enabled", True)]


def _triage_sources(meta: dict) -> list[str]:
    return [n for n, s in meta["config"]["services"].items() if s.get("kind") in
            ("community", "hub")]


def _listed_per_first(w: pd.DataFrame, meta: dict, sources: list[str]) -> float:
    clinics = _ortho_clinics(meta)
    return _ratio(_total(w, "new_listed_by_source", service=clinics, source=sources),
                  _total(w, "new_first_attendances_by_source", service=clinics, source=sources),
                  100)


def _entering_care_beyond_gp(w: pd.DataFrame, meta: dict) -> float:
    """People starting care beyond the GP: first attendances at community MSK and the hub,
    and first attendances at specialist clinics of people not sent there by one of those
    (so someone seen in community MSK and then in a clinic counts once). A referral nobody
    attends (recovered while waiting, missed and sent back) is no one treated. With a hub, a
    person triaged there and then seen in community MSK still counts twice."""
    triage = _triage_sources(meta)
    clinics = [n for n, s in meta["config"]["services"].items()
               if s.get("kind") == "outpatient" and s.get("enabled", True)]
    clinic_firsts = _total(w, "new_first_attendances", service=clinics)
    via_triage = _total(w, "new_first_attendances_by_source", service=clinics, source=triage)
    return _total(w, "new_first_attendances", service=triage) + clinic_firsts - via_triage


def _consulters_per_10k_adults(w: pd.DataFrame, conditions: list[str]) -> float:
    """People consulting their GP a year about these conditions, per 10,000 adults: each
    person once a year for each condition (someone consulting about knee OA and other knee
    pain in a year counts under both; Jordan 2010 counts a person once per body region)."""
    weeks = int(w["week"].max()) + 1 if len(w) else 0
    adults = _total(w, "n_adults") / max(weeks, 1)
    return _ratio(_total(w, "new_gp_condition_consulters", condition=conditions) * 52.0
                  / max(weeks, 1), adults, 10_000)


#: the model's conditions behind the published regional consulter counts (Jordan 2010)
BACK_CONDITIONS = ["back_pain"]
KNEE_CONDITIONS = ["knee_oa", "knee_pain"]


def _per_procedure(w: pd.DataFrame, metric: str, procedure: str, times: float = 1.0) -> float:
    return _ratio(_total(w, metric, procedure=procedure),
                  _total(w, "new_outcomes", procedure=procedure), times)


def _admitted_spend_share(w: pd.DataFrame, ledger: pd.DataFrame, meta: dict) -> float:
    paid = ledger[ledger["payer"] == "commissioner"] if len(ledger) else ledger
    if not len(paid):
        return float("nan")
    ops = paid.loc[paid["activity"].str.startswith("procedure"), "amount_gbp"].sum()
    return _ratio(ops, paid["amount_gbp"].sum(), 100)


DERIVED = {
    "back_pain_consulters_per_10k_adults": lambda w, led, m: _consulters_per_10k_adults(
        w, BACK_CONDITIONS),
    "knee_consulters_per_10k_adults": lambda w, led, m: _consulters_per_10k_adults(
        w, KNEE_CONDITIONS),
    "ortho_follow_ups_per_first": lambda w, led, m: _ratio(
        _total(w, "new_follow_up_attendances", service=_ortho_clinics(m)),
        _total(w, "new_first_attendances", service=_ortho_clinics(m))),
    "ortho_discharged_at_first_pct": lambda w, led, m: _ratio(
        _total(w, "new_discharged_at_first", service=_ortho_clinics(m)),
        _total(w, "new_first_attendances", service=_ortho_clinics(m)), 100),
    "ortho_listed_per_first_gp_pct": lambda w, led, m: _listed_per_first(w, m, ["gp"]),
    "ortho_listed_per_first_triaged_pct": lambda w, led, m: _listed_per_first(
        w, m, _triage_sources(m)),
    "eq5d_gain_hip": lambda w, led, m: _per_procedure(w, "sum_eq5d_gain", "hip_replacement"),
    "eq5d_gain_knee": lambda w, led, m: _per_procedure(w, "sum_eq5d_gain", "knee_replacement"),
    "improved_pct_hip": lambda w, led, m: _per_procedure(w, "new_improved", "hip_replacement",
                                                         100),
    "improved_pct_knee": lambda w, led, m: _per_procedure(w, "new_improved",
                                                          "knee_replacement", 100),
    "beyond_primary_care_pct": lambda w, led, m: _ratio(
        _entering_care_beyond_gp(w, m), _total(w, "new_gp_consulters"), 100),
    "admitted_pct": lambda w, led, m: _ratio(_total(w, "new_procedures"),
                                             _total(w, "new_gp_consulters"), 100),
    "admitted_spend_share_pct": _admitted_spend_share,
}


def measure_run(result, targets: list[Target]) -> dict[str, float]:
    """Each produced target's figure from one run."""
    summary = result.summary()
    table = {(r.section, r.measure): r.value for r in summary.itertuples()}
    out = {}
    for t in targets:
        if t.measure is None:
            continue
        if "summary" in t.measure:
            out[t.name] = float(table.get(tuple(t.measure["summary"]), float("nan")))
        else:
            out[t.name] = float(DERIVED[t.measure["derived"]](result.weekly, result.ledger,
                                                              result.meta))
    return out


# ----------------------------------------------------------------------------------------------
# parameters and evaluations
# ----------------------------------------------------------------------------------------------
@dataclass
class Parameter:
    path: str
    low: float
    high: float
    start: float = 0.0
    integer: bool = False


def parse_param(text: str) -> tuple[str, float, float]:
    """`path=low:high` → (path, low, high), with a one-line ConfigError."""
    try:
        path, rng = text.split("=", 1)
        low, high = (float(v) for v in rng.split(":"))
    except ValueError:
        raise ConfigError(f"--param: {text!r} should look like path=low:high, e.g. "
                          f"behaviour.follow_up_benefit_qaly=0.02:0.1") from None
    if not path.strip():
        raise ConfigError(f"--param: {text!r} names no setting")
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ConfigError(f"--param {path}: low {low:g} must be below high {high:g}")
    return path.strip(), low, high


def resolve_parameters(cfg, declared: list[tuple[str, float, float]]) -> list[Parameter]:
    """Check each path names a number setting of `cfg` and note its current value."""
    out = []
    for path, low, high in declared:
        try:
            value = setting_at(cfg, path)
        except KeyError:
            raise ConfigError(f"--param {path}: not a setting of this config") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"--param {path}: not a number setting")
        out.append(Parameter(path, low, high, start=float(value),
                             integer=isinstance(value, int)))
    if len({p.path for p in out}) < len(out):
        raise ConfigError("--param: a setting is named twice")
    return out


def _rounded(p: Parameter, v: float) -> float | int:
    v = min(max(float(v), p.low), p.high)
    return int(round(v)) if p.integer else float(f"{v:.4g}")


def overlay_for(params: list[Parameter], x) -> dict:
    """The config overlay that sets each parameter to its value in `x`."""
    out: dict = {}
    for p, v in zip(params, x, strict=True):
        node = out
        parts = p.path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _rounded(p, v)
    return out


def _simulate(task: tuple) -> dict[str, float]:
    """One run (in a worker process): the base config with an overlay, one seed."""
    from .run import run_once

    data, overlay, seed, contract, targets = task
    cfg = validate_config(deep_merge(deep_merge(data, overlay), {"run": {"seed": seed}}))
    return measure_run(run_once(cfg, contract), targets)


def objective(figures: dict[str, float], targets: list[Target]) -> float:
    """Weighted mean of squared errors in tolerance units over the produced targets."""
    total = weights = 0.0
    for t in targets:
        if not t.produced or t.weight <= 0:
            continue
        v = figures.get(t.name, float("nan"))
        z2 = ((v - t.value) / t.band) ** 2 if math.isfinite(v) else MISSING_PENALTY
        total += t.weight * z2
        weights += t.weight
    return total / weights if weights else 0.0


@dataclass
class Calibration:
    """Runs evaluations of the model, caching them and counting runs against the budget."""

    data: dict
    params: list[Parameter]
    targets: list[Target]
    replications: int
    contract: str = "pbr"
    workers: int = 2
    progress: Any = None
    cache: dict = field(default_factory=dict)
    trace: list = field(default_factory=list)
    runs_done: int = 0
    runs_total: int = 0

    def key(self, x) -> tuple:
        return tuple(_rounded(p, v) for p, v in zip(self.params, x, strict=True))

    def evaluate_many(self, xs) -> list[float]:
        keys = [self.key(x) for x in xs]
        new = list(dict.fromkeys(k for k in keys if k not in self.cache))
        tasks = [(self.data, overlay_for(self.params, k), seed, self.contract, self.targets)
                 for k in new for seed in range(1, self.replications + 1)]
        results: list = []
        if self.workers > 1 and len(tasks) > 1:
            # spawn, not fork: the parent may hold threads (as in experiment.py)
            with ProcessPoolExecutor(max_workers=self.workers,
                                     mp_context=get_context("spawn")) as pool:
                for r in pool.map(_simulate, tasks):
                    results.append(r)
                    self._tick()
        else:
            for task in tasks:
                results.append(_simulate(task))
                self._tick()
        for i, k in enumerate(new):
            reps = results[i * self.replications:(i + 1) * self.replications]
            figures = {t.name: _mean_of_reps([r.get(t.name, np.nan) for r in reps])
                       for t in self.targets if t.produced}
            f = objective(figures, self.targets)
            self.cache[k] = (f, figures)
            self.trace.append({"evaluation": len(self.trace) + 1,
                               "parameters": dict(zip([p.path for p in self.params], k,
                                                      strict=True)),
                               "objective": f})
        return [self.cache[k][0] for k in keys]

    def _tick(self) -> None:
        self.runs_done += 1
        if self.progress is not None:
            self.progress(self.runs_done, self.runs_total)

    def map(self, func, xs) -> list[float]:  # scipy's `workers` hook: one generation at once
        return self.evaluate_many(list(xs))

    def best(self) -> tuple:
        return min(self.cache, key=lambda k: self.cache[k][0])


def _mean_of_reps(values: list[float]) -> float:
    """The mean over replications of those that produced the figure (a small run may have no
    knee outcomes, say); missing only when none did."""
    v = np.asarray(values, dtype=float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else math.nan


def population_plan(budget: int, dim: int) -> tuple[int, int]:
    """(population size, generations after the first) for differential evolution."""
    if budget < 5:
        raise ConfigError(f"--budget: {budget} is too few; differential evolution needs at "
                          f"least 5 evaluations")
    size = max(5, min(budget // 5, 5 * dim))
    return size, (budget - size) // size


def fit(cal: Calibration, budget: int, seed: int) -> dict:
    """Differential evolution on the box of ranges; the config's values start it."""
    from scipy.optimize import differential_evolution
    from scipy.stats import qmc

    dim = len(cal.params)
    size, generations = population_plan(budget, dim)
    lo = np.array([p.low for p in cal.params])
    hi = np.array([p.high for p in cal.params])
    init = qmc.scale(qmc.LatinHypercube(d=dim, seed=seed).random(size), lo, hi)
    init[0] = np.clip([p.start for p in cal.params], lo, hi)
    cal.runs_total = size * (generations + 1) * cal.replications
    start = cal.key(init[0])
    if generations == 0:  # the first population is the whole budget
        cal.evaluate_many(list(init))
    else:
        differential_evolution(
            lambda x: cal.evaluate_many([x])[0], list(zip(lo, hi, strict=True)), init=init,
            maxiter=generations, seed=seed, polish=False, updating="deferred",
            workers=cal.map, mutation=(0.5, 1.0), recombination=0.7, tol=0.0)
    best = cal.best()
    return {"start": start, "best": best, "population": size, "generations": generations}


# ----------------------------------------------------------------------------------------------
# outputs
# ----------------------------------------------------------------------------------------------
NOT_PRODUCED = "not produced by the model"


def fit_table(targets: list[Target], before: dict, after: dict) -> pd.DataFrame:
    rows = []
    for t in targets:
        b, a = before.get(t.name, np.nan), after.get(t.name, np.nan)

        def within(v: float, t: Target = t) -> str:
            if not t.produced:
                return NOT_PRODUCED
            return "yes" if math.isfinite(v) and abs(v - t.value) <= t.band else "no"

        rows.append({"target": t.name, "unit": t.unit, "published": t.value,
                     "tolerance": t.tolerance_text, "simulated_before": b,
                     "simulated_after": a, "within_before": within(b),
                     "within_after": within(a), "weight": t.weight, "source": t.source,
                     "note": t.note})
    return pd.DataFrame(rows)


def format_fit(table: pd.DataFrame) -> str:
    from .results import fmt_number

    width = min(70, max(len(t) for t in table["target"]) + 2)
    lines = [f"{'target':<{width}}{'published':>11}{'tolerance':>11}{'before':>10}"
             f"{'after':>10}  within (before → after)"]
    for r in table.itertuples():
        name = r.target if len(r.target) <= width - 2 else r.target[:width - 3] + "…"
        if r.within_after == NOT_PRODUCED:
            lines.append(f"{name:<{width}}{fmt_number(r.published):>11}{r.tolerance:>11}"
                         f"{'–':>10}{'–':>10}  {NOT_PRODUCED}")
            continue
        lines.append(f"{name:<{width}}{fmt_number(r.published):>11}{r.tolerance:>11}"
                     f"{fmt_number(r.simulated_before):>10}{fmt_number(r.simulated_after):>10}"
                     f"  {r.within_before} → {r.within_after}")
    produced = table[table["within_after"] != NOT_PRODUCED]
    lines.append(f"\nWithin tolerance: {(produced['within_before'] == 'yes').sum()} of "
                 f"{len(produced)} produced targets before, "
                 f"{(produced['within_after'] == 'yes').sum()} after; "
                 f"{len(table) - len(produced)} not produced by the model.")
    return "\n".join(lines)


def plot_fit(table: pd.DataFrame, targets: list[Target], path: Path) -> None:
    """Each target's simulated figure as % off the published one, with its tolerance band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_write

    n = len(table)
    fig, ax = plt.subplots(figsize=(10, 0.5 * n + 1.6))
    for i, (r, t) in enumerate(zip(table.itertuples(), targets, strict=True)):
        y = n - 1 - i
        band = 100 * t.band / abs(t.value) if t.value else 0.0
        ax.add_patch(plt.Rectangle((-band, y - 0.3), 2 * band, 0.6, color="0.85", lw=0))
        if not t.produced:
            ax.text(0, y, NOT_PRODUCED, ha="center", va="center", fontsize=7, color="0.4")
            continue
        for v, style in ((r.simulated_before, dict(marker="o", mfc="none", mec="tab:red")),
                         (r.simulated_after, dict(marker="o", color="tab:blue"))):
            if math.isfinite(v) and t.value:
                ax.plot([100 * (v - t.value) / abs(t.value)], [y], ls="none", ms=7, **style)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(n))
    # long names on two lines at most, so the figure keeps them whole
    ax.set_yticklabels(["\n".join(textwrap.wrap(f"{r.target} ({fmt(r.published)})", 52,
                                                 max_lines=2, placeholder=" …"))
                        for r in table.itertuples()][::-1], fontsize=7)
    ax.set_xlabel("simulated vs published (% of the published figure); grey = tolerance")
    lim = max(50.0, *(abs(x) for x in ax.get_xlim()))
    ax.set_xlim(-min(lim, 200), min(lim, 200))
    ax.plot([], [], "o", mfc="none", mec="tab:red", label="before")
    ax.plot([], [], "o", color="tab:blue", label="after")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Calibration fit")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def fmt(x: float) -> str:
    from .results import fmt_number

    return fmt_number(x)


# ----------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------
def add_parser(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="fit the uncertain settings to published figures and write a "
        "calibrated overlay",
        description="Fit the config's uncertain settings (its calibration section, --param, or "
                    "a built-in set for the default city) to published targets with "
                    "differential evolution, averaging replications with the same seeds for "
                    "every evaluation; write fit.csv, fit.png, calibrated.yaml (an overlay for "
                    "`msksim run --overlay`) and calibration.json.")
    p.add_argument("--config", metavar="FILE",
                   help="city config (YAML); default: the built-in Sheffield city")
    p.add_argument("--overlay", metavar="FILE", action="append", default=[],
                   help="a scenario applied before fitting (repeatable)")
    p.add_argument("--targets", metavar="FILE",
                   help=f"targets file (default: the config's calibration.targets or "
                        f"{DEFAULT_TARGETS})")
    p.add_argument("--param", metavar="PATH=LOW:HIGH", action="append", default=[],
                   help="an uncertain setting and its range (repeatable; replaces the "
                        "config's and the built-in set)")
    p.add_argument("--replications", type=int, metavar="N", help="runs per evaluation")
    p.add_argument("--scale", type=float, metavar="F", help="fraction of the population")
    p.add_argument("--years", type=int, metavar="N", help="contract years per run")
    p.add_argument("--budget", type=int, metavar="N", help="model evaluations to spend")
    p.add_argument("--seed", type=int, metavar="S", help="the optimiser's seed")
    p.add_argument("--contract", choices=CONTRACT_RULES, default="pbr",
                   help="payment rule the targets were observed under (default pbr)")
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="processes running the model (default 2)")
    p.add_argument("--out", metavar="DIR", default="calibration",
                   help="folder for the outputs (default ./calibration)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .io import provenance, write_csv, write_json

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {args.out!r} is a file; give a folder for the results")
    data = read_yaml(args.config if args.config else BUILTIN_CONFIG)
    for overlay in args.overlay:
        data = deep_merge(data, read_yaml(overlay))
    cfg = validate_config(data)
    cal_cfg = cfg.calibration
    settings = {k: getattr(args, k) if getattr(args, k) is not None else getattr(cal_cfg, k)
                for k in ("replications", "scale", "years", "budget", "seed")}
    for k, low in (("replications", 1), ("years", 1), ("budget", 5), ("workers", 1)):
        v = settings.get(k, getattr(args, k, None))
        if v < low:
            raise ConfigError(f"--{k}: {v} must be at least {low}")
    if not 0 < settings["scale"] <= 10:
        raise ConfigError(f"--scale: {settings['scale']} must be above 0 and at most 10")
    if args.param:
        declared = [parse_param(t) for t in args.param]
    elif cal_cfg.parameters:
        declared = [(p.path, p.low, p.high) for p in cal_cfg.parameters]
    else:
        declared = []
        for path, low, high in DEFAULT_PARAMETERS:
            try:
                setting_at(cfg, path)
                declared.append((path, low, high))
            except KeyError:
                continue
        if not declared:
            raise ConfigError("--param: this config has none of the built-in uncertain "
                              "settings; name some with --param path=low:high")
    params = resolve_parameters(cfg, declared)
    own_city = (args.config and Path(args.config).resolve() != BUILTIN_CONFIG.resolve())
    if own_city and not args.targets and "targets" not in cal_cfg.model_fields_set:
        raise ConfigError(f"calibration.targets: {args.config} names no targets file and "
                          f"Sheffield's would not fit another city; give the city's own "
                          f"(--targets FILE or calibration.targets in the config)")
    targets_text = args.targets or cal_cfg.targets
    targets_path = resolve_targets_path(targets_text, args.config)
    targets = load_targets(targets_path)
    run = {"scale": settings["scale"], "years": settings["years"]}
    data = deep_merge(data, {"run": run})
    data.pop("calibration", None)
    validate_config(data)  # the scale and years give a valid config
    for end in ("low", "high"):  # every range's ends are settings the config accepts
        try:
            validate_config(deep_merge(data, overlay_for(params, [getattr(p, end)
                                                                  for p in params])))
        except ConfigError as exc:
            raise ConfigError(f"--param: at the {end} end of the ranges the config is not "
                              f"valid: {exc}") from None

    from .progress import ProgressBar

    bar = ProgressBar(not args.quiet, desc="calibration runs")
    cal = Calibration(data, params, targets, settings["replications"], args.contract,
                      max(1, args.workers), progress=bar)
    t0 = time.perf_counter()
    try:
        res = fit(cal, settings["budget"], settings["seed"])
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    f0, before = cal.cache[res["start"]]
    f1, after = cal.cache[res["best"]]
    table = fit_table(targets, before, after)
    overlay = overlay_for(params, res["best"])
    out.mkdir(parents=True, exist_ok=True)
    write_csv(table, out / "fit.csv")
    plot_fit(table, targets, out / "fit.png")
    from .io import atomic_write

    header = (f"# msksim calibrate: fitted settings for {cfg.name} (objective {f0:.3g} → "
              f"{f1:.3g}); use with `msksim run --overlay`\n")
    atomic_write(out / "calibrated.yaml", lambda p: p.write_text(
        header + yaml.safe_dump(overlay, sort_keys=False)))
    write_json({
        **provenance(),
        "config": str(args.config or "built-in Sheffield"), "overlays": list(args.overlay),
        "targets_file": str(targets_path), "contract": args.contract,
        "optimiser": "scipy.optimize.differential_evolution (Latin-hypercube start with the "
                     "config's values as its first member, deferred updating, no polish)",
        "objective": "weighted mean over produced targets of ((simulated - published) / "
                     "tolerance)^2; a missing figure counts 25",
        "seed": settings["seed"], "replication_seeds": list(range(1, cal.replications + 1)),
        "scale": settings["scale"], "years": settings["years"],
        "budget": settings["budget"], "evaluations": len(cal.cache), "runs": cal.runs_done,
        "population": res["population"], "generations": res["generations"],
        "wall_seconds": round(wall, 1),
        "parameters": [{"path": p.path, "low": p.low, "high": p.high, "before": s, "after": a}
                       for p, s, a in zip(params, res["start"], res["best"], strict=True)],
        "objective_before": f0, "objective_after": f1,
        "figures_before": before, "figures_after": after,
        "trace": cal.trace,
    }, out / "calibration.json")
    if not args.quiet:
        print(f"{cfg.name}: {len(cal.cache)} evaluations × {cal.replications} replications "
              f"(scale {settings['scale']}, {settings['years']} years, {args.contract}) in "
              f"{wall / 60:.1f} min; objective {f0:.3g} → {f1:.3g}")
        for p, s, a in zip(params, res["start"], res["best"], strict=True):
            print(f"  {p.path}: {s:g} → {a:g}  (range {p.low:g} to {p.high:g})")
        print()
        print(format_fit(table))
        print(f"\nWritten to {out}/ (fit.csv, fit.png, calibrated.yaml, calibration.json)")
    return 0


"""Capacity planning: how many theatre sessions a week hold the 18-week standard.

The question (Sheffield's planners): how many planned 4-hour elective theatre sessions a week
keep a target share (92%) of incomplete referral-to-treatment (RTT) pathways within 18 weeks in
every month, as the over-65s grow over the contract years?

Method
    * The searched quantity is one factor multiplying every enabled theatre's
      `sessions_per_week` (city-wide) or only those of one provider (`provider`). Answers are
      given in sessions a week at full scale (config values): `run.scale` scales capacity with
      the population, so a factor found on a fraction of the city holds for the whole city.
    * Sessions are held fixed: in every searched config the providers' theatre-sessions lever
      (`behaviour.adaptation.levers.theatre_sessions_factor`) is pinned at 1, and the scaled
      theatres' physical limit (`theatres`) is lifted so the search can say how far past it the
      answer lies.
    * "Reach and hold": the share within 18 weeks (city totals each week), averaged over each
      4-week month, is at least the target in every month from contract year `hold_from_year`
      (0-based) to the end of the run.
    * Per replication (seed = base seed + r), common random numbers make the result (nearly)
      monotone in sessions, so each seed's threshold is found by bisection on the factor to
      about `tolerance_sessions` sessions a week. Thresholds are then summarised over
      replications (median, mean, 95% t-interval, 2.5-97.5% range), and a curve of the worst
      month against sessions is drawn from a grid of factors.

Public API: `CapacitySpec`, `load_spec`, `prepare`, `searched_config`, `monthly_within_18`,
`evaluate`, `find_sessions` -> `CapacityResult`, `summary_text`, `plot_curve`, `write_outputs`,
and the CLI hooks `add_parser` / `cmd_capacity`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationError,
    model_validator,
)

from .config import (
    AGE_BAND_LOWER_YEARS,
    AGE_BANDS,
    CONTRACT_RULES,
    CityConfig,
    ConfigError,
    ContractRule,
    TheatreService,
    check_rule_available,
    load_config,
    read_yaml,
    validate_config,
)
from .io import atomic_write, provenance, write_csv, write_json
from .progress import ProgressBar
from .timeline import WEEKS_PER_YEAR

Overlay = dict[str, Any] | str
Progress = Callable[[int, int], None]

WITHIN = "n_within_18_weeks"
INCOMPLETE = "n_incomplete_pathways"
WEEKS_PER_MONTH = 4
#: the lowest factor tried when even the bottom of the bracket meets the target
FACTOR_FLOOR = 0.05
DEFAULT_OUT = "out/capacity"

CONTRACT_WORDS = {
    "pbr": "Payment by Results",
    "cobic": "a capitated outcome-based incentivised contract (COBIC)",
    "block": "block contracts",
    "blended": "a blended payment (fixed, activity and outcome)",
}


# ----------------------------------------------------------------------------------------------
# the question: CapacitySpec (a spec file and/or command-line flags)
# ----------------------------------------------------------------------------------------------
class CapacitySpec(BaseModel):
    """What to search and how. Every key can be given in a spec file or as a flag."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = "Theatre sessions for the 18-week standard"
    question: str = ""
    config: str | None = None  # city config file; None = the built-in Sheffield city
    overlays: list[Overlay] = []
    target_18wk: float = Field(0.92, gt=0.0, le=1.0)
    provider: str | None = None  # scale only this provider's theatres; None = city-wide
    contract: ContractRule | None = None  # payment rule; None = the config's contract.rule
    years: StrictInt = Field(5, ge=1, le=50)
    replications: StrictInt = Field(5, ge=1, le=1000)
    scale: float = Field(0.25, gt=0.0, le=10.0)
    seed: StrictInt | None = Field(None, ge=0, le=2**62)
    warmup_weeks: StrictInt | None = Field(None, ge=0, le=520)
    workers: StrictInt = Field(2, ge=1, le=256)
    hold_from_year: StrictInt = Field(1, ge=0, le=49)
    tolerance_sessions: float = Field(1.0, gt=0.0, le=1000.0)
    factor_low: float = Field(0.5, gt=0.0, lt=1.0)
    factor_high: float = Field(2.0, gt=1.0, le=100.0)
    factor_max: float = Field(8.0, gt=1.0, le=100.0)
    curve_points: StrictInt = Field(7, ge=0, le=50)
    out: str | None = None

    _labels: dict[str, str] = PrivateAttr(default_factory=dict)
    _source: tuple[str, str] | None = PrivateAttr(default=None)  # spec file: (path, text)

    @model_validator(mode="after")
    def _consistent(self) -> CapacitySpec:
        if self.hold_from_year >= self.years:
            raise ValueError(f"hold_from_year: {self.hold_from_year} must be below years "
                             f"({self.years}): the target is held from that contract year "
                             f"(0 = the first) to the end")
        if self.factor_max < self.factor_high:
            raise ValueError(f"factor_max: {self.factor_max} must be at least factor_high "
                             f"({self.factor_high})")
        return self

    def label(self, name: str) -> str:
        """How to name a setting in an error: the flag or the spec file's key it came from."""
        return self._labels.get(name, name)


#: what each setting allows, in words, for one-line error messages
ALLOWED = {
    "target_18wk": "a share above 0 and at most 1, e.g. 0.92",
    "years": "a whole number of contract years from 1 to 50",
    "replications": "a whole number of 1 or more (at most 1000)",
    "scale": "a fraction of the population above 0 (at most 10), e.g. 0.25",
    "seed": "a whole number of 0 or more",
    "warmup_weeks": "a whole number of weeks from 0 to 520",
    "workers": "a whole number of 1 or more",
    "hold_from_year": "a contract year from 0 (the first) up to years - 1",
    "tolerance_sessions": "sessions a week above 0, e.g. 1",
    "factor_low": "a factor above 0 and below 1, e.g. 0.5",
    "factor_high": "a factor above 1, e.g. 2",
    "factor_max": "a factor above 1 and at least factor_high, e.g. 8",
    "curve_points": "a whole number from 0 (no curve) to 50",
    "contract": f"one of {list(CONTRACT_RULES)}",
}


def _flag(name: str) -> str:
    return "--overlay" if name == "overlays" else "--" + name.replace("_", "-")


def _describe(err: dict, label: Callable[[str], str]) -> str:
    """One line for one problem: the setting, the value and what is allowed."""
    loc = [str(x) for x in err["loc"]]
    name = loc[0] if loc else ""
    if err["type"] == "extra_forbidden":
        return (f"{label(name)}: unknown setting; allowed: "
                f"{sorted(CapacitySpec.model_fields)}")
    if err["type"] == "missing":
        return f"{label(name)}: required setting is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):  # a cross-field check names its own field first
        msg = msg[len("Value error, "):]
        own, _, rest = msg.partition(": ")
        return f"{label(own)}: {rest}" if own in CapacitySpec.model_fields else msg
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    allowed = ALLOWED.get(name, msg)
    return f"{label(name)}: {shown} is not allowed; use {allowed}"


def _validate(data: dict, label: Callable[[str], str],
              fields_only: bool = False) -> CapacitySpec | None:
    """Validate into a CapacitySpec, raising a one-line ConfigError. `fields_only`: report
    problems with single settings only (checks between settings wait for the merged spec)."""
    try:
        return CapacitySpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if fields_only:
            errors = [e for e in errors if e["loc"]]
            if not errors:
                return None
        raise ConfigError(_describe(errors[0], label)) from None


def load_spec(path: str | Path | None = None,
              overrides: dict[str, Any] | None = None) -> CapacitySpec:
    """Read a spec file (optional) and apply overrides (e.g. command-line flags; None = unset).

    Paths in a spec file (`config`, `overlays`) are relative to the file; overlays given as
    overrides are applied after the file's own. Errors name the flag or the file's key.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None and v != []}
    _validate(given, _flag, fields_only=True)  # flags first, so errors name the flag
    data: dict[str, Any] = {}
    where = None
    if path is not None:
        p = Path(path)
        where = p.name
        data = read_yaml(p)
        _validate(data, lambda n: f"{where}: {n}", fields_only=True)
        folder = p.parent
        if data.get("config") is not None:
            data["config"] = _relative(data["config"], folder, f"{where}: config")
        data["overlays"] = [_relative(o, folder, f"{where}: overlays.{i}") if isinstance(o, str)
                            else o for i, o in enumerate(data.get("overlays") or [])]
    merged = {**data, **{k: v for k, v in given.items() if k != "overlays"}}
    merged["overlays"] = [*data.get("overlays", []), *given.get("overlays", [])]
    labels = {k: (_flag(k) if k in given else f"{where}: {k}" if where else k)
              for k in CapacitySpec.model_fields}
    spec = _validate(merged, lambda n: labels.get(n, n))
    assert spec is not None
    spec._labels = labels
    if path is not None:
        spec._source = (str(path), Path(path).read_text(encoding="utf-8"))
    return spec


def _relative(item: str, folder: Path, field_name: str) -> str:
    p = Path(item) if Path(item).is_absolute() else folder / item
    if not p.is_file():
        raise ConfigError(f"{field_name}: {item!r} is not a file (paths are relative to the "
                          f"spec file, {str(folder)!r})")
    return str(p)


# ----------------------------------------------------------------------------------------------
# the configs searched
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Theatre:
    """One theatre service the search scales, at today's plan (full scale)."""

    service: str
    label: str
    provider: str
    sessions_per_week: float
    theatres: int | None
    sessions_per_theatre_per_weekday: int

    @property
    def max_sessions(self) -> float | None:
        """The most sessions a week the site's theatres can hold (None = not limited)."""
        if self.theatres is None:
            return None
        return float(self.theatres * self.sessions_per_theatre_per_weekday * 5)


@dataclass
class Prepared:
    """A spec resolved against its city: the base config, the rule and the theatres scaled."""

    spec: CapacitySpec
    config: CityConfig  # run settings applied; sessions as planned today (factor 1)
    contract: str
    theatres: list[Theatre]
    seeds: list[int]

    @property
    def planned_sessions(self) -> float:
        return float(sum(t.sessions_per_week for t in self.theatres))

    @property
    def services(self) -> list[str]:
        return [t.service for t in self.theatres]


def prepare(spec: CapacitySpec) -> Prepared:
    """Load and check the city, the payment rule and the provider, running nothing."""
    from .contracts import RULES
    from .pathway import build_pathway

    run = {"years": spec.years, "scale": spec.scale}
    if spec.seed is not None:
        run["seed"] = spec.seed
    if spec.warmup_weeks is not None:
        run["warmup_weeks"] = spec.warmup_weeks
    cfg = load_config(spec.config, overlays=[*spec.overlays, {"run": run}])
    build_pathway(cfg)
    contract = spec.contract or cfg.contract.rule
    try:
        check_rule_available(cfg, contract)
    except ConfigError as exc:
        raise ConfigError(f"{spec.label('contract')}: {exc}") from None
    if contract not in RULES:
        raise ConfigError(f"{spec.label('contract')}: {contract!r} is not built into the model "
                          f"yet; available: {sorted(RULES)}")
    theatres = [s for s in cfg.services.items()
                if isinstance(s[1], TheatreService) and s[1].enabled]
    with_theatres = sorted({s.provider for _, s in theatres})
    if spec.provider is not None:
        if spec.provider not in with_theatres:
            what = ("is a provider without enabled theatres" if spec.provider in cfg.providers
                    else "is not a provider")
            raise ConfigError(f"{spec.label('provider')}: {spec.provider!r} {what}; allowed "
                              f"(providers with theatres): {with_theatres}")
        theatres = [(n, s) for n, s in theatres if s.provider == spec.provider]
    if not theatres:
        raise ConfigError(f"{spec.label('config')}: the city has no enabled theatre services "
                          f"to plan sessions for")
    scaled = [Theatre(n, s.label or n, s.provider, float(s.sessions_per_week), s.theatres,
                      s.sessions_per_theatre_per_weekday) for n, s in theatres]
    if sum(t.sessions_per_week for t in scaled) <= 0:
        raise ConfigError(f"{spec.label('provider')}: the theatres searched "
                          f"({[t.service for t in scaled]}) plan 0 sessions a week today, so "
                          f"there is nothing to scale")
    seeds = [cfg.run.seed + r for r in range(spec.replications)]
    return Prepared(spec=spec, config=cfg, contract=contract, theatres=scaled, seeds=seeds)


def searched_config(cfg: CityConfig, factor: float, services: list[str],
                    seed: int | None = None) -> CityConfig:
    """`cfg` with the listed theatres' planned sessions multiplied by `factor`, their physical
    limit (`theatres`) lifted, and every provider's theatre-sessions lever pinned at 1 (so
    sessions stay where the search puts them). Built from the config's dict and re-validated."""
    if not math.isfinite(factor) or factor < 0:
        raise ConfigError(f"factor: {factor} is not allowed; use 0 or more")
    data = cfg.model_dump()
    for name in services:
        svc = data["services"][name]
        svc["sessions_per_week"] = svc["sessions_per_week"] * factor
        svc["theatres"] = None
    lever = data["behaviour"]["adaptation"]["levers"]["theatre_sessions_factor"]
    lever.update(initial=1.0, low=1.0, high=1.0)
    if seed is not None:
        data["run"]["seed"] = seed
    return validate_config(data)


# ----------------------------------------------------------------------------------------------
# one run: the worst month of the hold period
# ----------------------------------------------------------------------------------------------
def monthly_within_18(weekly: pd.DataFrame, from_week: int = 0) -> pd.Series:
    """Share of incomplete RTT pathways within 18 weeks (city totals each week), averaged over
    each 4-week month from contract week `from_week`; indexed by contract month (0-based).
    A week with nobody waiting counts as everyone within 18 weeks."""
    sel = weekly[weekly["metric"].isin([WITHIN, INCOMPLETE])]
    tot = (sel.groupby(["week", "metric"])["value"].sum().unstack("metric")
           .reindex(columns=[WITHIN, INCOMPLETE], fill_value=0.0).fillna(0.0))
    inc = tot[INCOMPLETE].to_numpy(dtype=np.float64)
    share = np.where(inc > 0, tot[WITHIN].to_numpy(dtype=np.float64) / np.maximum(inc, 1), 1.0)
    weeks = tot.index.to_numpy()
    keep = weeks >= from_week
    s = pd.Series(share[keep], index=weeks[keep] // WEEKS_PER_MONTH)
    return s.groupby(level=0).mean().rename_axis("month")


@dataclass
class Evaluation:
    """One model run at one factor: the worst month of the hold period."""

    factor: float
    sessions: float  # sessions a week of the scaled theatres, full scale
    min_monthly_share: float
    worst_month: int  # 0-based contract month
    met: bool
    wall_seconds: float
    #: of the pathways over 18 weeks in the worst month, the share waiting for a theatre (the
    #: rest wait for clinics or the hub, which more sessions do not help); NaN if none
    over_18_at_theatres: float = math.nan


def evaluate(prep_cfg: CityConfig, contract: str, services: list[str], planned: float,
             factor: float, hold_from_week: int, target: float, seed: int) -> Evaluation:
    """Run the city at `factor` × today's sessions (one seed) and test the target."""
    from .run import run_once

    t0 = time.perf_counter()
    cfg = searched_config(prep_cfg, factor, services, seed=seed)
    weekly = run_once(cfg, contract).weekly
    monthly = monthly_within_18(weekly, hold_from_week)
    worst = float(monthly.min()) if len(monthly) else 1.0
    month = int(monthly.idxmin()) if len(monthly) else -1
    theatres = [n for n, s in cfg.services.items() if isinstance(s, TheatreService)]
    return Evaluation(factor=factor, sessions=factor * planned, min_monthly_share=worst,
                      worst_month=month, met=bool(worst >= target - 1e-12),
                      wall_seconds=round(time.perf_counter() - t0, 2),
                      over_18_at_theatres=_over_18_at(weekly, theatres, month))


def _over_18_at(weekly: pd.DataFrame, services: list[str], month: int) -> float:
    """Share of the pathways over 18 weeks in contract `month` that wait at `services`."""
    weeks = weekly["week"] // WEEKS_PER_MONTH == month
    by = weekly[weeks & weekly["metric"].isin([INCOMPLETE + "_by_service",
                                               WITHIN + "_by_service"])]
    if by.empty:
        return math.nan
    tot = by.groupby(["service", "metric"])["value"].sum().unstack("metric").fillna(0.0)
    if INCOMPLETE + "_by_service" not in tot:
        return math.nan
    over = (tot[INCOMPLETE + "_by_service"]
            - tot.get(WITHIN + "_by_service", 0.0)).clip(lower=0.0)
    total = float(over.sum())
    return float(over[over.index.isin(services)].sum()) / total if total > 0 else math.nan


# ----------------------------------------------------------------------------------------------
# the search: one bisection per replication
# ----------------------------------------------------------------------------------------------
@dataclass
class ReplicationResult:
    """One seed's threshold. `status`: 'found' (met at `threshold_factor`, not met at
    `below_factor`, within the tolerance), 'not_reachable' (not met even at `below_factor` =
    factor_max), or 'below_range' (met even at `threshold_factor` = the floor)."""

    replication: int
    seed: int
    status: str
    threshold_factor: float  # lowest factor tried that met the target (NaN if none did)
    below_factor: float  # highest factor tried below it that did not (NaN if none)
    evaluations: list[Evaluation] = field(default_factory=list)  # the bisection's runs
    curve: list[Evaluation] = field(default_factory=list)  # the curve's runs (not in the above)

    def at(self, factor: float) -> Evaluation | None:
        """The evaluation at `factor`, if the bisection ran one."""
        for e in self.evaluations:
            if abs(e.factor - factor) < 1e-12:
                return e
        return None

    @property
    def monotone(self) -> bool:
        """True if every factor that met the target (bisection and curve runs) lies above every
        factor that did not."""
        runs = [*self.evaluations, *self.curve]
        met = [e.factor for e in runs if e.met]
        missed = [e.factor for e in runs if not e.met]
        return not met or not missed or min(met) > max(missed)


def _bisect(job: tuple, tick: Callable[[], None]) -> ReplicationResult:
    """A whole bisection for one seed; module-level so a worker process can run it."""
    r, seed, cfg, contract, services, planned, spec_d = job
    spec = CapacitySpec.model_validate(spec_d)
    hold = spec.hold_from_year * WEEKS_PER_YEAR
    tol = spec.tolerance_sessions / planned
    evals: dict[float, Evaluation] = {}

    def met(f: float) -> bool:
        f = round(f, 9)
        if f not in evals:
            evals[f] = evaluate(cfg, contract, services, planned, f, hold, spec.target_18wk,
                                seed)
            tick()
        return evals[f].met

    def result(status: str, hi: float, lo: float) -> ReplicationResult:
        return ReplicationResult(r, seed, status, hi, lo,
                                 sorted(evals.values(), key=lambda e: e.factor))

    if met(1.0):  # today's plan is enough: look below it
        hi, lo = 1.0, spec.factor_low
        while met(lo):
            hi = lo
            if lo <= FACTOR_FLOOR:
                return result("below_range", hi, math.nan)
            lo = max(lo / 2, FACTOR_FLOOR)
    else:  # look above it, doubling up to factor_max
        lo, hi = 1.0, spec.factor_high
        while not met(hi):
            lo = hi
            if hi >= spec.factor_max:
                return result("not_reachable", math.nan, lo)
            hi = min(hi * 2, spec.factor_max)
    while hi - lo > tol:
        mid = round((lo + hi) / 2, 9)
        if met(mid):
            hi = mid
        else:
            lo = mid
    return result("found", hi, lo)


def _curve_point(job: tuple, tick: Callable[[], None]) -> tuple[int, Evaluation]:
    r, seed, cfg, contract, services, planned, factor, hold, target = job
    e = evaluate(cfg, contract, services, planned, factor, hold, target, seed)
    tick()
    return r, e


class _QueueTick:
    """A picklable 'one run done' signal from a worker process."""

    def __init__(self, queue: Any):
        self.queue = queue

    def __call__(self) -> None:
        self.queue.put(1)


def _run_jobs(fn: Callable, jobs: list[tuple], workers: int,
              tick: Callable[[int], None]) -> list:
    """fn(job, tick) for every job, in job order; in a spawn process pool if workers > 1."""
    if workers == 1 or len(jobs) <= 1:
        return [fn(job, lambda: tick(1)) for job in jobs]
    results: list = [None] * len(jobs)
    ctx = get_context("spawn")  # not fork: the parent may hold threads (see experiment.py)
    with ctx.Manager() as manager, ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        queue = manager.Queue()

        def drain() -> None:
            n = 0
            while not queue.empty():
                n += queue.get_nowait()
            if n:
                tick(n)

        futures = {pool.submit(fn, job, _QueueTick(queue)): i for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                drain()
                for fut in done:
                    results[futures[fut]] = fut.result()
            drain()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return results


# ----------------------------------------------------------------------------------------------
# the answer
# ----------------------------------------------------------------------------------------------
@dataclass
class Answer:
    """Thresholds over the replications where one was found, in sessions a week (full scale)."""

    n: int
    median: float
    mean: float
    ci_low: float  # 95% t-interval of the mean
    ci_high: float
    range_low: float  # 2.5-97.5% range of the replications' thresholds
    range_high: float


def _answer(values: np.ndarray) -> Answer:
    v = values[np.isfinite(values)]
    n = len(v)
    if n == 0:
        return Answer(0, *(math.nan,) * 6)
    mean = float(v.mean())
    lo = hi = math.nan
    if n > 1:
        from scipy import stats

        half = float(stats.t.ppf(0.975, n - 1)) * float(v.std(ddof=1)) / math.sqrt(n)
        lo, hi = mean - half, mean + half
    return Answer(n, float(np.median(v)), mean, lo, hi, float(np.percentile(v, 2.5)),
                  float(np.percentile(v, 97.5)))


@dataclass
class CapacityResult:
    prepared: Prepared
    replications: list[ReplicationResult]
    curve: pd.DataFrame  # replication, seed, factor, sessions, min_monthly_pct, worst_month, met
    meta: dict
    out_dir: Path | None = None

    @property
    def spec(self) -> CapacitySpec:
        return self.prepared.spec

    @property
    def planned_sessions(self) -> float:
        return self.prepared.planned_sessions

    @property
    def answer(self) -> Answer:
        return _answer(np.array([rep.threshold_factor * self.planned_sessions
                                 for rep in self.replications if rep.status == "found"]))

    @property
    def answer_factor(self) -> Answer:
        return _answer(np.array([rep.threshold_factor for rep in self.replications
                                 if rep.status == "found"]))

    def thresholds(self) -> pd.DataFrame:
        """One row per replication."""
        planned = self.planned_sessions
        rows = []
        for rep in self.replications:
            at = rep.at(rep.threshold_factor) if rep.status != "not_reachable" else None
            below = rep.at(rep.below_factor) if rep.status != "below_range" else None
            rows.append({
                "replication": rep.replication, "seed": rep.seed, "status": rep.status,
                "threshold_sessions": rep.threshold_factor * planned,
                "threshold_factor": rep.threshold_factor,
                "below_sessions": rep.below_factor * planned,
                "below_factor": rep.below_factor,
                "min_monthly_pct_at_threshold": 100 * at.min_monthly_share if at else math.nan,
                "min_monthly_pct_below": 100 * below.min_monthly_share if below else math.nan,
                "runs": len(rep.evaluations), "monotone": rep.monotone,
                "wall_seconds": round(sum(e.wall_seconds for e in rep.evaluations), 2),
            })
        return pd.DataFrame(rows)

    def evaluations(self) -> pd.DataFrame:
        """Every bisection run: replication, seed and the evaluation."""
        return pd.DataFrame([{"replication": rep.replication, "seed": rep.seed, **asdict(e)}
                             for rep in self.replications for e in rep.evaluations])

    def site_limits(self, factor: float) -> list[tuple[Theatre, float]]:
        """Theatres whose sessions at `factor` exceed what their theatres can hold."""
        return [(t, factor * t.sessions_per_week) for t in self.prepared.theatres
                if t.max_sessions is not None
                and factor * t.sessions_per_week > t.max_sessions + 1e-9]


def _curve_grid(reps: list[ReplicationResult], n: int, spec: CapacitySpec) -> list[float]:
    """At most `n` factors spanning today's plan (1.0, always included) and the thresholds
    found, one step beyond them where there is room. Steps are powers of two (1/64, 1/32, ...)
    so the points fall where the bisections (from 1.0 in a dyadic bracket) already ran, and
    those runs are reused."""
    if n == 0:
        return []
    if n == 1:
        return [1.0]
    found = [rep.threshold_factor for rep in reps if rep.status == "found"]
    lo, hi = min([1.0, *found]), max([1.0, *found])
    if not found:  # nothing to span: show the bracket searched
        lo, hi = min(lo, spec.factor_low), max(hi, spec.factor_high)
    if hi - lo < 0.125:  # thresholds at today's plan: show an eighth either side at least
        pad = (0.125 - (hi - lo)) / 2
        lo, hi = lo - pad, hi + pad
    for margin in (1, 0):
        for k in range(6, -1, -1):  # step 1/64 ... 1
            step = 2.0 ** -k
            if margin and step > hi - lo:  # a margin only where the span has room for it
                break
            first = max(math.floor(lo / step + 1e-9) - margin, 1)
            last = math.ceil(hi / step - 1e-9) + margin
            if last - first + 1 <= n:
                return [round(i * step, 9) for i in range(first, last + 1)]
    return sorted({1.0, *(round(float(x), 9) for x in np.linspace(lo, hi, n - 1))})


def find_sessions(spec: CapacitySpec | Prepared, progress: Progress | None = None,
                  out_dir: str | Path | None = None) -> CapacityResult:
    """Search each replication's threshold, then the curve; write to `out_dir` if given.

    `progress(done, total)` is called after each model run (the total is an estimate until
    the bisections end). Results do not depend on `spec.workers`.
    """
    prep = spec if isinstance(spec, Prepared) else prepare(spec)
    spec = prep.spec
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {str(out)!r} is a file; give a folder for the results")
    planned, services = prep.planned_sessions, prep.services
    hold = spec.hold_from_year * WEEKS_PER_YEAR
    spec_d = spec.model_dump()
    tol = spec.tolerance_sessions / planned
    width = max(1.0 - spec.factor_low, spec.factor_high - 1.0)
    per_rep = 2 + max(0, math.ceil(math.log2(max(width / tol, 1.0))))
    state = {"done": 0, "total": spec.replications * (per_rep + max(spec.curve_points - 1, 0))}

    def tick(n: int) -> None:
        state["done"] += n
        state["total"] = max(state["total"], state["done"])
        if progress is not None:
            progress(state["done"], state["total"])

    t0 = time.perf_counter()
    jobs = [(r, seed, prep.config, prep.contract, services, planned, spec_d)
            for r, seed in enumerate(prep.seeds)]
    reps: list[ReplicationResult] = _run_jobs(_bisect, jobs, spec.workers, tick)
    grid = _curve_grid(reps, spec.curve_points, spec)
    curve_jobs = []
    points: dict[tuple[int, float], Evaluation] = {}
    for rep in reps:
        for f in grid:
            known = rep.at(f)
            if known is not None:  # the bisection ran this factor already (1.0 at least)
                points[(rep.replication, f)] = known
            else:
                curve_jobs.append((rep.replication, rep.seed, prep.config, prep.contract,
                                   services, planned, f, hold, spec.target_18wk))
    state["total"] = state["done"] + len(curve_jobs)
    for r, e in _run_jobs(_curve_point, curve_jobs, spec.workers, tick):
        points[(r, e.factor)] = e
        reps[r].curve.append(e)
    curve = pd.DataFrame([
        {"replication": rep.replication, "seed": rep.seed, "factor": f,
         "sessions": f * planned,
         "min_monthly_pct": 100 * points[(rep.replication, f)].min_monthly_share,
         "worst_month": points[(rep.replication, f)].worst_month,
         "met": points[(rep.replication, f)].met}
        for rep in reps for f in grid],
        columns=["replication", "seed", "factor", "sessions", "min_monthly_pct",
                 "worst_month", "met"])
    result = CapacityResult(prepared=prep, replications=reps, curve=curve, meta={}, out_dir=out)
    result.meta = _meta(result, round(time.perf_counter() - t0, 2), grid)
    if out is not None:
        write_outputs(result, out)
    return result


def _growth(cfg: CityConfig, years: int) -> dict[str, float]:
    """Growth over `years` at the config's rates: over-65s, over-85s and all adults."""
    shares = np.asarray(cfg.population.age_band_shares, dtype=np.float64)
    g = np.asarray(cfg.population.growth_per_year_by_age_band, dtype=np.float64)
    later = shares * (1.0 + g) ** years
    lower = np.asarray(AGE_BAND_LOWER_YEARS)

    def grow(mask: np.ndarray) -> float:
        return float(later[mask].sum() / shares[mask].sum() - 1.0) if shares[mask].sum() else 0.0

    return {"over_65": grow(lower >= 65), "over_85": grow(lower >= 85),
            "adults": grow(np.ones(len(AGE_BANDS), dtype=bool))}


def _meta(result: CapacityResult, wall: float, grid: list[float]) -> dict:
    prep, spec = result.prepared, result.spec
    base = searched_config(prep.config, 1.0, prep.services)
    return {
        **provenance(),
        "name": spec.name,
        "question": spec.question,
        "spec": spec.model_dump(mode="json"),
        "spec_file": spec._source[0] if spec._source else None,
        "spec_text": spec._source[1] if spec._source else None,
        "contract": prep.contract,
        "seeds": prep.seeds,
        "hold_from_week": spec.hold_from_year * WEEKS_PER_YEAR,
        "weeks": prep.config.run.years * WEEKS_PER_YEAR,
        "scaled_theatres": [{**asdict(t), "max_sessions": t.max_sessions}
                            for t in prep.theatres],
        "planned_sessions": prep.planned_sessions,
        "searched_configs": (
            "config_at_today (below) with services.<each scaled theatre>.sessions_per_week × "
            "factor and theatres: null; behaviour.adaptation.levers.theatre_sessions_factor "
            "pinned at initial = low = high = 1 (providers cannot move sessions); run.seed = "
            "the replication's seed"),
        "sessions_fixed_note": "theatre sessions held fixed by the search: the providers' "
                               "theatre-sessions lever is pinned at 1 in every searched config",
        "curve_factors": grid,
        "population_growth": _growth(prep.config, prep.config.run.years),
        "answer_sessions": asdict(result.answer),
        "answer_factor": asdict(result.answer_factor),
        "replications": [{**asdict(rep), "monotone": rep.monotone}
                         for rep in result.replications],
        "wall_seconds": wall,
        "config_at_today": base.model_dump(mode="json"),
    }


# ----------------------------------------------------------------------------------------------
# words, picture, files
# ----------------------------------------------------------------------------------------------
def _n(x: float) -> str:
    """A number of sessions in words: whole numbers shown without decimals."""
    if not math.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x - round(x)) < 0.05 or abs(x) >= 100 else f"{x:,.1f}"


def _years_words(hold_from_year: int, years: int) -> str:
    first = hold_from_year + 1
    if first == 1:
        return f"of the {years} contract years" if years > 1 else "of the contract year"
    if first == years:
        return f"of year {years}"
    return f"of years {first}–{years}"


def _scale_words(scale: float) -> str:
    names = {1.0: "the whole city", 0.5: "half the city", 0.25: "a quarter of the city",
             0.1: "a tenth of the city"}
    return names.get(scale, f"{100 * scale:g}% of the city's population")


def summary_text(result: CapacityResult) -> str:
    """The answer in one plain-language paragraph (what `msksim capacity` prints)."""
    prep, spec = result.prepared, result.spec
    cfg = prep.config
    ans = result.answer
    planned = result.planned_sessions
    target = f"{100 * spec.target_18wk:g}%"
    when = _years_words(spec.hold_from_year, cfg.run.years)
    where = (cfg.name if spec.provider is None
             else f"the theatres of {cfg.providers[spec.provider].name} in {cfg.name}")
    reps = result.replications
    n_rep = len(reps)
    parts = []
    if ans.n:
        if ans.n > 1:
            interval = (f"95% interval {_n(ans.ci_low)}–{_n(ans.ci_high)}; median "
                        f"{_n(ans.median)}; single replications ranged {_n(ans.range_low)}–"
                        f"{_n(ans.range_high)}")
        else:
            interval = "one replication, so no interval"
        diff = ans.mean - planned
        pct = 100 * diff / planned
        if abs(diff) < spec.tolerance_sessions:
            change = "about what is planned now"
        elif diff > 0:
            change = f"{_n(diff)} more a week (+{pct:.0f}%)"
        else:
            change = (f"{_n(-diff)} fewer a week (−{-pct:.0f}%), so today's plan is enough "
                      f"with that much to spare")
        parts.append(
            f"To keep {target} of patients within 18 weeks in every month {when}, {where} "
            f"{'needs' if spec.provider is None else 'need'} about {_n(ans.mean)} planned "
            f"4-hour theatre sessions a week ({interval}), "
            f"against {_n(planned)} planned today: {change}.")
    else:
        parts.append(
            f"{where} did not keep {target} of patients within 18 weeks in every month {when} "
            f"in any replication within the range searched "
            f"({_n(spec.factor_max * planned)} sessions a week at most, against "
            f"{_n(planned)} planned today).")
    missing = [rep for rep in reps if rep.status == "not_reachable"]
    if missing and ans.n:
        parts.append(f"In {len(missing)} of {n_rep} replications the target was not reached "
                     f"even at {_n(spec.factor_max * planned)} sessions a week, so the figure "
                     f"above, from the other {ans.n}, is too low.")
    if missing:
        at_top = [rep.at(rep.below_factor) for rep in missing]
        shares = [e.over_18_at_theatres for e in at_top
                  if e is not None and math.isfinite(e.over_18_at_theatres)]
        if shares:
            parts.append(
                f"There, at the most sessions tried, only {100 * float(np.mean(shares)):.0f}% "
                f"of the people waiting over 18 weeks in the worst month were waiting for an "
                f"operation; the rest were waiting for clinics or the hub, which more theatre "
                f"sessions do not shorten.")
    low = [rep for rep in reps if rep.status == "below_range"]
    if low:
        parts.append(f"In {len(low)} of {n_rep} replications even "
                     f"{_n(FACTOR_FLOOR * planned)} sessions a week were enough.")
    if ans.n:
        top = ans.ci_high if math.isfinite(ans.ci_high) else ans.mean
        full = result.site_limits(ans.mean / planned)
        worst = result.site_limits(top / planned)
        for t, need in full or worst:
            verb = "would run" if full else "could run (at the top of the interval)"
            parts.append(
                f"{t.label} {verb} about {_n(need)} sessions a week, more than its "
                f"{t.theatres} theatre(s) can hold ({_n(t.max_sessions or 0)} at "
                f"{t.sessions_per_theatre_per_weekday} a weekday): that needs more theatres "
                f"than the site has.")
    growth = _growth(cfg, cfg.run.years)
    seeds = (f"seed {prep.seeds[0]}" if n_rep == 1
             else f"seeds {prep.seeds[0]}–{prep.seeds[-1]}")
    scope = ("every theatre in the city scaled by the same factor" if spec.provider is None
             else f"only {spec.provider}'s theatres scaled, the others kept at today's plan")
    parts.append(
        f"Over the {cfg.run.years} contract years the over-65s grow by about "
        f"{100 * growth['over_65']:.0f}% (over-85s {100 * growth['over_85']:.0f}%, all adults "
        f"{100 * growth['adults']:.0f}%) at the config's growth rates. Simulated under "
        f"{CONTRACT_WORDS.get(prep.contract, prep.contract)}, {n_rep} replication(s) ("
        f"{seeds}) on {_scale_words(cfg.run.scale)} (capacity scales "
        f"with the population, so sessions are for the whole city), with {scope}; sessions "
        f"are held fixed (providers cannot add or drop sessions), found to within about "
        f"{_n(spec.tolerance_sessions)} session(s) a week.")
    if not all(rep.monotone for rep in reps):
        parts.append("In some replications more sessions did not always do better (chance "
                     "variation between runs), so thresholds are approximate.")
    return " ".join(parts)


def plot_curve(result: CapacityResult, path: str | Path) -> None:
    """capacity.png: the worst month's share within 18 weeks against sessions a week."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec, planned = result.spec, result.planned_sessions
    target = 100 * spec.target_18wk
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
    curve = result.curve
    if len(curve):
        g = curve.groupby("sessions")["min_monthly_pct"]
        x = g.mean().index.to_numpy()
        ax.fill_between(x, g.min().to_numpy(), g.max().to_numpy(), color="tab:blue", alpha=0.2,
                        label="range over replications")
        ax.plot(x, g.mean().to_numpy(), "o-", color="tab:blue",
                label="average over replications")
        today = curve[np.isclose(curve["factor"], 1.0)]["min_monthly_pct"]
        if len(today):
            ax.plot([planned], [today.mean()], marker="*", ms=16, color="tab:red",
                    ls="none", zorder=5, label=f"planned today ({_n(planned)} a week)")
    ax.axvline(planned, color="tab:red", ls=":", lw=1)
    ax.axhline(target, color="black", ls="--", lw=1,
               label=f"target: {target:g}% within 18 weeks")
    ans = result.answer
    if ans.n:
        lo, hi = ((ans.ci_low, ans.ci_high) if ans.n > 1
                  else (ans.mean - spec.tolerance_sessions, ans.mean + spec.tolerance_sessions))
        ax.axvspan(lo, hi, color="tab:green", alpha=0.2,
                   label=f"sessions needed: about {_n(ans.mean)} a week"
                         + (f" (95% interval {_n(lo)}–{_n(hi)})" if ans.n > 1 else ""))
        ax.axvline(ans.mean, color="tab:green", lw=1.5)
    limits = [(t.max_sessions / t.sessions_per_week, t) for t in result.prepared.theatres
              if t.max_sessions is not None and t.sessions_per_week > 0]
    if limits and len(curve):
        f, t = min(limits, key=lambda x: x[0])
        if curve["factor"].min() <= f <= curve["factor"].max():
            ax.axvline(f * planned, color="grey", ls="-.", lw=1,
                       label=f"beyond here {t.label} run out of theatres")
    who = (result.prepared.config.name if spec.provider is None
           else f"{result.prepared.config.providers[spec.provider].name}")
    held = _years_words(spec.hold_from_year, spec.years).replace("of ", "every month of ", 1)
    ax.set_title(f"How many theatre sessions a week keep {target:g}% of patients within 18 "
                 f"weeks?\n{who}, {held}, {len(result.replications)} replication(s), "
                 f"{CONTRACT_WORDS.get(result.prepared.contract, result.prepared.contract)}",
                 fontsize=11)
    ax.set_xlabel("Planned 4-hour elective theatre sessions a week"
                  + (" (whole city)" if spec.provider is None else f" ({spec.provider})"))
    ax.set_ylabel("Worst month: % of waiting patients within 18 weeks")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    atomic_write(Path(path), lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


def _summary_md(result: CapacityResult) -> str:
    spec, ans, fac = result.spec, result.answer, result.answer_factor
    lines = [f"# {spec.name}", ""]
    if spec.question:
        lines += [spec.question.strip(), ""]
    lines += [summary_text(result), "", "## Figures", "",
              "| | sessions a week | factor on today's plan |", "| --- | --- | --- |",
              f"| planned today | {result.planned_sessions:.1f} | 1.000 |"]
    for label, s, f in (("median threshold", ans.median, fac.median),
                        ("mean threshold", ans.mean, fac.mean),
                        ("95% t-interval of the mean, low", ans.ci_low, fac.ci_low),
                        ("95% t-interval of the mean, high", ans.ci_high, fac.ci_high),
                        ("2.5% of replications", ans.range_low, fac.range_low),
                        ("97.5% of replications", ans.range_high, fac.range_high)):
        lines.append(f"| {label} | {s:.1f} | {f:.3f} |")
    lines += ["", "Thresholds by replication: thresholds.csv; the curve: curve.csv and "
              "capacity.png; every run: evaluations.csv; settings and provenance: meta.json.",
              ""]
    return "\n".join(lines)


def write_outputs(result: CapacityResult, out_dir: str | Path) -> Path:
    """capacity.png, thresholds.csv, curve.csv, evaluations.csv, summary.md, then meta.json
    (last: its presence marks a complete set). Every file is written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(result.thresholds(), out / "thresholds.csv")
    write_csv(result.curve, out / "curve.csv")
    write_csv(result.evaluations(), out / "evaluations.csv")
    plot_curve(result, out / "capacity.png")
    text = _summary_md(result)
    atomic_write(out / "summary.md", lambda p: p.write_text(text, encoding="utf-8"))
    write_json(result.meta, out / "meta.json")
    result.out_dir = out
    return out


# ----------------------------------------------------------------------------------------------
# the command line: `msksim capacity [SPEC]`
# ----------------------------------------------------------------------------------------------
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `capacity` to the CLI's subcommands (cli.py: `add_parser(sub)` and a handler)."""
    p = subparsers.add_parser(
        "capacity", help="find how many theatre sessions a week hold the 18-week standard",
        description="Search the planned elective theatre sessions a week (all theatres, or one "
                    "provider's) that keep a target share of incomplete RTT pathways within 18 "
                    "weeks in every month from a contract year to the end of the run: one "
                    "bisection per replication (common random numbers), summarised with a 95% "
                    "interval. Writes capacity.png, thresholds.csv, curve.csv, summary.md and "
                    "meta.json.")
    p.add_argument("spec", nargs="?", metavar="SPEC",
                   help="spec file (YAML) with the same settings, e.g. "
                        "experiments/theatre_sessions_18wk.yaml (flags override it)")
    p.add_argument("--config", metavar="FILE",
                   help="city config (YAML); default: the built-in Sheffield city")
    p.add_argument("--overlay", metavar="FILE", action="append", default=[],
                   help="a scenario overlay (repeatable; after the spec file's own)")
    p.add_argument("--target-18wk", type=float, metavar="SHARE",
                   help="share of waiting patients to keep within 18 weeks (default 0.92)")
    p.add_argument("--provider", metavar="KEY",
                   help="scale only this provider's theatres (default: every theatre)")
    p.add_argument("--contract", choices=CONTRACT_RULES,
                   help="payment rule (default: the config's contract.rule)")
    p.add_argument("--years", type=int, metavar="N", help="contract years (default 5)")
    p.add_argument("--replications", type=int, metavar="R",
                   help="replications, seeds base seed + 0..R-1 (default 5)")
    p.add_argument("--scale", type=float, metavar="F",
                   help="fraction of the population simulated (default 0.25)")
    p.add_argument("--seed", type=int, metavar="S", help="base seed (default from config)")
    p.add_argument("--warmup-weeks", type=int, metavar="W",
                   help="warm-up weeks left out of the results (default from config)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="replications at once in separate processes (default 2; results do "
                        "not depend on it)")
    p.add_argument("--hold-from-year", type=int, metavar="Y",
                   help="contract year (0 = the first) from which the target must hold in "
                        "every month (default 1: years 2 to the end)")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (the answer is still printed)")
    p.set_defaults(handler=cmd_capacity)
    return p


def cmd_capacity(args: argparse.Namespace) -> int:
    keys = ("config", "target_18wk", "provider", "contract", "years", "replications", "scale",
            "seed", "warmup_weeks", "workers", "hold_from_year", "out")
    overrides = {k: getattr(args, k, None) for k in keys}
    overrides["overlays"] = list(args.overlay or [])
    spec = load_spec(args.spec, overrides)
    out = Path(spec.out or DEFAULT_OUT)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{spec.label('out')}: {str(out)!r} is a file; give a folder for the "
                          f"results")
    prep = prepare(spec)
    bar = ProgressBar(not args.quiet, "capacity search")
    try:
        result = find_sessions(prep, progress=bar, out_dir=out)
    finally:
        bar.close()
    print(summary_text(result))
    if not args.quiet:
        print(f"\nResults written to {out}/ (capacity.png, thresholds.csv, curve.csv, "
              f"evaluations.csv, summary.md, meta.json); {result.meta['wall_seconds']} s")
    return 0

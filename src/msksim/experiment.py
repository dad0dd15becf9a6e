"""Experiments: named scenarios, each a contract and an overlay, run over paired replications.

An experiment file (YAML; examples in experiments/) reads:

    name: ...
    question: one plain-language sentence
    base: ../configs/sheffield.yaml   # relative to this file; omit for the built-in city
    overlays: []                      # for every scenario: paths (relative) or inline mappings
    replications: 3                   # seeds run.seed, run.seed+1, ... for every scenario
    baseline: keep_pbr                # the scenario the others are compared with
    run: {scale: 0.25, years: 5, warmup_weeks: 52}   # optional: seed, years, warmup_weeks, scale
    scenarios:
      keep_pbr:
        contract: pbr                 # pbr, cobic, block or blended
        description: plain words for commissioners
        overlay: {}                   # optional: a mapping, a path, or a list of them

Every scenario runs with the same seeds, so the same people fall ill in the same weeks in each,
and differences from the baseline are paired replication by replication. Every scenario's
config is built and checked before any run, so a typo costs a second, not an hour.

Outputs: per (scenario, headline figure) its mean and 95% t-interval over replications; per
(scenario, figure) the paired difference from the baseline with its 95% t-interval; the
per-run figures; and a meta.json with provenance, the experiment file and the seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from .config import (
    CONTRACT_RULES,
    NAME_PATTERN,
    CityConfig,
    ConfigError,
    check_rule_available,
    deep_merge,
    load_config,
    read_yaml,
    validate_config,
)
from .io import provenance, write_csv, write_json, write_parquet
from .progress import ProgressBar
from .results import KEYS, fmt_number
from .statistics import crn_gain, replications_needed, t_interval, verdict

Overlay = dict[str, Any] | str
Progress = Callable[[int, int], None]


# ----------------------------------------------------------------------------------------------
# the file format
# ----------------------------------------------------------------------------------------------
class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RunOverrides(_Closed):
    """Run settings applied to every scenario (each optional)."""

    seed: StrictInt | None = Field(None, ge=0, le=2**63 - 1)
    years: StrictInt | None = Field(None, ge=1, le=50)
    warmup_weeks: StrictInt | None = Field(None, ge=0, le=520)
    scale: float | None = Field(None, gt=0.0, le=10.0)


class Uncertainty(_Closed):
    """Parameters not known exactly: each replication after the first draws its own values
    (a scrambled Halton sequence over the ranges, from its own seed, apart from the model's
    chance),
    the same in every scenario (paired); replication 0 runs at the centre of every range."""

    seed: StrictInt = Field(12345, ge=0)
    parameters: dict[str, tuple[float, float]] = Field(min_length=1)


class Sweep(_Closed):
    """Each scenario but the baseline becomes one scenario per point: a full grid of the
    listed values, or `points` Latin-hypercube draws over [low, high] ranges."""

    method: Literal["grid", "lhs"] = "grid"
    points: StrictInt = Field(5, ge=1, le=1000)
    seed: StrictInt = Field(2024, ge=0)
    parameters: dict[str, list[float]] = Field(min_length=1)


class Scenario(_Closed):
    contract: str
    description: str = ""
    overlay: Overlay | list[Overlay] | None = None

    def overlays(self) -> list[Overlay]:
        if self.overlay is None:
            return []
        return list(self.overlay) if isinstance(self.overlay, list) else [self.overlay]


class Experiment(_Closed):
    name: str
    question: str
    base: str | None = None
    overlays: list[Overlay] = []
    replications: StrictInt = Field(3, ge=1, le=1000)
    baseline: str
    run: RunOverrides = RunOverrides()
    scenarios: dict[str, Scenario] = Field(min_length=1)
    uncertainty: Uncertainty | None = None
    sweep: Sweep | None = None
    #: the figure the report's statistics speak about (what pairing buys, runs needed)
    focus: str = "All outpatient clinics: follow-ups per first"
    #: the interval half-width wanted, as a share of the mean (the replication advisor)
    precision: float = Field(0.05, gt=0.0, le=1.0)
    #: the figures printed (summary measures, in this order); empty = the standard headline
    headline: list[str] = []


def _model_at(loc: list[str]) -> type[BaseModel]:
    """The part of the file format a location points into (for listing its settings)."""
    if loc[:1] == ["run"]:
        return RunOverrides
    if loc[:1] == ["scenarios"] and len(loc) == 3:
        return Scenario
    if loc[:1] == ["uncertainty"]:
        return Uncertainty
    if loc[:1] == ["sweep"]:
        return Sweep
    return Experiment


def _describe(exc: ValidationError) -> str:
    """One line for the first problem: the field, the value and what is allowed."""
    err = exc.errors(include_url=False)[0]
    loc = [str(x) for x in err["loc"]]
    # a union's member names ("str", "list[...]") are not part of the field's path
    loc = [x for x in loc if "[" not in x and x not in ("str", "dict", "list")]
    field = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = sorted(_model_at(loc).model_fields)
        return f"{field}: unknown setting; allowed: {allowed}"
    if err["type"] == "missing":
        return f"{field}: required setting is missing"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{field}: {shown} is not allowed ({err['msg']})"


def parse_experiment(data: dict, where: str = "experiment") -> Experiment:
    """Validate a mapping into an Experiment (the format only; `load_experiment` does the rest)."""
    try:
        spec = Experiment.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None
    for name, sc in spec.scenarios.items():
        if not NAME_PATTERN.match(name):
            raise ConfigError(f"{where}: scenarios.{name}: a name must be lower-case letters, "
                              f"digits and underscores, starting with a letter")
        if sc.contract not in CONTRACT_RULES:
            raise ConfigError(f"{where}: scenarios.{name}.contract: {sc.contract!r} is not a "
                              f"payment rule; allowed: {list(CONTRACT_RULES)}")
    if spec.baseline not in spec.scenarios:
        raise ConfigError(f"{where}: baseline: {spec.baseline!r} is not a scenario; allowed: "
                          f"{list(spec.scenarios)}")
    return spec


def dotted_overlay(values: dict[str, float]) -> dict:
    """{"a.b.c": 1} -> {"a": {"b": {"c": 1}}}."""
    out: dict = {}
    for path, v in values.items():
        node = out
        *head, last = path.split(".")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = float(v)
    return out


def with_values(cfg: CityConfig, values: dict[str, float], where: str) -> CityConfig:
    """The config with dotted parameters set, checked like any config."""
    data = cfg.model_dump(mode="json")
    for path in values:
        node = data
        for k in path.split("."):
            if not isinstance(node, dict) or k not in node:
                raise ConfigError(f"{where}: {path!r} is not a setting of the city config")
            node = node[k]
        if isinstance(node, bool) or not isinstance(node, int | float):
            raise ConfigError(f"{where}: {path!r} is not a number (it is {node!r})")
    try:
        return validate_config(deep_merge(data, dotted_overlay(values)))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _lhs(ranges: dict[str, tuple[float, float]], n: int, seed: int) -> list[dict[str, float]]:
    from scipy.stats import qmc

    if n == 0:
        return []
    u = qmc.LatinHypercube(d=len(ranges), seed=seed).random(n)
    lo = np.array([r[0] for r in ranges.values()])
    hi = np.array([r[1] for r in ranges.values()])
    pts = lo + u * (hi - lo)
    return [dict(zip(ranges, map(float, row), strict=True)) for row in pts]


def uncertainty_draws(unc: Uncertainty, replications: int) -> list[dict[str, float]]:
    """Replication r's parameter values: the centre for r = 0, then the points of a scrambled
    Halton sequence (low-discrepancy, and the first points stay the same when replications are
    added, so a resumed experiment with more replications keeps the runs it has)."""
    from scipy.stats import qmc

    centre = {k: (lo + hi) / 2 for k, (lo, hi) in unc.parameters.items()}
    if replications <= 1:
        return [centre]
    u = qmc.Halton(d=len(unc.parameters), scramble=True, seed=unc.seed).random(
        replications - 1)
    lo = np.array([r[0] for r in unc.parameters.values()])
    hi = np.array([r[1] for r in unc.parameters.values()])
    return [centre, *(dict(zip(unc.parameters, map(float, lo + row * (hi - lo)), strict=True))
                      for row in u)]


def sweep_points(sw: Sweep) -> list[dict[str, float]]:
    if sw.method == "grid":
        import itertools

        keys = list(sw.parameters)
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*sw.parameters.values())]
    bad = [k for k, v in sw.parameters.items() if len(v) != 2 or v[0] >= v[1]]
    if bad:
        raise ConfigError(f"sweep.parameters.{bad[0]}: an lhs sweep needs [low, high] with "
                          f"low < high")
    return _lhs({k: (v[0], v[1]) for k, v in sw.parameters.items()}, sw.points, sw.seed)


@dataclass
class LoadedExperiment:
    """An experiment with every scenario's config resolved and checked."""

    path: Path
    text: str
    spec: Experiment
    configs: dict[str, CityConfig]  # scenario -> its config (seed = the base seed)
    replications: int
    contracts: dict[str, str] | None = None  # scenario -> payment rule (sweeps add scenarios)
    descriptions: dict[str, str] | None = None
    draws: list[dict[str, float]] | None = None  # per replication: uncertain parameter values

    @property
    def seeds(self) -> list[int]:
        base = self.configs[self.spec.baseline].run.seed
        return [base + r for r in range(self.replications)]


def _resolve(item: Overlay, folder: Path, field: str) -> Overlay:
    """A path in an experiment file is relative to that file; a mapping is used as it is."""
    if isinstance(item, str):
        p = Path(item) if Path(item).is_absolute() else folder / item
        if not p.is_file():  # name the experiment's field, not just the missing file
            raise ConfigError(f"{field}: {item!r} is not a file (paths are relative to the "
                              f"experiment file, {str(folder)!r})")
        return str(p)
    return item


def load_experiment(path: str | Path, replications: int | None = None,
                    scale: float | None = None) -> LoadedExperiment:
    """Read an experiment file and build and check every scenario's config, running nothing."""
    from .contracts import RULES
    from .pathway import build_pathway

    path = Path(path)
    data = read_yaml(path)
    where = path.name
    spec = parse_experiment(data, where)
    if replications is not None and replications < 1:
        raise ConfigError(f"--replications: {replications} is not allowed; use 1 or more")
    if scale is not None and not 0.0 < scale <= 10.0:
        raise ConfigError(f"--scale: {scale} is not allowed; use a fraction above 0 (at most 10)")
    folder = path.parent
    try:
        base = _resolve(spec.base, folder, "base") if spec.base is not None else None
        shared = [_resolve(o, folder, f"overlays.{i}") for i, o in enumerate(spec.overlays)]
        own = {name: [_resolve(o, folder, f"scenarios.{name}.overlay")
                      for o in sc.overlays()] for name, sc in spec.scenarios.items()}
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    run = spec.run.model_dump(exclude_none=True)
    configs: dict[str, CityConfig] = {}
    for name, sc in spec.scenarios.items():
        # order: shared overlays, the experiment's run settings, the scenario's own overlay
        # (so a scenario can differ from the rest), then the command line's --scale
        overlays = [*shared, *([{"run": run}] if run else []),
                    *own[name],
                    *([{"run": {"scale": scale}}] if scale is not None else [])]
        try:
            cfg = load_config(base, overlays=overlays)
            build_pathway(cfg)
            check_rule_available(cfg, sc.contract)
        except ConfigError as exc:
            raise ConfigError(f"{where}: scenarios.{name}: {exc}") from None
        if sc.contract not in RULES:
            raise ConfigError(f"{where}: scenarios.{name}.contract: {sc.contract!r} is not "
                              f"built into the model yet; available: {sorted(RULES)}")
        configs[name] = cfg
    seed = configs[spec.baseline].run.seed
    for name, cfg in configs.items():
        if cfg.run.seed != seed:  # paired differences need the same people in every scenario
            raise ConfigError(f"{where}: scenarios.{name}.overlay: run.seed {cfg.run.seed} "
                              f"differs from the baseline's {seed}; every scenario must use the "
                              f"same seeds (set run.seed at the top of the experiment)")
    contracts = {n: sc.contract for n, sc in spec.scenarios.items()}
    descriptions = {n: sc.description for n, sc in spec.scenarios.items()}
    if spec.sweep is not None:
        points = sweep_points(spec.sweep)
        for name in [n for n in list(configs) if n != spec.baseline]:
            cfg = configs.pop(name)
            contract, words = contracts.pop(name), descriptions.pop(name)
            for i, point in enumerate(points):
                new = f"{name}_{i}"
                if new in spec.scenarios or new in configs:
                    raise ConfigError(f"{where}: sweep: scenario {name!r} would become "
                                      f"{new!r}, which is already a scenario; rename one")
                configs[new] = with_values(cfg, point, f"{where}: sweep")
                contracts[new] = contract
                values = ", ".join(f"{k} = {v:g}" for k, v in point.items())
                descriptions[new] = f"{words} ({values})".strip()
    n_rep = replications or spec.replications
    draws = None
    if spec.uncertainty is not None:
        both = set(spec.uncertainty.parameters) & set(spec.sweep.parameters if spec.sweep
                                                       else {})
        if both:
            raise ConfigError(f"{where}: uncertainty.parameters.{sorted(both)[0]}: also swept; "
                              f"a parameter is either uncertain or swept, not both")
        bad = [k for k, (lo, hi) in spec.uncertainty.parameters.items() if lo >= hi]
        if bad:
            raise ConfigError(f"{where}: uncertainty.parameters.{bad[0]}: low must be below "
                              f"high")
        draws = uncertainty_draws(spec.uncertainty, n_rep)
        for r, values in enumerate(draws):  # check every drawn config before any run
            for name, cfg in configs.items():
                with_values(cfg, values, f"{where}: uncertainty (replication {r}, {name})")
    return LoadedExperiment(path=path, text=path.read_text(encoding="utf-8"), spec=spec,
                            configs=configs, replications=n_rep, contracts=contracts,
                            descriptions=descriptions, draws=draws)


# ----------------------------------------------------------------------------------------------
# running: each (scenario, replication) is one job; its results are written the moment it ends
# ----------------------------------------------------------------------------------------------
RUNS_DIR = "runs"


def _run_job(job: tuple[str, int, CityConfig, str]
             ) -> tuple[str, int, pd.DataFrame, pd.DataFrame, dict]:
    """One scenario × replication; module-level so a worker process (or Dask) can run it."""
    from .results import weekly_series
    from .run import run_once

    scenario, r, cfg, contract = job
    t0 = time.perf_counter()
    result = run_once(cfg, contract)
    info = {"seed": result.meta["seed"], "wall_seconds": round(time.perf_counter() - t0, 2),
            "year_results": result.year_results}
    return scenario, r, result.summary(), weekly_series(result.weekly, cfg.run.scale), info


def config_hash(cfg: CityConfig, contract: str, code: str = "") -> str:
    """A fingerprint of what a run depends on: its resolved config (seed included), its rule,
    and `code`: the model's version and git commit (a changed model never reuses old runs)."""
    text = json.dumps({"config": cfg.model_dump(mode="json"), "contract": contract,
                       "code": code}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_dir(out: Path, scenario: str, replication: int) -> Path:
    """Where one run's results live (a Parquet dataset partitioned by scenario, replication)."""
    return out / RUNS_DIR / f"scenario={scenario}" / f"replication={replication}"


def _save_run(out: Path, scenario: str, r: int, summary: pd.DataFrame, series: pd.DataFrame,
              info: dict) -> None:
    """Write one run's files into a hidden folder, then rename it into place: a run's folder
    exists only when all of it is written, so an interrupted run leaves nothing to trust."""
    final = run_dir(out, scenario, r)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".replication={r}.", dir=final.parent))
    try:
        summary.to_parquet(tmp / "summary.parquet", index=False)
        series.to_parquet(tmp / "series.parquet", index=False)
        (tmp / "info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        os.chmod(tmp, 0o755)
        os.rename(tmp, final)  # atomic; fails if another writer got there first
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / "info.json").is_file():
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load_run(out: Path, scenario: str, r: int, want_hash: str
              ) -> tuple[pd.DataFrame, pd.DataFrame, dict] | None:
    """A finished run's results, or None if it is missing (or from another config)."""
    d = run_dir(out, scenario, r)
    try:
        info = json.loads((d / "info.json").read_text())
    except (OSError, ValueError):
        return None
    if info.get("config_hash") != want_hash:
        raise ConfigError(f"--out: {str(out)!r} holds results of a different experiment "
                          f"(scenario {scenario!r}, replication {r} was run with another "
                          f"config); give a new folder or delete that one")
    return pd.read_parquet(d / "summary.parquet"), pd.read_parquet(d / "series.parquet"), info


def _clean_partial(out: Path) -> None:
    """Remove half-written run folders left by a run that was killed."""
    for tmp in (out / RUNS_DIR).glob("scenario=*/.replication=*"):
        shutil.rmtree(tmp, ignore_errors=True)
    for d in (out / RUNS_DIR).glob("scenario=*/replication=*"):
        if not (d / "info.json").is_file():
            shutil.rmtree(d, ignore_errors=True)


def _execute(jobs: list[tuple], workers: int, dask: bool, scheduler: str | None,
             on_result: Callable[[tuple], None]) -> str:
    """Run the jobs on the chosen backend, handing each result to `on_result` as it ends.
    Returns the backend's name. Results never depend on the backend: a run depends only on
    its config and seed."""
    if scheduler is not None or dask:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed

        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(scheduler if scheduler is not None else cluster)
        try:
            futures = client.map(_run_job, jobs, pure=False)
            for fut in dask_completed(futures):
                on_result(fut.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return f"dask ({scheduler})" if scheduler else f"dask LocalCluster ({workers} workers)"
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            on_result(_run_job(job))
        return "one process"
    # spawn, not fork: the parent may hold threads (pyarrow's, a progress bar's), and forking
    # a threaded process can deadlock; workers re-import the caller's __main__, so call from a
    # script, a notebook or the CLI, not from code piped into python
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                             mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run_job, job) for job in jobs]
        try:
            for fut in as_completed(futures):
                on_result(fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return f"process pool ({workers} workers)"


def _row_order(runs: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Each figure once, in first-seen order, sections kept together (as `side_by_side`)."""
    keys = list(dict.fromkeys(runs[KEYS].itertuples(index=False, name=None)))
    sections = list(dict.fromkeys(k[0] for k in keys))
    return sorted(keys, key=lambda k: sections.index(k[0]))  # stable: first-seen within


def _intervals(df: pd.DataFrame, col: str) -> dict[tuple, tuple]:
    """`_t_interval` of `col` for each figure (section, measure, unit) in `df`."""
    return {key: t_interval(g[col]) for key, g in df.groupby(KEYS, sort=False)}


_EMPTY = (0, math.nan, math.nan, math.nan, math.nan)


def summarise_runs(runs: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Mean and 95% CI of each figure per scenario, over replications."""
    order = _row_order(runs)
    rows = []
    for sc in scenarios:
        got = _intervals(runs[runs["scenario"] == sc], "value")
        rows += [(sc, *key, *got.get(key, _EMPTY)) for key in order]
    return pd.DataFrame(rows, columns=["scenario", *KEYS, "n", "mean", "sd", "ci_low",
                                       "ci_high"])


def paired_differences(runs: pd.DataFrame, scenarios: list[str], baseline: str) -> pd.DataFrame:
    """Scenario minus baseline, replication by replication (same seed), with a 95% CI."""
    order = _row_order(runs)
    base = runs[runs["scenario"] == baseline]
    base_mean = _intervals(base, "value")
    rows = []
    for sc in scenarios:
        if sc == baseline:
            continue
        other = runs[runs["scenario"] == sc]
        # pair on (figure, replication): the same seed in both
        pairs = other.merge(base, on=[*KEYS, "replication"], suffixes=("", "_base"))
        pairs["diff"] = pairs["value"] - pairs["value_base"]
        got, own = _intervals(pairs, "diff"), _intervals(other, "value")
        for key in order:
            n, mean, sd, lo, hi = got.get(key, _EMPTY)
            rows.append((sc, baseline, *key, n, base_mean.get(key, _EMPTY)[1],
                         own.get(key, _EMPTY)[1], mean, sd, lo, hi))
    return pd.DataFrame(rows, columns=["scenario", "baseline", *KEYS, "n", "baseline_mean",
                                       "scenario_mean", "mean_diff", "sd_diff", "ci_low",
                                       "ci_high"])


@dataclass
class ExperimentResult:
    experiment: LoadedExperiment
    runs: pd.DataFrame  # one row per (scenario, replication, figure)
    summary: pd.DataFrame  # per scenario: mean and 95% CI
    differences: pd.DataFrame  # per scenario: paired difference from the baseline, 95% CI
    meta: dict
    out_dir: Path | None = None
    series: pd.DataFrame | None = None  # weekly series of every run (results.SERIES)
    crn: pd.DataFrame | None = None  # paired vs unpaired interval widths (statistics.crn_gain)
    statistics: dict | None = None  # what pairing bought for the focus figure; runs needed

    @property
    def seeds(self) -> list[int]:
        return self.experiment.seeds


def run_experiment(path: str | Path, out_dir: str | Path | None = None,
                   replications: int | None = None, scale: float | None = None,
                   progress: Progress | None = None, workers: int = 1, dask: bool = False,
                   scheduler: str | None = None) -> ExperimentResult:
    """Run every scenario × replication (paired seeds) and summarise; write to `out_dir`.

    With `out_dir`, each run is saved the moment it ends (`runs/scenario=…/replication=…`),
    and runs already saved there are not run again: rerunning after a crash or a kill picks up
    where it stopped, never repeating or losing a run. Results do not depend on `workers` or
    the backend (process pool, Dask `LocalCluster` with `dask`, or a Dask `scheduler`): each
    run depends only on its config and seed, and runs are put back in (scenario, replication)
    order before anything is computed.
    """
    if workers < 1:
        raise ConfigError(f"--workers: {workers} is not allowed; use 1 or more")
    exp = load_experiment(path, replications=replications, scale=scale)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {str(out)!r} is a file; give a folder for the results")
    scenarios = list(exp.configs)
    prov = provenance()
    code = f"{prov.get('msksim_version')}/{prov.get('git_sha')}"
    jobs, hashes = [], {}
    for sc in scenarios:
        cfg = exp.configs[sc]
        contract = exp.contracts[sc]
        for r, seed in enumerate(exp.seeds):
            run_cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"seed": seed})})
            if exp.draws is not None:
                run_cfg = with_values(run_cfg, exp.draws[r], "uncertainty")
            jobs.append((sc, r, run_cfg, contract))
            hashes[(sc, r)] = config_hash(run_cfg, contract, code)
    t0 = time.perf_counter()
    done: dict[tuple[str, int], tuple[pd.DataFrame, pd.DataFrame, dict]] = {}
    if out is not None and (out / RUNS_DIR).is_dir():
        _clean_partial(out)
        for sc, r, *_ in jobs:
            got = _load_run(out, sc, r, hashes[(sc, r)])
            if got is not None:
                done[(sc, r)] = got
    if out is not None:  # the tables are rewritten below; meta.json last marks them complete
        (out / "meta.json").unlink(missing_ok=True)
    resumed = len(done)
    todo = [j for j in jobs if (j[0], j[1]) not in done]
    if progress is not None:
        progress(len(done), len(jobs))

    def collect(res: tuple[str, int, pd.DataFrame, pd.DataFrame, dict]) -> None:
        sc, r, summary, series, info = res
        info = {**info, "config_hash": hashes[(sc, r)]}
        if out is not None:
            _save_run(out, sc, r, summary, series, info)
        done[(sc, r)] = (summary, series, info)
        if progress is not None:
            progress(len(done), len(jobs))

    backend = _execute(todo, workers, dask, scheduler, collect) if todo else "none needed"
    frames, series_frames, run_info = [], [], []
    for sc in scenarios:
        for r in range(len(exp.seeds)):
            summary, series, info = done[(sc, r)]
            frames.append(summary.assign(scenario=sc, replication=r, seed=info["seed"]))
            series_frames.append(series.assign(scenario=sc, replication=r))
            run_info.append({"scenario": sc, "replication": r,
                             **({"parameters": exp.draws[r]} if exp.draws else {}),
                             **{k: v for k, v in info.items() if k != "config_hash"}})
    runs = pd.concat(frames, ignore_index=True)[
        ["scenario", "replication", "seed", *KEYS, "value"]]
    series_all = pd.concat(series_frames, ignore_index=True)[
        ["scenario", "replication", "week", "series", "group", "value"]]
    meta = {
        **prov,
        "experiment_file": str(exp.path),
        "experiment_text": exp.text,
        "name": exp.spec.name,
        "question": exp.spec.question,
        "baseline": exp.spec.baseline,
        "replications": exp.replications,
        "seeds": exp.seeds,
        "workers": workers,
        "backend": backend,
        "runs_resumed": resumed,
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "scenarios": {sc: {"contract": exp.contracts[sc],
                           "description": exp.descriptions[sc],
                           "config": exp.configs[sc].model_dump(mode="json")}
                      for sc in scenarios},
        "uncertain_parameters": exp.draws,
        "runs": run_info,
    }
    summary = summarise_runs(runs, scenarios)
    result = ExperimentResult(experiment=exp, runs=runs, summary=summary,
                              differences=paired_differences(runs, scenarios,
                                                             exp.spec.baseline),
                              meta=meta, out_dir=out, series=series_all)
    result.crn = crn_gain(runs, exp.spec.baseline)
    result.statistics = experiment_statistics(result)
    if out is not None:
        write_results(result, out)
    return result


def experiment_statistics(result: ExperimentResult) -> dict:
    """For the experiment's focus figure: how much narrower pairing made the intervals (once
    per experiment), and how many replications give the chosen precision."""
    spec = result.experiment.spec
    focus = spec.focus
    out: dict = {"focus": focus, "precision": spec.precision, "crn": None, "advisor": []}
    crn = result.crn
    if crn is not None and len(crn):
        sel = crn[(crn["measure"] == focus) & np.isfinite(crn["narrower_pct"])]
        if len(sel):
            row = sel.iloc[0]
            out["crn"] = {"measure": focus, "unit": row["unit"], "scenario": row["scenario"],
                          "baseline": row["baseline"], "n": int(row["n"]),
                          "paired_half_width": float(row["paired_half_width"]),
                          "unpaired_half_width": float(row["unpaired_half_width"]),
                          "narrower_pct": float(row["narrower_pct"]),
                          "variance_ratio": float((row["unpaired_half_width"]
                                                   / row["paired_half_width"]) ** 2)
                          if row["paired_half_width"] > 0 else None}
        finite = crn["narrower_pct"][np.isfinite(crn["narrower_pct"])]
        if len(finite):
            out["crn_all_figures"] = {"figures": int(len(finite)),
                                      "median_narrower_pct": float(finite.median()),
                                      "share_narrower": float((finite > 0).mean())}
    summ = result.summary[result.summary["measure"] == focus]
    for row in summ.itertuples(index=False):
        need = replications_needed(row.sd, spec.precision * abs(row.mean))
        out["advisor"].append({"scenario": row.scenario, "measure": focus, "n_now": int(row.n),
                               "sd": row.sd, "half_width_wanted": spec.precision * abs(row.mean),
                               "replications_needed": need})
    diffs = result.differences[result.differences["measure"] == focus]
    for row in diffs.itertuples(index=False):
        # enough paired runs for the difference's interval to be a quarter of its size
        need = replications_needed(row.sd_diff, 0.25 * abs(row.mean_diff))
        out["advisor"].append({"scenario": f"{row.scenario} − {row.baseline}", "measure": focus,
                               "n_now": int(row.n), "sd": row.sd_diff,
                               "half_width_wanted": 0.25 * abs(row.mean_diff),
                               "replications_needed": need})
    return out


def write_results(result: ExperimentResult, out: Path) -> None:
    """Parquet and CSV tables, then meta.json last (its presence marks a complete set)."""
    tables = [("summary", result.summary), ("differences", result.differences),
              ("runs", result.runs)]
    if result.series is not None:
        tables.append(("series", result.series))
    for name, df in tables:
        write_parquet(df, out / f"{name}.parquet")
        if name not in ("runs", "series"):
            write_csv(df, out / f"{name}.csv")
    if result.crn is not None:
        write_csv(result.crn, out / "crn.csv")
    if result.statistics is not None:
        write_json(result.statistics, out / "statistics.json")
    write_json(result.meta, out / "meta.json")


# ----------------------------------------------------------------------------------------------
# reading it
# ----------------------------------------------------------------------------------------------
#: the figures shown in the terminal, in this order, where the run produced them
HEADLINE = (
    "GP MSK consulters", "Returns to the GP without treatment (ping-pong)", "all operations",
    "hip replacement", "knee replacement", "Waiting for a first appointment (end)",
    "Waiting for surgery (end)", "Incomplete RTT pathways within 18 weeks",
    "EQ-5D gain six months after surgery", "Oxford Hip Score gain (hip replacement)",
    "Oxford Knee Score gain (knee replacement)", "QALYs lost to MSK conditions",
    "Commissioner spend", "Spend against the envelope",
)


def _headline(df: pd.DataFrame, wanted: list[str]) -> pd.DataFrame:
    pick = df[df["measure"].isin(wanted or HEADLINE)]
    return pick if len(pick) else df


def format_experiment(result: ExperimentResult) -> str:
    """The experiment in plain words: each scenario's figures, then what changes vs baseline."""
    exp, spec = result.experiment, result.experiment.spec
    cfg = exp.configs[spec.baseline]
    seeds = exp.seeds
    seed_words = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    setup = (f"{exp.replications} replication(s) of each scenario ({seed_words}, the same for "
             f"every scenario), scale {cfg.run.scale}, {cfg.run.years} contract year(s) after a "
             f"{cfg.run.warmup_weeks}-week warm-up.")
    lines = [spec.name, *textwrap.wrap(spec.question, 100), "", *textwrap.wrap(setup, 100),
             "", "Scenarios"]
    width = max(len(s) for s in exp.configs)
    for name in exp.configs:
        mark = " (baseline)" if name == spec.baseline else ""
        lines.append(f"  {name:<{width}}  {exp.contracts[name]}{mark}")
        lines += textwrap.wrap(exp.descriptions[name], 96, initial_indent=" " * (width + 4),
                               subsequent_indent=" " * (width + 4))
    if exp.draws is not None:
        ranges = ", ".join(f"{k} in [{lo:g}, {hi:g}]"
                           for k, (lo, hi) in spec.uncertainty.parameters.items())
        lines += ["", *textwrap.wrap(
            f"Uncertain parameters (replication 0 at the centre, the others spread over the "
            f"ranges by a scrambled Halton sequence, the same in every scenario): {ranges}.",
            100)]
    lines += ["", "Mean over replications [95% confidence interval]"]
    summ = _headline(result.summary, spec.headline)
    for key, grp in summ.groupby(KEYS, sort=False):
        lines.append(f"  {key[1]} ({key[2]})")
        for row in grp.itertuples(index=False):
            ci = f" [{fmt_number(row.ci_low)}, {fmt_number(row.ci_high)}]" if row.n > 1 else ""
            lines.append(f"    {row.scenario:<{width}}  {fmt_number(row.mean)}{ci}")
    diffs = _headline(result.differences, spec.headline)
    for sc, grp in diffs.groupby("scenario", sort=False):
        lines += ["", f"{sc} compared with {spec.baseline} (paired: same seeds; difference "
                      f"[95% CI])"]
        for row in grp.itertuples(index=False):
            if row.n == 0:
                continue
            word = verdict(row.n, row.mean_diff, row.sd_diff, row.ci_low, row.ci_high)
            ci = f" [{fmt_number(row.ci_low)}, {fmt_number(row.ci_high)}]" if row.n > 1 else ""
            sign = "+" if row.mean_diff > 0 else ""
            lines.append(f"  {row.measure} ({row.unit}): {sign}{fmt_number(row.mean_diff)}{ci}, "
                         f"{word}")
    lines += statistics_words(result.statistics)
    return "\n".join(lines)


def statistics_words(st: dict | None) -> list[str]:
    """What pairing bought and how many runs are needed, in plain words."""
    if not st:
        return []
    lines = []
    crn = st.get("crn")
    if crn:
        pct = crn["narrower_pct"]
        how = f"{pct:.0f}% narrower" if pct >= 0 else f"{-pct:.0f}% wider"
        lines += ["", *textwrap.wrap(
            f"Common random numbers: pairing runs by seed made the 95% interval for the "
            f"difference in '{crn['measure']}' ({crn['scenario']} − {crn['baseline']}) "
            f"{how} than independent runs would give "
            f"(half-width {fmt_number(crn['paired_half_width'])} against "
            f"{fmt_number(crn['unpaired_half_width'])}; {crn['n']} replications).", 100)]
    every = st.get("crn_all_figures")
    if every:
        lines += textwrap.wrap(
            f"Over all {every['figures']} figures, pairing narrowed the interval for "
            f"{100 * every['share_narrower']:.0f}% of them, by "
            f"{every['median_narrower_pct']:.0f}% at the median.", 100)
    adv = [a for a in st.get("advisor", []) if a["replications_needed"] is not None]
    if adv:
        lines += ["", f"Replications needed for '{st['focus']}':"]
        for a in adv:
            lines.append(f"  {a['scenario']}: {a['replications_needed']} for an interval of "
                         f"± {fmt_number(a['half_width_wanted'])} (now {a['n_now']})")
    return lines


# ----------------------------------------------------------------------------------------------
# the command line: `msksim experiment FILE`
# ----------------------------------------------------------------------------------------------
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `experiment` to the CLI's subcommands (cli.py: `add_parser(sub)` and a handler)."""
    p = subparsers.add_parser(
        "experiment", help="run every scenario of an experiment file over paired replications",
        description="Run each scenario of an experiment file (a contract and an overlay on a "
                    "base city) with the same seeds, and report each figure's mean and 95% "
                    "confidence interval and its paired difference from the baseline scenario.")
    p.add_argument("file", metavar="FILE", help="experiment file (YAML), e.g. "
                   "experiments/sheffield_options.yaml")
    p.add_argument("--out", metavar="DIR", help="folder for summary, differences and runs "
                   "(Parquet and CSV) and meta.json")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="runs at once in separate processes (results do not depend on it)")
    p.add_argument("--dask", action="store_true",
                   help="run on a local Dask cluster of N workers instead of a process pool")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run on an existing Dask cluster (its workers need msksim installed "
                        "and the results come back here)")
    p.add_argument("--replications", type=int, metavar="R",
                   help="replications per scenario (default from the file)")
    p.add_argument("--scale", type=float, metavar="F",
                   help="fraction of the population to simulate, for every scenario")
    p.add_argument("--quiet", action="store_true", help="no progress bar or report")
    p.set_defaults(handler=cmd_experiment)
    return p


def cmd_experiment(args: argparse.Namespace) -> int:
    bar = ProgressBar(not args.quiet, "experiment", log_lines=True)
    try:
        result = run_experiment(args.file, out_dir=args.out, replications=args.replications,
                                scale=args.scale, progress=bar, workers=args.workers,
                                dask=args.dask, scheduler=args.scheduler)
    finally:
        bar.close()
    if not args.quiet:
        print(format_experiment(result))
        if result.out_dir is not None:
            print(f"\nResults written to {result.out_dir}/ (summary, differences, runs and "
                  f"weekly series as Parquet; summary.csv, differences.csv; meta.json; each "
                  f"run in runs/). `msksim report {result.out_dir}` writes a report.")
    return 0

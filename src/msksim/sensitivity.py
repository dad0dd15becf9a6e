"""Sensitivity screening: which uncertain assumptions drive an answer (Morris elementary effects).

A sensitivity file (YAML; example in experiments/sensitivity_money_weight.yaml) reads:

    name: What drives the difference between COBIC and PbR?
    question: one plain-language sentence
    base: ../configs/sheffield.yaml   # relative to this file; omit for the built-in city
    overlays: []                      # applied to every run: paths (relative) or mappings
    contract: cobic                   # the payment rule simulated
    compare_with: pbr                 # optional: the figure is then contract − compare_with,
                                      # each pair of runs with the same seed and assumptions
    kpi: all operations               # a figure of the headline table (`msksim run` prints it)
    trajectories: 10                  # Morris r: runs = r × (parameters + 1), ×2 to compare
    levels: 4                         # grid levels of each range (even)
    seed: 1                           # every run uses this seed (omit = the config's run.seed)
    run: {scale: 0.1, years: 3, warmup_weeks: 52}
    parameters:                       # dotted paths into the city config: [low, high]
      behaviour.w_money_qaly_per_gbp: [0.0, 1.0e-4]
      contract.cobic.outcome_incentive_share_by_year.*: [0.0, 0.15]

A path names a number in the resolved city config (base plus overlays); a list's element is
named by its index (`....outcome_incentive_share_by_year.2`), or `*` sets every element to the
same value. A setting held as a whole number (e.g. `theatres`) is rounded to one.

Every run uses the same seed (common random numbers), so the same people fall ill in the same
weeks whatever the assumptions: a change in the figure comes from the assumption moved, not
from chance (model paths still diverge once decisions differ, so some noise remains). Morris
trajectories move one assumption at a time by a fixed step (2/3 of its range with 4 levels);
each move's change in the figure, scaled to the whole range, is an elementary effect. Per
assumption: mu* = the mean absolute effect (importance), mu = the mean signed effect (its
direction), sigma = their spread (interactions with the other assumptions, or non-linearity).

Outputs: sensitivity.csv (ranked), samples.csv (every run's values and figure), morris.png,
and meta.json (provenance, the file, the seed, the settings).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import math
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from .config import (
    CONTRACT_RULES,
    CityConfig,
    ConfigError,
    check_rule_available,
    load_config,
    read_yaml,
)
from .io import atomic_write, provenance, write_csv, write_json
from .progress import ProgressBar

Overlay = dict[str, Any] | str
Progress = Callable[[int, int], None]

#: sensitivity.csv's columns (the experiment report reads parameter, mu_star, mu_star_conf,
#: sigma, kpi)
COLUMNS = ["parameter", "mu_star", "mu_star_conf", "mu", "sigma", "kpi", "unit", "rank"]
DEFAULT_OUT = "out/sensitivity"


# ----------------------------------------------------------------------------------------------
# the file format
# ----------------------------------------------------------------------------------------------
class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RunSettings(_Closed):
    """Run settings for every run (each optional; the seed is set at the top of the file)."""

    years: StrictInt | None = Field(None, ge=1, le=50)
    warmup_weeks: StrictInt | None = Field(None, ge=0, le=520)
    scale: float | None = Field(None, gt=0.0, le=10.0)


class SensitivitySpec(_Closed):
    name: str
    question: str
    base: str | None = None
    overlays: list[Overlay] = []
    contract: str
    compare_with: str | None = None
    kpi: str
    trajectories: StrictInt = Field(10, ge=2, le=1000)
    levels: StrictInt = Field(4, ge=2, le=20)
    seed: StrictInt | None = Field(None, ge=0, le=2**63 - 1)
    run: RunSettings = RunSettings()
    parameters: dict[str, tuple[float, float]] = Field(min_length=1)


def _model_at(loc: list[str]) -> type[BaseModel]:
    return RunSettings if loc[:1] == ["run"] else SensitivitySpec


def _describe(exc: ValidationError, data: dict) -> str:
    """One line for the first problem: the field, the value and what is allowed."""
    err = exc.errors(include_url=False)[0]
    loc = [str(x) for x in err["loc"]]
    loc = [x for x in loc if "[" not in x and x not in ("str", "dict", "list")]
    name = ".".join(loc) or "(top level)"
    params = data.get("parameters")
    if loc[:1] == ["parameters"] and len(loc) >= 2 and isinstance(params, dict):
        shown = repr(params.get(loc[1]))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return f"parameters.{loc[1]}: {shown} is not allowed; give [low, high], two numbers"
    if err["type"] == "extra_forbidden":
        return f"{name}: unknown setting; allowed: {sorted(_model_at(loc).model_fields)}"
    if err["type"] == "missing":
        return f"{name}: required setting is missing"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{name}: {shown} is not allowed ({err['msg']})"


def parse_spec(data: dict, where: str = "sensitivity") -> SensitivitySpec:
    """Validate a mapping into a SensitivitySpec (the format only; `load_sensitivity` checks the
    parameters against the city config)."""
    try:
        spec = SensitivitySpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc, data)}") from None
    for rule, key in ((spec.contract, "contract"), (spec.compare_with, "compare_with")):
        if rule is not None and rule not in CONTRACT_RULES:
            raise ConfigError(f"{where}: {key}: {rule!r} is not a payment rule; allowed: "
                              f"{list(CONTRACT_RULES)}")
    if spec.compare_with == spec.contract:
        raise ConfigError(f"{where}: compare_with: {spec.compare_with!r} is the contract "
                          f"itself; name another rule or leave compare_with out")
    if spec.levels % 2:
        raise ConfigError(f"{where}: levels: {spec.levels} is not allowed; Morris needs an even "
                          f"number of levels (e.g. 4)")
    for path, (low, high) in spec.parameters.items():
        if not low < high:
            raise ConfigError(f"{where}: parameters.{path}: low {low} must be below high {high}")
        if path.split(".")[0] == "run":
            raise ConfigError(f"{where}: parameters.{path}: run settings are not assumptions; "
                              f"set them under run: (or seed:)")
        if path.endswith(".*"):  # every element: no other parameter may set one of them
            for other in spec.parameters:
                if other != path and other.startswith(path[:-1]):
                    raise ConfigError(f"{where}: parameters.{other}: {path} already sets "
                                      f"every element; vary one or the other")
    return spec


# ----------------------------------------------------------------------------------------------
# dotted paths into the city config
# ----------------------------------------------------------------------------------------------
def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def lookup(tree: dict, path: str) -> Any:
    """The value a dotted path names in a config mapping (`cfg.model_dump(mode="json")`): its
    number, or for a final `*` the list of numbers. Raises a ConfigError saying which part of
    the path is wrong."""
    parts = path.split(".")
    node: Any = tree
    walked: list[str] = []
    for i, part in enumerate(parts):
        here = ".".join(walked) or "the city config"
        if node is None:
            raise ConfigError(f"{here} is not set in this config, so it has no {part!r}; set "
                              f"it in the base or an overlay first")
        if isinstance(node, dict):
            if part not in node:
                close = difflib.get_close_matches(part, list(node), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{part!r} is not a setting of {here}{hint}; allowed: "
                                  f"{sorted(node)}")
            node = node[part]
        elif isinstance(node, list):
            if part == "*":
                if i != len(parts) - 1:
                    raise ConfigError(f"{here}.*: '*' (every element) must end the path")
                if not node or not all(_is_number(x) for x in node):
                    raise ConfigError(f"{here} is not a list of numbers, so '*' cannot set "
                                      f"every element; name one by its index")
                return list(node)
            if not (part.isdigit() and int(part) < len(node)):
                raise ConfigError(f"{here} is a list of {len(node)}; name an element by its "
                                  f"index 0-{len(node) - 1}, or * for every element")
            node = node[int(part)]
        else:
            raise ConfigError(f"{here} is a single value ({node!r}); it has no setting {part!r}")
        walked.append(part)
    if node is None:
        raise ConfigError(f"{path} is not set in this config (empty); give it a number in the "
                          f"base or an overlay first")
    if isinstance(node, list):
        raise ConfigError(f"{path} is a list ({node!r}); name one element by its index "
                          f"({path}.0) or set every element with {path}.*")
    if not _is_number(node):
        raise ConfigError(f"{path} is {node!r}, not a number; only numbers can be varied")
    return node


def _assign(target: Any, parts: list[str], value: float) -> None:
    """Set `value` at `parts` inside lists and mappings (in place; `*` = every element)."""
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if last == "*":
        target[:] = [value] * len(target)
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def overlay_for(values: dict[str, float], tree: dict) -> dict:
    """One overlay setting every dotted path to its value. Mappings nest; a list is copied from
    the resolved config `tree` whole (overlays replace lists whole) and changed element-wise."""
    overlay: dict = {}
    for path, value in values.items():
        parts = path.split(".")
        node_ov, node_base = overlay, tree
        for i, part in enumerate(parts):
            child = node_base[part]
            if isinstance(child, list):
                if not isinstance(node_ov.get(part), list):
                    node_ov[part] = copy.deepcopy(child)
                _assign(node_ov[part], parts[i + 1:], value)
                break
            if i == len(parts) - 1:
                node_ov[part] = value
                break
            node_ov = node_ov.setdefault(part, {})
            node_base = child
    return overlay


# ----------------------------------------------------------------------------------------------
# the Morris plumbing (SALib), independent of the model
# ----------------------------------------------------------------------------------------------
def _problem(names: Sequence[str], bounds: Sequence[Sequence[float]]) -> dict:
    return {"num_vars": len(names), "names": list(names),
            "bounds": [[float(lo), float(hi)] for lo, hi in bounds]}


def morris_sample(names: Sequence[str], bounds: Sequence[Sequence[float]], trajectories: int,
                  levels: int = 4, seed: int = 1) -> np.ndarray:
    """The Morris design: `trajectories` × (k + 1) rows, one column per parameter, in its
    units. Each trajectory moves one parameter at a time."""
    from SALib.sample import morris

    return morris.sample(_problem(names, bounds), trajectories, num_levels=levels,
                         seed=seed)


def morris_analyze(names: Sequence[str], bounds: Sequence[Sequence[float]], X: np.ndarray,
                   Y: np.ndarray, levels: int = 4, seed: int = 1) -> pd.DataFrame:
    """mu*, its 95% bootstrap half-width, mu and sigma per parameter, ranked (1 = the largest
    mu*; equal mu* share a rank). Effects are in the figure's units per whole range."""
    from SALib.analyze import morris

    Y = np.asarray(Y, dtype=np.float64)
    si = morris.analyze(_problem(names, bounds), np.asarray(X, dtype=np.float64), Y,
                        num_levels=levels, conf_level=0.95, num_resamples=1000, seed=seed)
    table = pd.DataFrame({"parameter": list(names),
                          "mu_star": np.asarray(si["mu_star"], dtype=np.float64),
                          "mu_star_conf": np.asarray(si["mu_star_conf"], dtype=np.float64),
                          "mu": np.asarray(si["mu"], dtype=np.float64),
                          "sigma": np.asarray(si["sigma"], dtype=np.float64)})
    table["rank"] = table["mu_star"].rank(method="min", ascending=False).astype(int)
    return table.sort_values(["rank", "parameter"], kind="stable").reset_index(drop=True)


def screen(func: Callable[[np.ndarray], float], names: Sequence[str],
           bounds: Sequence[Sequence[float]], trajectories: int, levels: int = 4,
           seed: int = 1) -> pd.DataFrame:
    """Sample, evaluate `func` on each row, analyse: Morris screening of any function."""
    X = morris_sample(names, bounds, trajectories, levels, seed)
    Y = np.array([func(x) for x in X], dtype=np.float64)
    return morris_analyze(names, bounds, X, Y, levels, seed)


# ----------------------------------------------------------------------------------------------
# loading: every run's config built and checked before any run
# ----------------------------------------------------------------------------------------------
@dataclass
class LoadedSensitivity:
    path: Path
    text: str
    spec: SensitivitySpec
    base_config: CityConfig  # base + overlays + run settings + seed, no parameter moved
    names: list[str]
    bounds: list[tuple[float, float]]
    integer: list[bool]  # held as whole numbers: drawn values are rounded
    X: np.ndarray  # the Morris design (unrounded, as SALib analyses it)
    values: np.ndarray  # the values each run used (rounded where the setting is whole)
    configs: list[CityConfig]
    trajectories: int

    @property
    def seed(self) -> int:
        return self.base_config.run.seed

    @property
    def contracts(self) -> list[str]:
        other = self.spec.compare_with
        return [self.spec.contract, *([other] if other else [])]


def _resolve(item: Overlay, folder: Path, name: str) -> Overlay:
    if isinstance(item, str):
        p = Path(item) if Path(item).is_absolute() else folder / item
        if not p.is_file():
            raise ConfigError(f"{name}: {item!r} is not a file (paths are relative to the "
                              f"sensitivity file, {str(folder)!r})")
        return str(p)
    return item


def _shown(x: float) -> str:
    return f"{x:g}"


def load_sensitivity(path: str | Path, trajectories: int | None = None,
                     scale: float | None = None) -> LoadedSensitivity:
    """Read a sensitivity file, check every parameter against the city config, draw the Morris
    design and build every run's config, running nothing."""
    from .contracts import RULES
    from .pathway import build_pathway

    path = Path(path)
    where = path.name
    spec = parse_spec(read_yaml(path), where)
    if trajectories is not None and trajectories < 2:
        raise ConfigError(f"--trajectories: {trajectories} is not allowed; use 2 or more")
    if scale is not None and not 0.0 < scale <= 10.0:
        raise ConfigError(f"--scale: {scale} is not allowed; use a fraction above 0 (at most 10)")
    folder = path.parent
    try:
        base = _resolve(spec.base, folder, "base") if spec.base is not None else None
        shared = [_resolve(o, folder, f"overlays.{i}") for i, o in enumerate(spec.overlays)]
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    run = spec.run.model_dump(exclude_none=True)
    if spec.seed is not None:
        run["seed"] = spec.seed
    if scale is not None:
        run["scale"] = scale
    fixed = [*shared, *([{"run": run}] if run else [])]

    def build(values: dict[str, float]) -> CityConfig:
        cfg = load_config(base, overlays=[*fixed, overlay_for(values, tree)] if values
                          else fixed)
        build_pathway(cfg)
        for rule in (spec.contract, spec.compare_with):
            if rule is not None:
                check_rule_available(cfg, rule)
        return cfg

    tree: dict = {}
    try:
        base_cfg = build({})
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    for rule, key in ((spec.contract, "contract"), (spec.compare_with, "compare_with")):
        if rule is not None and rule not in RULES:
            raise ConfigError(f"{where}: {key}: {rule!r} is not built into the model yet; "
                              f"available: {sorted(RULES)}")
    tree = base_cfg.model_dump(mode="json")
    names = list(spec.parameters)
    bounds = [tuple(spec.parameters[n]) for n in names]
    integer = []
    for name, (low, high) in zip(names, bounds, strict=True):
        try:
            now = lookup(tree, name)
        except ConfigError as exc:
            raise ConfigError(f"{where}: parameters.{name}: {exc}") from None
        whole = isinstance(now, int) or (isinstance(now, list) and all(isinstance(x, int)
                                                                      for x in now))
        if whole and round(low) == round(high):
            raise ConfigError(f"{where}: parameters.{name}: a whole-number setting needs a "
                              f"range spanning whole numbers, not [{low}, {high}]")
        integer.append(whole)
        for end, v in (("low", low), ("high", high)):  # each end alone, others as they are
            try:
                build({name: round(v) if whole else v})
            except ConfigError as exc:
                raise ConfigError(f"{where}: parameters.{name}: the range [{_shown(low)}, "
                                  f"{_shown(high)}] is not allowed: its {end} end {_shown(v)} "
                                  f"gives {exc}") from None
    r = trajectories or spec.trajectories
    X = morris_sample(names, bounds, r, spec.levels, base_cfg.run.seed)
    # the values each run uses: whole numbers rounded, others without binary noise (0.1, not
    # 0.09999999999999999); SALib analyses the design X itself
    values = np.array([[round(v) if whole else float(f"{v:.12g}")
                        for v, whole in zip(row, integer, strict=True)] for row in X],
                      dtype=np.float64).reshape(X.shape)
    configs = []
    for i, row in enumerate(values):
        drawn = {n: (int(v) if integer[j] else float(v)) for j, (n, v) in enumerate(
            zip(names, row, strict=True))}
        try:
            configs.append(build(drawn))
        except ConfigError as exc:
            shown = ", ".join(f"{n} = {_shown(v)}" for n, v in drawn.items())
            raise ConfigError(f"{where}: run {i} ({shown}): these values together are not "
                              f"allowed: {exc}; narrow one of the parameters' ranges") from None
    return LoadedSensitivity(path=path, text=path.read_text(encoding="utf-8"), spec=spec,
                             base_config=base_cfg, names=names, bounds=bounds, integer=integer,
                             X=X, values=values, configs=configs, trajectories=r)


# ----------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------
@dataclass
class SensitivityResult:
    loaded: LoadedSensitivity
    table: pd.DataFrame  # sensitivity.csv
    samples: pd.DataFrame  # samples.csv
    kpi_label: str
    unit: str
    meta: dict
    out_dir: Path | None = None


def _kpi_value(summary: pd.DataFrame, kpi: str, where: str) -> tuple[float, str]:
    rows = summary[summary["measure"] == kpi]
    if len(rows) == 0:
        measures = list(dict.fromkeys(summary["measure"]))
        close = difflib.get_close_matches(kpi, measures, n=3, cutoff=0.5)
        hint = f"; did you mean {close}?" if close else ""
        raise ConfigError(f"{where}: kpi: {kpi!r} is not a figure of this run{hint} (the "
                          f"figures are the rows `msksim run` prints, e.g. 'all operations', "
                          f"'Commissioner spend')")
    if len(rows) > 1:
        raise ConfigError(f"{where}: kpi: {kpi!r} names {len(rows)} figures (sections "
                          f"{list(rows['section'])}); choose one that is unique")
    return float(rows["value"].iloc[0]), str(rows["unit"].iloc[0])


def run_sensitivity(path: str | Path, out_dir: str | Path | None = None, workers: int = 1,
                    trajectories: int | None = None, scale: float | None = None,
                    progress: Progress | None = None) -> SensitivityResult:
    """Run the Morris design (r × (k + 1) runs, twice with compare_with), analyse it and write
    the results to `out_dir`. Results do not depend on `workers`."""
    from .experiment import _execute

    if workers < 1:
        raise ConfigError(f"--workers: {workers} is not allowed; use 1 or more")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {str(out)!r} is a file; give a folder for the results")
    loaded = load_sensitivity(path, trajectories=trajectories, scale=scale)
    spec, where = loaded.spec, loaded.path.name
    jobs = [(rule, i, cfg, rule) for rule in loaded.contracts
            for i, cfg in enumerate(loaded.configs)]
    got: dict[tuple[str, int], float] = {}
    units: set[str] = set()
    walls: list[float] = []
    if progress is not None:
        progress(0, len(jobs))

    def collect(res: tuple) -> None:
        rule, i, summary, _series, info = res
        value, unit = _kpi_value(summary, spec.kpi, where)
        got[(rule, i)] = value
        units.add(unit)
        walls.append(info.get("wall_seconds", math.nan))
        if progress is not None:
            progress(len(got), len(jobs))

    t0 = time.perf_counter()
    backend = _execute(jobs, workers, dask=False, scheduler=None, on_result=collect)
    wall = round(time.perf_counter() - t0, 2)
    unit = units.pop() if len(units) == 1 else "; ".join(sorted(units))
    n = len(loaded.configs)
    own = np.array([got[(spec.contract, i)] for i in range(n)])
    samples = pd.DataFrame(loaded.values, columns=loaded.names)
    for j, whole in enumerate(loaded.integer):
        if whole:
            samples[loaded.names[j]] = samples[loaded.names[j]].astype(np.int64)
    k = len(loaded.names)
    samples.insert(0, "trajectory", np.arange(n) // (k + 1))
    samples.insert(0, "run", np.arange(n))
    samples["seed"] = loaded.seed
    if spec.compare_with:
        other = np.array([got[(spec.compare_with, i)] for i in range(n)])
        samples[f"value_{spec.contract}"] = own
        samples[f"value_{spec.compare_with}"] = other
        Y = own - other
        label = f"{spec.kpi}: {spec.contract} minus {spec.compare_with}"
    else:
        Y = own
        label = spec.kpi
    samples["kpi"] = Y
    if out is not None:  # the runs are kept even if the analysis cannot be done
        write_csv(samples, out / "samples.csv")
    bad = int((~np.isfinite(Y)).sum())
    if bad:
        raise ConfigError(f"{where}: kpi: {spec.kpi!r} could not be computed in {bad} of {n} "
                          f"runs (nothing to divide by, e.g. no operations at this scale); "
                          f"choose another figure or a larger scale")
    table = morris_analyze(loaded.names, loaded.bounds, loaded.X, Y, spec.levels, loaded.seed)
    table["kpi"], table["unit"] = label, unit
    table = table[COLUMNS]
    settings = {"contract": spec.contract, "compare_with": spec.compare_with, "kpi": spec.kpi,
                "unit": unit, "trajectories": loaded.trajectories, "levels": spec.levels,
                "parameters": k, "runs": len(jobs), "scale": loaded.base_config.run.scale,
                "years": loaded.base_config.run.years,
                "warmup_weeks": loaded.base_config.run.warmup_weeks, "workers": workers,
                "backend": backend, "wall_seconds": wall,
                "run_wall_seconds_mean": round(float(np.nanmean(walls)), 2) if walls else None}
    meta = {
        **provenance(),
        "sensitivity_file": str(loaded.path),
        "sensitivity_text": loaded.text,
        "name": spec.name,
        "question": spec.question,
        "spec": spec.model_dump(mode="json"),
        "seed": loaded.seed,
        "settings": settings,
        "parameters": [{"parameter": n, "low": lo, "high": hi, "whole_number": w}
                       for n, (lo, hi), w in zip(loaded.names, loaded.bounds, loaded.integer,
                                                 strict=True)],
        "method": "Morris elementary effects (SALib); mu* in the figure's units per whole "
                  "range; mu_star_conf is the half-width of a 95% bootstrap interval",
        "base_config": loaded.base_config.model_dump(mode="json"),
    }
    result = SensitivityResult(loaded=loaded, table=table, samples=samples, kpi_label=label,
                               unit=unit, meta=meta, out_dir=out)
    if out is not None:
        write_csv(table, out / "sensitivity.csv")
        plot_morris(result, out / "morris.png")
        write_json(meta, out / "meta.json")  # last: its presence marks a complete set
    return result


# ----------------------------------------------------------------------------------------------
# reading it
# ----------------------------------------------------------------------------------------------
def plot_morris(result: SensitivityResult, path: str | Path) -> None:
    """morris.png: mu* with its 95% interval (bars), and mu* against sigma."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.table.iloc[::-1]  # largest at the top
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, max(4.0, 1.6 + 0.55 * len(t))),
                                   gridspec_kw={"width_ratios": [3, 2]})
    labels = [f"{row.parameter}  ({i})" for i, row in zip(t["rank"], t.itertuples(), strict=True)]
    ax1.barh(range(len(t)), t["mu_star"], xerr=t["mu_star_conf"], color="#4a7fb5",
             ecolor="#333333", capsize=3)
    ax1.set_yticks(range(len(t)), labels)
    ax1.set_xlabel(f"mu*: average change in {result.kpi_label}\nacross the assumption's range "
                   f"({result.unit})")
    ax1.set_title("How much each assumption moves the answer", fontsize=10)
    ax1.tick_params(axis="y", labelsize=8)
    ax1.set_xlim(left=0)
    ax2.scatter(t["mu_star"], t["sigma"], color="#b5544a")
    for row in t.itertuples(index=False):  # numbered as in the bar chart's labels
        ax2.annotate(str(row.rank), (row.mu_star, row.sigma), fontsize=8, xytext=(4, 3),
                     textcoords="offset points")
    top = float(np.nanmax([t["mu_star"].max(), t["sigma"].max(), 0.0]))
    if top > 0:
        ax2.plot([0, top], [0, top], ls=":", color="grey", lw=1)
    ax2.set_xlabel(f"mu* ({result.unit})")
    ax2.set_ylabel(f"sigma ({result.unit})")
    ax2.set_title("Above the dotted line (sigma > mu*): the effect depends\non the other "
                  "assumptions; numbers as on the left", fontsize=9)
    fig.suptitle(textwrap.fill(result.loaded.spec.name, 110), fontsize=11)
    fig.tight_layout()
    atomic_write(Path(path), lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def format_sensitivity(result: SensitivityResult) -> str:
    """The ranking in plain words."""
    from .results import fmt_number

    loaded, spec, s = result.loaded, result.loaded.spec, result.meta["settings"]
    k, r = s["parameters"], s["trajectories"]
    paired = (f" and {r * (k + 1)} of {spec.compare_with} with the same values and seed"
              if spec.compare_with else "")
    setup = (f"Morris screening: {r} trajectories × ({k} assumptions + 1) = {r * (k + 1)} runs "
             f"of {spec.contract}{paired}; seed {loaded.seed} for every run, scale {s['scale']}, "
             f"{s['years']} contract year(s) after a warm-up of {s['warmup_weeks']} weeks, "
             f"{spec.levels} levels per range; {s['wall_seconds']:.0f} s on {s['backend']}.")
    lines = [spec.name, *textwrap.wrap(spec.question, 100), "", *textwrap.wrap(setup, 100), ""]
    if spec.compare_with:
        words = (f"the difference in {spec.kpi} between {spec.contract} and "
                 f"{spec.compare_with} ({spec.contract} − {spec.compare_with})")
    else:
        words = f"{spec.kpi} under {spec.contract}"
    y = result.samples["kpi"]
    lines += textwrap.wrap(
        f"Figure: {words}, in {result.unit}; {fmt_number(y.mean())} on average over the runs "
        f"(from {fmt_number(y.min())} to {fmt_number(y.max())}).", 100)
    lines += textwrap.wrap(
        f"mu* is the average change in {words} when this assumption moves across "
        f"its range (low to high, with the others at various settings); ± is its 95% bootstrap "
        f"interval; mu is the signed average (direction); sigma is the spread of the changes "
        f"(a sigma near or above mu* means the effect depends on the other assumptions).", 100)
    lines += ["", f"Ranking (most influential first; mu*, mu and sigma in {result.unit})"]
    bounds = dict(zip(loaded.names, loaded.bounds, strict=True))
    cells = [("", "assumption", "range", "mu*", "±", "mu", "sigma")]
    for row in result.table.itertuples(index=False):
        lo, hi = bounds[row.parameter]
        cells.append((f"{row.rank}.", row.parameter, f"[{_shown(lo)}, {_shown(hi)}]",
                      fmt_number(row.mu_star), fmt_number(row.mu_star_conf),
                      ("+" if row.mu > 0 else "") + fmt_number(row.mu), fmt_number(row.sigma)))
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    for c in cells:
        lines.append("  " + "  ".join(
            c[i].ljust(widths[i]) if i in (1, 2) else c[i].rjust(widths[i])
            for i in range(len(c))).rstrip())
    t = result.table
    if len(t) > 1 and t["mu_star"].iloc[0] > 0:
        first = t.iloc[0]
        direction = "raises" if first.mu > 0 else "lowers" if first.mu < 0 else "moves"
        lines += [""] + textwrap.wrap(
            f"The answer depends most on {first.parameter}: moving it from low to high "
            f"{direction} {words} by about {fmt_number(abs(first.mu))} "
            f"{result.unit} on average. Assumptions whose intervals overlap cannot be told "
            f"apart with {r} trajectories; more trajectories narrow the intervals.", 100)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# the command line: `msksim sensitivity FILE`
# ----------------------------------------------------------------------------------------------
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `sensitivity` to the CLI's subcommands (cli.py: `add_parser(sub)` and a handler)."""
    p = subparsers.add_parser(
        "sensitivity", help="screen which uncertain assumptions drive a figure (Morris)",
        description="Move each uncertain assumption of a sensitivity file across its range "
                    "(Morris elementary effects, every run with the same seed) and rank the "
                    "assumptions by how much they move the chosen figure.")
    p.add_argument("file", metavar="FILE", help="sensitivity file (YAML), e.g. "
                   "experiments/sensitivity_money_weight.yaml")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"folder for sensitivity.csv, samples.csv, morris.png and meta.json "
                        f"(default {DEFAULT_OUT})")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="runs at once in separate processes (results do not depend on it)")
    p.add_argument("--trajectories", type=int, metavar="R",
                   help="Morris trajectories (default from the file); runs = R × (parameters "
                        "+ 1), twice with compare_with")
    p.add_argument("--scale", type=float, metavar="F",
                   help="fraction of the population to simulate (default from the file)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or report")
    p.set_defaults(handler=cmd_sensitivity)
    return p


def cmd_sensitivity(args: argparse.Namespace) -> int:
    bar = ProgressBar(not args.quiet, "sensitivity")
    try:
        result = run_sensitivity(args.file, out_dir=args.out, workers=args.workers,
                                 trajectories=args.trajectories, scale=args.scale,
                                 progress=bar)
    finally:
        bar.close()
    if not args.quiet:
        print(format_sensitivity(result))
        print(f"\nResults written to {result.out_dir}/ (sensitivity.csv, samples.csv, "
              f"morris.png, meta.json)")
    return 0

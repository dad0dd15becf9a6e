"""`msksim report DIR`: an experiment's results as one self-contained HTML page.

The page reads an experiment output folder (`msksim experiment FILE --out DIR`): meta.json,
summary and differences (Parquet), the weekly series of every run (series.parquet) and, where
present, statistics.json and sensitivity.csv. It is written for commissioners and clinicians:
the question, the scenarios in plain words, plots with bands across replications, the paired
differences from the baseline with a verdict, and the provenance. Everything is inline (CSS,
PNG plots as `data:` URIs), so the file opens anywhere with no network.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .config import GP_NODE, ConfigError
from .experiment import HEADLINE
from .io import atomic_write
from .results import KEYS, SERIES, fmt_number
from .statistics import t_interval, verdict  # noqa: F401 (verdict: part of the report API)

#: payment rules in words for readers who do not know the abbreviations
RULE_WORDS = {
    "pbr": "Payment by Results (activity tariff)",
    "cobic": "capitated outcome-based incentivised contract",
    "block": "block contract (a fixed annual sum per provider)",
    "blended": "blended payment (a fixed sum, a variable part at tariff and an outcome payment)",
}
#: files without which a folder is not an experiment's output
REQUIRED = ("meta.json", "summary.parquet", "differences.parquet")
#: Okabe-Ito colours (distinguishable with colour-blindness), one per scenario in file order
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#999999")
SMOOTH_WEEKS = 4
FIG_WIDTH = 9.3  # inches at 110 dpi: the page's text width, so plots show at full size
RTT_STANDARD_PCT = 92.0
THEATRE_TARGET_PCT = 85.0
TOP_ROUTES = 8
TOP_PARAMETERS = 15


# ----------------------------------------------------------------------------------------------
# reading the folder
# ----------------------------------------------------------------------------------------------
@dataclass
class ReportInputs:
    """What an experiment output folder holds (optional parts None when absent)."""

    out_dir: Path
    meta: dict[str, Any]
    summary: pd.DataFrame
    differences: pd.DataFrame
    series: pd.DataFrame | None
    statistics: dict[str, Any] | None
    sensitivity: pd.DataFrame | None
    sensitivity_error: str | None = None
    crn: pd.DataFrame | None = None

    @property
    def scenarios(self) -> list[str]:
        return list(self.meta["scenarios"])

    @property
    def baseline(self) -> str:
        return str(self.meta.get("baseline", self.scenarios[0]))


def read_inputs(out_dir: str | Path) -> ReportInputs:
    """Read an experiment output folder; a ConfigError in one line if it is not one."""
    folder = Path(out_dir)
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise ConfigError(f"report: {str(folder)!r} {what}; give the folder written by "
                          f"`msksim experiment FILE --out DIR`")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"report: {str(folder)!r} is not an experiment output folder "
                          f"(missing {', '.join(missing)}; `msksim experiment FILE --out DIR` "
                          f"writes them, meta.json last when every run is done)")
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"report: {str(folder / 'meta.json')!r} cannot be read as JSON "
                          f"({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("scenarios"), dict) \
            or not meta["scenarios"]:
        raise ConfigError(f"report: {str(folder / 'meta.json')!r} lists no scenarios (it is "
                          f"not from `msksim experiment`)")
    try:
        summary = pd.read_parquet(folder / "summary.parquet")
        differences = pd.read_parquet(folder / "differences.parquet")
        series = (pd.read_parquet(folder / "series.parquet")
                  if (folder / "series.parquet").is_file() else None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"report: a table in {str(folder)!r} cannot be read ({exc})") from None
    for name, df, cols in (("summary", summary, ["scenario", *KEYS, "n", "mean"]),
                           ("differences", differences, ["scenario", *KEYS, "mean_diff"])):
        lacking = [c for c in cols if c not in df.columns]
        if lacking:
            raise ConfigError(f"report: {name}.parquet in {str(folder)!r} lacks columns "
                              f"{lacking}; rerun the experiment with this msksim")
    statistics = None
    if (folder / "statistics.json").is_file():
        try:
            statistics = json.loads((folder / "statistics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            statistics = {"error": "statistics.json could not be read as JSON"}
    sensitivity, sens_error = None, None
    if (folder / "sensitivity.csv").is_file():
        try:
            sensitivity = pd.read_csv(folder / "sensitivity.csv")
            lacking = [c for c in ("parameter", "mu_star") if c not in sensitivity.columns]
            if lacking:
                sensitivity, sens_error = None, f"sensitivity.csv lacks columns {lacking}"
        except (OSError, ValueError) as exc:
            sens_error = f"sensitivity.csv could not be read ({exc})"
    crn = None
    if (folder / "crn.csv").is_file():
        try:
            crn = pd.read_csv(folder / "crn.csv")
        except (OSError, ValueError):
            crn = None
    return ReportInputs(folder, meta, summary, differences, series, statistics, sensitivity,
                        sens_error, crn)


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------
def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _mean_ci(values: Iterable[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (NaN half-width below two values)."""
    _, mean, _, lo, hi = t_interval(list(values))
    return mean, (hi - lo) / 2


def _ci_text(lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    return f" [{fmt_number(lo)}, {fmt_number(hi)}]"


def _signed(x: float) -> str:
    return ("+" if np.isfinite(x) and x > 0 else "") + fmt_number(x)


def _headline_order(inputs: ReportInputs) -> list[str]:
    """The experiment file's `headline` list if it has one, else experiment.HEADLINE."""
    try:
        spec = yaml.safe_load(inputs.meta.get("experiment_text") or "") or {}
        wanted = spec.get("headline") if isinstance(spec, dict) else None
    except yaml.YAMLError:
        wanted = None
    return [str(m) for m in wanted] if isinstance(wanted, list) and wanted else list(HEADLINE)


def _pick_headline(df: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(order)}
    pick = df[df["measure"].isin(rank)].copy()
    pick["_rank"] = pick["measure"].map(rank)
    return pick.sort_values("_rank", kind="stable").drop(columns="_rank")


def _run_settings(inputs: ReportInputs) -> dict[str, Any]:
    cfg = inputs.meta["scenarios"][inputs.baseline].get("config") or {}
    return cfg.get("run") or {}


def _service_labels(inputs: ReportInputs) -> dict[str, str]:
    labels = {GP_NODE: "GP"}
    for sc in inputs.meta["scenarios"].values():
        for sid, svc in ((sc.get("config") or {}).get("services") or {}).items():
            if isinstance(svc, dict) and svc.get("label"):
                labels.setdefault(sid, str(svc["label"]))
    return labels


def _route_label(route: str, labels: dict[str, str]) -> str:
    a, _, b = route.partition("->")
    return f"{labels.get(a, a)} → {labels.get(b, b)}"


def _plural(n: Any, word: str) -> str:
    """'1 time', '3 times' (n shown as given when it is not a number)."""
    return f"{n} {word}" if n == 1 or not isinstance(n, int) else f"{n} {word}s"


def _colours(scenarios: Sequence[str]) -> dict[str, str]:
    return {sc: PALETTE[i % len(PALETTE)] for i, sc in enumerate(scenarios)}


# ----------------------------------------------------------------------------------------------
# plots (matplotlib's object API on Agg: no pyplot, no global state)
# ----------------------------------------------------------------------------------------------
_RC = {"font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
       "axes.titlesize": 11, "axes.titleweight": "bold", "axes.grid": True,
       "grid.color": "#e6e6e6", "grid.linewidth": 0.8, "legend.frameon": False,
       "legend.fontsize": 9, "axes.axisbelow": True}


def _new_figure(width: float = FIG_WIDTH, height: float = 3.6, ncols: int = 1):
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = list(fig.subplots(1, ncols, squeeze=False)[0])
    big = FuncFormatter(lambda x, _: f"{x:,.0f}" if abs(x) >= 1000 else f"{x:g}")
    for ax in axes:  # 12,000 rather than 12000
        ax.xaxis.set_major_formatter(big)
        ax.yaxis.set_major_formatter(big)
    return fig, axes


def _png(fig) -> str:
    """The figure as a base64 PNG `data:` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _bands(series: pd.DataFrame, name: str, smooth: int = 1,
           cumulative: bool = False) -> pd.DataFrame:
    """Per scenario and week: the mean over replications and the 2.5-97.5% quantile band,
    after a rolling mean over `smooth` weeks (NaN weeks skipped) or a running total within
    each run."""
    df = series[series["series"] == name]
    if df.empty:
        return pd.DataFrame(columns=["scenario", "week", "mean", "lo", "hi"])
    df = df.groupby(["scenario", "replication", "week"], sort=True)["value"].sum(min_count=1)
    df = df.reset_index()
    runs = df.groupby(["scenario", "replication"], sort=False)["value"]
    if cumulative:
        df["value"] = runs.transform(lambda s: s.fillna(0.0).cumsum())
    elif smooth > 1:
        df["value"] = runs.transform(lambda s: s.rolling(smooth, min_periods=1).mean())
    g = df.groupby(["scenario", "week"], sort=True)["value"]
    out = pd.DataFrame({"mean": g.mean(), "lo": g.quantile(0.025), "hi": g.quantile(0.975)})
    return out.reset_index()


def _plot_lines(ax, bands: pd.DataFrame, scenarios: Sequence[str], colours: dict[str, str],
                baseline: str, scale: float = 1.0) -> None:
    """One line (mean) and band (2.5-97.5% over replications) per scenario; x in years."""
    drawn = False
    for sc in scenarios:
        b = bands[bands["scenario"] == sc]
        if b.empty or not np.isfinite(b["mean"]).any():
            continue
        x = b["week"].to_numpy() / 52.0
        ax.fill_between(x, b["lo"] / scale, b["hi"] / scale, color=colours[sc], alpha=0.18,
                        linewidth=0)
        label = f"{sc} (baseline)" if sc == baseline else sc
        ax.plot(x, b["mean"] / scale, color=colours[sc], linewidth=1.8, label=label)
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no data in these runs", transform=ax.transAxes, ha="center",
                va="center", color="#777777")
    ax.set_xlabel("Years since the contract started")
    ax.xaxis.set_major_locator(_year_locator(bands))


def _year_locator(bands: pd.DataFrame):
    from matplotlib.ticker import MaxNLocator, MultipleLocator

    years = (bands["week"].max() + 1) / 52.0 if len(bands) else 1.0
    return MultipleLocator(1.0) if years >= 2 else MaxNLocator(5)


def _legend(fig, ax, n: int) -> None:
    """One legend for the figure, above the plots, so it never hides the data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncols=min(n, 4))


def _with_unit(value: str, unit: str) -> str:
    return f"{value}%" if unit == "%" else f"{value} {unit}"


def _last_weeks_sentence(bands: pd.DataFrame, scenarios: Sequence[str], unit: str,
                         weeks: int = 13, scale: float = 1.0) -> str:
    """'Over the last 13 weeks: a 4,190, b 4,120 people (mean over replications).'"""
    if bands.empty:
        return ""
    last = bands[bands["week"] > bands["week"].max() - weeks]
    parts = [f"{sc} {fmt_number(last.loc[last['scenario'] == sc, 'mean'].mean() / scale)}"
             for sc in scenarios if (last["scenario"] == sc).any()]
    if unit == "%":
        parts = [p + "%" for p in parts]
    elif parts:
        parts[-1] += f" {unit}"
    return f" Over the last {weeks} weeks: {', '.join(parts)} (mean over replications)."


@dataclass
class Plot:
    """One figure of the report: the series it shows, a title, the image and a caption."""

    series: tuple[str, ...]
    title: str
    img: str
    caption: str


def _line_plot(inputs: ReportInputs, names: Sequence[str], title: str, ylabels: Sequence[str],
               smooth: int, caption: str, *, unit: str, hline: tuple[float, str] | None = None,
               ylim: tuple[float | None, float | None] | None = None) -> Plot:
    assert inputs.series is not None
    scenarios, colours = inputs.scenarios, _colours(inputs.scenarios)
    fig, axes = _new_figure(FIG_WIDTH, 3.9, len(names))
    sentences = []
    for ax, name, ylabel in zip(axes, names, ylabels, strict=True):
        bands = _bands(inputs.series, name, smooth)
        _plot_lines(ax, bands, scenarios, colours, inputs.baseline)
        ax.set_ylabel(ylabel)
        if len(names) > 1:
            ax.set_title(SERIES[name][0])
        if hline is not None:
            ax.axhline(hline[0], color="#333333", linestyle="--", linewidth=1.2, label=hline[1])
        if ylim is not None:
            ax.set_ylim(*ylim)
        s = _last_weeks_sentence(bands, scenarios, unit)
        if s and len(names) > 1:
            s = f" {SERIES[name][0]}: " + s.strip()[0].lower() + s.strip()[1:]
        sentences.append(s)
    _legend(fig, axes[0], len(scenarios) + (hline is not None))
    return Plot(tuple(names), title, _png(fig), caption + "".join(sentences))


def _envelope_lines(ax, env: pd.DataFrame, inputs: ReportInputs, scale: float) -> None:
    """The envelope as a dashed line: one if every scenario has the same, else one each."""
    scenarios, colours = inputs.scenarios, _colours(inputs.scenarios)
    per_sc = {sc: env.loc[env["scenario"] == sc] for sc in scenarios}
    ref = per_sc[inputs.baseline]["mean"].to_numpy()
    same = all(len(v) == len(ref) and np.allclose(v["mean"].to_numpy(), ref, equal_nan=True)
               for v in per_sc.values())
    for sc in ([inputs.baseline] if same else scenarios):
        e = per_sc[sc]
        if not e.empty:
            ax.plot(e["week"] / 52.0, e["mean"] / scale, linestyle="--", linewidth=1.6,
                    color="#333333" if same else colours[sc],
                    label="budget envelope" if same else f"envelope, {sc}")


def _spend_plot(inputs: ReportInputs) -> Plot:
    assert inputs.series is not None
    scenarios, colours = inputs.scenarios, _colours(inputs.scenarios)
    fig, (weekly, total) = _new_figure(FIG_WIDTH, 3.9, 2)
    _plot_lines(weekly, _bands(inputs.series, "commissioner_spend_gbp", SMOOTH_WEEKS),
                scenarios, colours, inputs.baseline, scale=1e3)
    _envelope_lines(weekly, _bands(inputs.series, "envelope_gbp", SMOOTH_WEEKS), inputs, 1e3)
    weekly.set(title="Each week (4-week rolling mean)", ylabel="£ thousand a week")
    weekly.set_ylim(bottom=0)
    _plot_lines(total, _bands(inputs.series, "commissioner_spend_gbp", cumulative=True),
                scenarios, colours, inputs.baseline, scale=1e6)
    _envelope_lines(total, _bands(inputs.series, "envelope_gbp", cumulative=True), inputs, 1e6)
    total.set(title="Running total since the contract started", ylabel="£ million")
    total.set_ylim(bottom=0)
    _legend(fig, weekly, len(scenarios) + 1)
    # over the whole contract: spend as % of the envelope, per scenario (mean over runs)
    s = inputs.series
    tot = (s[s["series"].isin(["commissioner_spend_gbp", "envelope_gbp"])]
           .groupby(["scenario", "replication", "series"])["value"].sum().unstack("series"))
    parts = []
    if {"commissioner_spend_gbp", "envelope_gbp"} <= set(tot.columns):
        pct = (100 * tot["commissioner_spend_gbp"] / tot["envelope_gbp"].where(
            tot["envelope_gbp"] > 0)).groupby("scenario").mean()
        parts = [f"{sc} {fmt_number(pct[sc])}%" for sc in scenarios if sc in pct.index]
    tail = (f" Over the whole contract, spend was this share of the envelope: "
            f"{', '.join(parts)}." if parts else "")
    cap = ("What the commissioner paid (left: each week, smoothed over 4 weeks; right: the "
           "running total), with the budget envelope as a dashed line: above the envelope is "
           "an overspend. Tall spikes are lump-sum payments such as a year-end outcome or "
           "reconciliation payment." + tail)
    return Plot(("commissioner_spend_gbp", "envelope_gbp"), "Spending against the budget",
                _png(fig), cap)


def _referrals_plot(inputs: ReportInputs) -> Plot:
    assert inputs.series is not None
    s = inputs.series[inputs.series["series"] == "referrals"]
    scenarios, colours = inputs.scenarios, _colours(inputs.scenarios)
    fig, (ax,) = _new_figure(FIG_WIDTH, 4.8)
    cap = ("Referrals a year along each route (whole city; the busiest routes), summed over "
           "the contract and averaged over replications; the whisker is the 95% confidence "
           "interval. A missing bar means the route carries no referrals in that scenario.")
    if s.empty:
        ax.text(0.5, 0.5, "no referrals in these runs", transform=ax.transAxes, ha="center")
        return Plot(("referrals",), "Referrals by route", _png(fig), cap)
    years = s.groupby(["scenario", "replication"])["week"].nunique() / 52.0
    per_run = s.groupby(["scenario", "replication", "group"])["value"].sum().reset_index()
    per_run["value"] /= per_run.set_index(["scenario", "replication"]).index.map(years)
    top = (per_run.groupby("group")["value"].mean().sort_values(ascending=False)
           .index[:TOP_ROUTES].tolist())
    labels = _service_labels(inputs)
    height = 0.8 / len(scenarios)
    y = np.arange(len(top))
    for i, sc in enumerate(scenarios):
        stats = [_mean_ci(per_run.loc[(per_run["scenario"] == sc) & (per_run["group"] == r),
                                      "value"]) for r in top]
        means = np.array([m for m, _ in stats])
        err = np.array([h for _, h in stats])
        label = f"{sc} (baseline)" if sc == inputs.baseline else sc
        ax.barh(y - 0.4 + height * (i + 0.5), np.nan_to_num(means), height=height,
                color=colours[sc], label=label,
                xerr=np.where(np.isfinite(err), err, 0.0), error_kw={"elinewidth": 1,
                                                                       "ecolor": "#333333"})
    ax.set_yticks(y, [_route_label(r, labels) for r in top])
    ax.invert_yaxis()
    ax.set_xlabel("referrals a year (whole city)")
    ax.grid(axis="y", visible=False)
    _legend(fig, ax, len(scenarios))
    base = per_run[per_run["scenario"] == inputs.baseline].groupby("group")["value"].mean()
    if len(base):
        cap += (f" Under {inputs.baseline}, the busiest route was "
                f"{_route_label(str(base.idxmax()), labels)} "
                f"({fmt_number(base.max())} a year).")
    return Plot(("referrals",), "Referrals by route", _png(fig), cap)


def _deprivation_plot(inputs: ReportInputs) -> Plot:
    assert inputs.series is not None
    s = inputs.series[inputs.series["series"] == "operations_per_1000_imd"]
    scenarios, colours = inputs.scenarios, _colours(inputs.scenarios)
    fig, (ax,) = _new_figure(FIG_WIDTH, 4.0)
    cap = ("Operations a year per 1,000 adults in each fifth of the city by deprivation "
           "(quintile 1 = the most deprived fifth), averaged over the contract; the whisker is "
           "the 95% confidence interval over replications. Equal bars mean surgery reaches "
           "every area alike (need is usually higher in more deprived areas).")
    if s.empty:
        ax.text(0.5, 0.5, "no operations by quintile in these runs", transform=ax.transAxes,
                ha="center")
        return Plot(("operations_per_1000_imd",), "Operations by deprivation", _png(fig), cap)
    per_run = s.groupby(["scenario", "replication", "group"])["value"].mean().reset_index()
    quintiles = sorted(per_run["group"].unique(), key=lambda q: (len(str(q)), str(q)))
    width = 0.8 / len(scenarios)
    x = np.arange(len(quintiles))
    for i, sc in enumerate(scenarios):
        stats = [_mean_ci(per_run.loc[(per_run["scenario"] == sc) & (per_run["group"] == q),
                                      "value"]) for q in quintiles]
        means = np.array([m for m, _ in stats])
        err = np.array([h for _, h in stats])
        label = f"{sc} (baseline)" if sc == inputs.baseline else sc
        ax.bar(x - 0.4 + width * (i + 0.5), np.nan_to_num(means), width=width,
               color=colours[sc], label=label, yerr=np.where(np.isfinite(err), err, 0.0),
               error_kw={"elinewidth": 1, "ecolor": "#333333", "capsize": 2})
    names = {"1": "1 (most deprived)", str(len(quintiles)): f"{len(quintiles)} (least deprived)"}
    ax.set_xticks(x, [names.get(str(q), str(q)) for q in quintiles])
    ax.set_xlabel("Deprivation quintile (Index of Multiple Deprivation)")
    ax.set_ylabel("operations per 1,000 adults a year")
    ax.grid(axis="x", visible=False)
    _legend(fig, ax, len(scenarios))
    base = per_run[per_run["scenario"] == inputs.baseline].groupby("group")["value"].mean()
    if len(base) >= 2:
        lo_q, hi_q = quintiles[0], quintiles[-1]
        cap += (f" Under {inputs.baseline}: {fmt_number(base.get(lo_q, math.nan))} in the most "
                f"deprived fifth and {fmt_number(base.get(hi_q, math.nan))} in the least.")
    return Plot(("operations_per_1000_imd",), "Operations by deprivation", _png(fig), cap)


def make_plots(inputs: ReportInputs) -> list[Plot]:
    """Every plot of the report, in reading order."""
    import matplotlib

    if inputs.series is None:
        return []
    with matplotlib.rc_context(_RC):
        return _all_plots(inputs)


def _all_plots(inputs: ReportInputs) -> list[Plot]:
    return [
        _line_plot(inputs, ["waiting_first", "waiting_surgery"], "Waiting lists",
                   ["people waiting (whole city)"] * 2, 1,
                   "How many people were waiting at the end of each week, for a first "
                   "appointment (left) and for an operation (right). Lower is better; the "
                   "shaded band shows how much the replications varied.", unit="people"),
        _line_plot(inputs, ["pct_within_18_weeks"], "Waiting times against the 18-week "
                   "standard", ["% of waiting pathways under 18 weeks"], 1,
                   "The share of people still waiting whose wait (from referral) was under 18 "
                   "weeks. The dashed line is the NHS constitutional standard of 92%; above it "
                   "is better.", unit="%", hline=(RTT_STANDARD_PCT, "92% standard"),
                   ylim=(None, 101)),
        _spend_plot(inputs),
        _referrals_plot(inputs),
        _line_plot(inputs, ["theatre_utilisation_pct"], "Theatre use",
                   ["% of planned session time"], SMOOTH_WEEKS,
                   "How much of the planned operating-theatre time was spent operating "
                   "(touch time, capped at the session length; a 4-week rolling mean). The "
                   "dashed line is the 85% target often used by NHS theatres.", unit="%",
                   hline=(THEATRE_TARGET_PCT, "85% target")),
        _line_plot(inputs, ["operations"], "Operations", ["operations a week (whole city)"],
                   SMOOTH_WEEKS, "Operations done each week across the city (a 4-week "
                   "rolling mean).", unit="a week"),
        _line_plot(inputs, ["eq5d_gain"], "Patient outcomes after surgery",
                   ["mean EQ-5D gain (index points)"], SMOOTH_WEEKS,
                   "How much patients' health-related quality of life (EQ-5D index, 0 = dead, "
                   "1 = full health) improved six months after their operation, for the "
                   "outcomes measured that week (a 4-week rolling mean). Higher is better.",
                   unit="index points"),
        _deprivation_plot(inputs),
    ]


def _sensitivity_plots(sens: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """Per KPI: (kpi, image, ranked table) for a Morris screening's mu_star."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        return _sensitivity_figures(sens)


def _sensitivity_figures(sens: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    out = []
    df = sens.copy()
    if "kpi" not in df.columns:
        df["kpi"] = ""
    for kpi, g in df.groupby("kpi", sort=False):
        g = g.sort_values("mu_star", ascending=False).reset_index(drop=True)
        top = g.head(TOP_PARAMETERS)
        fig, (ax,) = _new_figure(FIG_WIDTH, 0.9 + 0.3 * len(top))
        err = (top["mu_star_conf"].to_numpy(dtype=float) if "mu_star_conf" in top else None)
        ax.barh(np.arange(len(top)), top["mu_star"].to_numpy(dtype=float), color=PALETTE[0],
                xerr=None if err is None else np.nan_to_num(err),
                error_kw={"elinewidth": 1, "ecolor": "#333333", "capsize": 2})
        ax.set_yticks(np.arange(len(top)), [str(p) for p in top["parameter"]])
        ax.invert_yaxis()
        unit = str(g["unit"].iloc[0]) if "unit" in g and pd.notna(g["unit"].iloc[0]) else ""
        what = f"{kpi} ({unit})" if kpi and unit else str(kpi)
        ax.set_xlabel(f"μ*: mean absolute effect on {what}" if what else "μ*")
        ax.grid(axis="y", visible=False)
        out.append((str(kpi), _png(fig), g))
    return out


# ----------------------------------------------------------------------------------------------
# the page
# ----------------------------------------------------------------------------------------------
CSS = """
:root { --ink: #1f2328; --muted: #5b636b; --line: #d9dde1; --soft: #f5f7f9; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); line-height: 1.5; margin: 0; background: #fff; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0.2em 0 0.3em; }
h2 { font-size: 1.35rem; margin: 2.2em 0 0.6em; padding-bottom: 0.2em;
     border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.6em 0 0.5em; }
p, li { max-width: 78ch; }
.question { font-size: 1.2rem; background: var(--soft); border-left: 4px solid #0072B2;
            padding: 12px 16px; margin: 12px 0 18px; max-width: none; }
.muted { color: var(--muted); font-size: 0.92rem; }
nav ul { list-style: none; padding: 0; margin: 8px 0; display: flex; flex-wrap: wrap;
         gap: 6px 18px; }
nav a { color: #0b5cad; text-decoration: none; }
nav a:hover { text-decoration: underline; }
figure { margin: 18px 0 30px; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line);
             border-radius: 4px; }
figcaption { color: var(--ink); font-size: 0.95rem; margin-top: 6px; max-width: 90ch; }
figure h3 { margin-top: 0.4em; }
table { border-collapse: collapse; margin: 10px 0 16px; font-size: 0.92rem; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
         vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.section td { background: #fbfbfc; font-weight: 600; color: var(--muted); padding-top: 10px; }
.verdict { font-weight: 600; white-space: nowrap; }
.v-higher, .v-lower { color: #111; background: #fff1c7; border-radius: 3px; padding: 0 4px; }
.v-no-clear-difference, .v-identical, .v-no-data, .v-one-replication-no-interval
  { color: var(--muted); font-weight: 400; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
          margin-right: 6px; vertical-align: -1px; }
dl.scen dt { font-weight: 600; margin-top: 12px; }
dl.scen dd { margin: 2px 0 0 18px; }
details { margin: 10px 0; }
details > summary { cursor: pointer; color: #0b5cad; font-weight: 600; }
pre { background: var(--soft); border: 1px solid var(--line); padding: 10px 12px;
      overflow-x: auto; font-size: 0.82rem; line-height: 1.35; max-height: 560px; }
table.prov th { width: 28%; }
@media print { details { display: block; } details > summary { display: none; } }
"""


def _intro(inputs: ReportInputs) -> str:
    meta = inputs.meta
    run = _run_settings(inputs)
    seeds = meta.get("seeds") or []
    reps = meta.get("replications", len(seeds))
    seed_words = (f"seed {seeds[0]}" if len(seeds) == 1 else
                  f"seeds {seeds[0]} to {seeds[-1]}" if seeds else "the same seeds")
    scale = run.get("scale")
    scale_words = (f"{fmt_number(100 * scale)}% of the city's population (counts are scaled up "
                   f"to the whole city)" if isinstance(scale, int | float) else "the city")
    years, warm = run.get("years"), run.get("warmup_weeks")
    draws = meta.get("uncertain_parameters")
    unc = (" Some assumptions are uncertain: replication 0 uses their central values and each "
           "other replication draws its own values across their ranges (Latin hypercube), the "
           "same in every scenario, so the bands also show how much those assumptions matter "
           "(listed under the scenarios)." if draws else "")
    band_words = ("with this few replications the band is close to the lowest-to-highest "
                  "range" if isinstance(reps, int) and reps < 10 else "")
    return (
        f"<p>Each scenario was simulated {_e(_plural(reps, 'time'))} ({_e(seed_words)}). Every "
        f"scenario uses the same seeds, so the <em>same people fall ill in the same weeks</em> "
        f"in each one: differences between scenarios come from the payment rule and the "
        f"changes described below, not from the luck of the draw, and are compared run by "
        f"run (paired by seed).{_e(unc)} The model simulated {_e(scale_words)} for "
        f"{_e(_plural(years, 'contract year'))}, after a {_e(warm)}-week warm-up that is "
        f"left out of every figure. In the "
        f"plots, each line is the mean over replications and the shaded band holds the middle "
        f"95% of replications (2.5th to 97.5th percentile{'; ' + band_words if band_words else ''}"
        f"). In the tables, ranges in square brackets are 95% confidence intervals of the "
        f"mean; a difference is called <strong>higher</strong> or <strong>lower</strong> only "
        f"when its interval excludes zero, otherwise <em>no clear difference</em>. Whether "
        f"higher is better depends on the figure.</p>")


def _scenarios_html(inputs: ReportInputs) -> str:
    colours = _colours(inputs.scenarios)
    items = []
    for name, sc in inputs.meta["scenarios"].items():
        rule = str(sc.get("contract", ""))
        words = RULE_WORDS.get(rule, rule)
        mark = " <span class='muted'>(baseline: the others are compared with it)</span>" \
            if name == inputs.baseline else ""
        desc = sc.get("description") or ""
        items.append(
            f"<dt><span class='swatch' style='background:{colours[name]}'></span>{_e(name)}"
            f"{mark}</dt><dd><strong>Payment rule:</strong> {_e(words)} "
            f"<span class='muted'>({_e(rule)})</span>"
            + (f"<br>{_e(desc)}" if desc else "") + "</dd>")
    out = "<dl class='scen'>" + "".join(items) + "</dl>"
    draws = inputs.meta.get("uncertain_parameters")
    if isinstance(draws, list) and draws and all(isinstance(d, dict) for d in draws):
        params = list(dict.fromkeys(k for d in draws for k in d))
        rows = "".join(
            f"<tr><td class='num'>{r}</td>"
            + "".join(f"<td class='num'>{_num(d.get(k, ''))}</td>" for k in params) + "</tr>"
            for r, d in enumerate(draws))
        out += ("<h3>Uncertain assumptions, per replication</h3><table><thead><tr>"
                "<th class='num'>Replication</th>"
                + "".join(f"<th class='num'>{_e(k)}</th>" for k in params)
                + f"</tr></thead><tbody>{rows}</tbody></table>")
    return out


def _summary_table(inputs: ReportInputs, order: list[str]) -> str:
    summ = inputs.summary
    head = _pick_headline(summ[summ["scenario"] == inputs.baseline], order)
    if head.empty:
        return ""
    cols = inputs.scenarios
    rows = []
    for r in head.itertuples(index=False):
        cells = []
        for sc in cols:
            m = summ[(summ["scenario"] == sc) & (summ["section"] == r.section)
                     & (summ["measure"] == r.measure) & (summ["unit"] == r.unit)]
            if m.empty:
                cells.append("<td class='num'>–</td>")
                continue
            x = m.iloc[0]
            ci = _ci_text(x["ci_low"], x["ci_high"]) if "ci_low" in m else ""
            cells.append(f"<td class='num'>{fmt_number(x['mean'])}"
                         f"<span class='muted'>{_e(ci)}</span></td>")
        rows.append(f"<tr><td>{_e(r.measure)} <span class='muted'>({_e(r.unit)})</span></td>"
                    + "".join(cells) + "</tr>")
    header = "".join(f"<th class='num'>{_e(sc)}</th>" for sc in cols)
    return (f"<table class='summary'><thead><tr><th>Figure</th>{header}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _diff_rows(df: pd.DataFrame, sections: bool) -> str:
    rows, current = [], None
    for r in df.itertuples(index=False):
        if r.n == 0:
            continue
        if sections and r.section != current:
            current = r.section
            rows.append(f"<tr class='section'><td colspan='5'>{_e(r.section)}</td></tr>")
        v = verdict(int(r.n), r.mean_diff, r.sd_diff, r.ci_low, r.ci_high)
        cls = "v-" + "".join(c if c.isalnum() else "-" for c in v).replace("--", "-")
        rows.append(
            f"<tr><td>{_e(r.measure)} <span class='muted'>({_e(r.unit)})</span></td>"
            f"<td class='num'>{fmt_number(r.baseline_mean)}</td>"
            f"<td class='num'>{fmt_number(r.scenario_mean)}</td>"
            f"<td class='num'>{_signed(r.mean_diff)}"
            f"<span class='muted'>{_e(_ci_text(r.ci_low, r.ci_high))}</span></td>"
            f"<td><span class='verdict {cls}'>{_e(v)}</span></td></tr>")
    return "".join(rows)


def _differences_html(inputs: ReportInputs, order: list[str]) -> str:
    diffs = inputs.differences
    if diffs.empty:
        return "<p>There is only one scenario, so there is nothing to compare.</p>"
    parts = []
    for sc, grp in diffs.groupby("scenario", sort=False):
        head = (f"<thead><tr><th>Figure</th><th class='num'>{_e(inputs.baseline)} "
                f"(baseline)</th><th class='num'>{_e(sc)}</th><th class='num'>Difference "
                f"[95% CI]</th><th>Verdict</th></tr></thead>")
        headline = _pick_headline(grp, order)
        n_shown = int((grp["n"] > 0).sum())
        parts.append(
            f"<h3>{_e(sc)} compared with {_e(inputs.baseline)}</h3>"
            f"<table class='diff'>{head}<tbody>{_diff_rows(headline, False)}</tbody></table>"
            f"<details><summary>All {n_shown} figures, by section</summary>"
            f"<table class='diff'>{head}<tbody>{_diff_rows(grp, True)}</tbody></table>"
            f"</details>")
    return "".join(parts)


def _num(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return _e(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return fmt_number(x)
    return _e(x)


def _crn_sentence(crn: dict[str, Any]) -> str:
    measure = crn.get("measure", "the focus figure")
    paired, unpaired = crn.get("paired_half_width"), crn.get("unpaired_half_width")
    pct = crn.get("reduction_pct", crn.get("narrower_pct"))
    if pct is None and isinstance(paired, int | float) and isinstance(unpaired, int | float) \
            and unpaired > 0:
        pct = 100.0 * (1.0 - paired / unpaired)
    if not isinstance(pct, int | float) or not math.isfinite(pct):
        return ""
    which = (f" (the difference {crn['scenario']} − {crn['baseline']})"
             if crn.get("scenario") and crn.get("baseline") else "")
    n = f", {crn['n']} replications" if crn.get("n") else ""
    if pct >= 0:
        text = (f"Pairing the runs by seed made the interval for <strong>{_e(measure)}</strong>"
                f"{_e(which)} {fmt_number(pct)}% narrower than independent runs would give "
                f"(half-width {_num(paired)} vs {_num(unpaired)}{_e(n)}).")
    else:
        text = (f"Pairing the runs by seed did not narrow the interval for <strong>"
                f"{_e(measure)}</strong>{_e(which)}: it is {fmt_number(-pct)}% wider than "
                f"independent runs would give (half-width {_num(paired)} vs {_num(unpaired)}"
                f"{_e(n)}). With few replications this comparison is itself uncertain.")
    return f"<p>{text}</p>"


def _statistics_html(stats: dict[str, Any], crn_table: pd.DataFrame | None) -> str:
    parts = ["<p>Every scenario ran with the same seeds (common random numbers), so a "
             "difference between scenarios is measured run by run rather than between "
             "independent runs; this usually makes its interval narrower for the same number "
             "of runs.</p>"]
    crn = stats.get("crn")
    if isinstance(crn, dict):
        parts.append(_crn_sentence(crn))
    advisor = [a for a in stats.get("advisor") or [] if a is not None]
    if advisor:
        focus = stats.get("focus")
        precision = stats.get("precision")
        about = f" for <strong>{_e(focus)}</strong>" if focus else ""
        aim = (f" The aim is an interval of ± {100 * precision:g}% of each "
               f"scenario's mean, and a quarter of each difference."
               if isinstance(precision, int | float) else "")
        parts.append(f"<h3>How many replications are enough?</h3><p>Replications needed"
                     f"{about} at the spread seen so far.{aim}</p>")
        if all(isinstance(a, dict) and "replications_needed" in a for a in advisor):
            rows = "".join(
                f"<tr><td>{_e(a.get('scenario', ''))}</td>"
                f"<td class='num'>{_num(a.get('n_now', ''))}</td>"
                f"<td class='num'>{_num(a['replications_needed'])}</td>"
                f"<td class='num'>± {_num(a.get('half_width_wanted', ''))}</td></tr>"
                for a in advisor)
            parts.append("<table><thead><tr><th>Scenario or difference</th><th class='num'>"
                         "Replications now</th><th class='num'>Needed</th><th class='num'>"
                         "For an interval of</th></tr></thead><tbody>" + rows
                         + "</tbody></table>")
        else:
            parts.append("<ul>" + "".join(
                "<li>" + ("; ".join(f"{_e(k)}: {_num(v)}" for k, v in a.items())
                          if isinstance(a, dict) else _e(a)) + "</li>" for a in advisor)
                + "</ul>")
    if stats.get("error"):
        parts.append(f"<p class='muted'>{_e(stats['error'])}</p>")
    if crn_table is not None and len(crn_table):
        cols = [c for c in ("scenario", "measure", "unit", "n", "paired_half_width",
                            "unpaired_half_width", "narrower_pct") if c in crn_table.columns]
        heads = {"paired_half_width": "paired ±", "unpaired_half_width": "independent ±",
                 "narrower_pct": "% narrower"}
        numeric = {"n", "paired_half_width", "unpaired_half_width", "narrower_pct"}
        rows = "".join(
            "<tr>" + "".join(
                f"<td class='num'>{_num(r[c])}</td>" if c in numeric else f"<td>{_e(r[c])}</td>"
                for c in cols) + "</tr>"
            for r in crn_table[cols].to_dict("records"))
        parts.append(
            f"<details><summary>Every figure ({len(crn_table)} rows, crn.csv)</summary><table>"
            "<thead><tr>" + "".join(
                f"<th class='{'num' if c in numeric else ''}'>{_e(heads.get(c, c))}</th>"
                for c in cols) + f"</tr></thead><tbody>{rows}</tbody></table></details>")
    return "".join(parts)


def _sensitivity_html(inputs: ReportInputs) -> str:
    if inputs.sensitivity_error:
        return f"<p class='muted'>{_e(inputs.sensitivity_error)}</p>"
    assert inputs.sensitivity is not None
    parts = [
        "<p>A screening of the model's assumptions (Morris method): each parameter was moved "
        "across its plausible range many times. <strong>μ*</strong> is the average size of "
        "the change it caused (bigger = the result depends more on it); <strong>σ</strong> "
        "large compared with μ* means its effect depends on the other parameters. The bars "
        "show the parameters that matter most; whiskers are μ*'s 95% confidence interval.</p>"]
    for kpi, img, table in _sensitivity_plots(inputs.sensitivity):
        title = f"Effect on {kpi}" if kpi else "Ranking"
        cols = [c for c in ("mu_star", "mu_star_conf", "sigma") if c in table.columns]
        names = {"mu_star": "μ*", "mu_star_conf": "± (95%)", "sigma": "σ"}
        rows = "".join(
            f"<tr><td class='num'>{i + 1}</td><td>{_e(r['parameter'])}</td>"
            + "".join(f"<td class='num'>{_num(r[c])}</td>" for c in cols) + "</tr>"
            for i, r in table.iterrows())
        parts.append(
            f"<figure data-series='sensitivity'><h3>{_e(title)}</h3><img alt='{_e(title)}' "
            f"src='{img}'></figure><details><summary>Ranking table ({len(table)} parameters)"
            f"</summary><table><thead><tr><th class='num'>Rank</th><th>Parameter</th>"
            + "".join(f"<th class='num'>{names[c]}</th>" for c in cols)
            + f"</tr></thead><tbody>{rows}</tbody></table></details>")
    return "".join(parts)


def _provenance_html(inputs: ReportInputs) -> str:
    meta = inputs.meta
    fields = [("msksim version", "msksim_version"), ("git commit (SHA)", "git_sha"),
              ("experiment run (UTC)", "created_utc"), ("seeds", "seeds"),
              ("replications", "replications"), ("backend", "backend"),
              ("workers", "workers"), ("wall-clock seconds", "wall_seconds"),
              ("runs reused from an earlier start", "runs_resumed"),
              ("Python", "python"), ("NumPy", "numpy"), ("Mesa", "mesa"),
              ("experiment file", "experiment_file"), ("output folder", None)]
    rows = []
    for label, key in fields:
        value = str(inputs.out_dir.resolve()) if key is None else meta.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        rows.append(f"<tr><th>{_e(label)}</th><td><code>{_e(value)}</code></td></tr>")
    parts = ["<table class='prov'><tbody>" + "".join(rows) + "</tbody></table>"]
    if meta.get("experiment_text"):
        parts.append("<details><summary>The experiment file</summary><pre>"
                     + _e(meta["experiment_text"]) + "</pre></details>")
    for name, sc in meta["scenarios"].items():
        cfg = sc.get("config")
        if cfg is None:
            continue
        text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=100)
        parts.append(f"<details><summary>Resolved config of {_e(name)}</summary><pre>"
                     f"{_e(text)}</pre></details>")
    runs = meta.get("runs") or []
    if runs:
        rows = "".join(
            f"<tr><td>{_e(r.get('scenario'))}</td><td class='num'>{_e(r.get('replication'))}"
            f"</td><td class='num'>{_e(r.get('seed'))}</td><td class='num'>"
            f"{_num(r.get('wall_seconds', ''))}</td></tr>" for r in runs)
        parts.append("<details><summary>Every run</summary><table><thead><tr><th>Scenario"
                     "</th><th class='num'>Replication</th><th class='num'>Seed</th>"
                     "<th class='num'>Seconds</th></tr></thead><tbody>" + rows
                     + "</tbody></table></details>")
    return "".join(parts)


def build_report(out_dir: str | Path) -> str:
    """The report of an experiment output folder, as one self-contained HTML page."""
    inputs = read_inputs(out_dir)
    meta = inputs.meta
    title = str(meta.get("name") or "msksim experiment")
    order = _headline_order(inputs)
    sections: list[tuple[str, str, str]] = []  # (id, heading, body)
    sections.append(("scenarios", "The scenarios", _scenarios_html(inputs)))
    plots = make_plots(inputs)
    if plots:
        body = "".join(
            f"<figure data-series='{_e(' '.join(p.series))}'><h3>{_e(p.title)}</h3>"
            f"<img alt='{_e(p.title)}' src='{p.img}'><figcaption>{_e(p.caption)}"
            f"</figcaption></figure>" for p in plots)
    else:
        body = ("<p class='muted'>This folder has no weekly series (series.parquet); rerun the "
                "experiment with a newer msksim to get plots.</p>")
    sections.append(("plots", "What happened, week by week", body))
    summary = _summary_table(inputs, order)
    if summary:
        sections.append(("headline", "Headline figures",
                         "<p>Mean over replications, with its 95% confidence interval in "
                         "brackets.</p>" + summary))
    sections.append(("differences", "Differences from the baseline",
                     f"<p>Each scenario minus <strong>{_e(inputs.baseline)}</strong>, run by "
                     f"run (same seeds), then averaged; the headline figures first, every "
                     f"figure under “All figures”.</p>" + _differences_html(inputs, order)))
    if inputs.statistics:
        sections.append(("statistics", "Common random numbers",
                         _statistics_html(inputs.statistics, inputs.crn)))
    if inputs.sensitivity is not None or inputs.sensitivity_error:
        sections.append(("sensitivity", "Which assumptions matter most",
                         _sensitivity_html(inputs)))
    sections.append(("provenance", "Provenance", _provenance_html(inputs)))
    nav = "".join(f"<li><a href='#{sid}'>{_e(h)}</a></li>" for sid, h, _ in sections)
    content = "".join(f"<section id='{sid}'><h2>{_e(h)}</h2>{b}</section>"
                      for sid, h, b in sections)
    question = meta.get("question") or ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
        f"<p class='muted'>msksim experiment report</p><h1>{_e(title)}</h1>"
        + (f"<p class='question'>{_e(question)}</p>" if question else "")
        + f"<h2 id='how-to-read'>How to read this</h2>{_intro(inputs)}"
        f"<nav><ul>{nav}</ul></nav>{content}</main></body></html>\n")


def write_report(out_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write the report (default `out_dir/report.html`) atomically; return its path."""
    text = build_report(out_dir)
    target = Path(path) if path is not None else Path(out_dir) / "report.html"
    if target.is_dir():
        raise ConfigError(f"--out: {str(target)!r} is a folder; give a file name such as "
                          f"{str(target / 'report.html')!r}")
    atomic_write(target, lambda p: p.write_text(text, encoding="utf-8"))
    return target


# ----------------------------------------------------------------------------------------------
# the command line: `msksim report DIR`
# ----------------------------------------------------------------------------------------------
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `report` to the CLI's subcommands."""
    p = subparsers.add_parser(
        "report", help="write an experiment's results as one self-contained HTML page",
        description="Read an experiment output folder (`msksim experiment FILE --out DIR`) and "
                    "write one HTML file with the scenarios, plots with uncertainty bands, the "
                    "paired differences from the baseline and the provenance; it opens in any "
                    "browser with no network.")
    p.add_argument("dir", metavar="DIR", help="the experiment's output folder")
    p.add_argument("--out", metavar="FILE", help="the HTML file (default DIR/report.html)")
    p.set_defaults(handler=cmd_report)
    return p


def cmd_report(args: argparse.Namespace) -> int:
    path = write_report(args.dir, args.out)
    print(f"Report written to {path}")
    return 0

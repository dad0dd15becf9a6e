"""The app's figures (matplotlib `Figure`, never pyplot: one per call, safe across sessions) and
the plain-language sentences under them.

Live charts read `sim.LiveRun.headline()`: one row per simulated week, whole-city counts. The
x axis is fixed to the whole run, so a line grows across the chart as weeks are simulated; the
warm-up (the status quo, left out of `msksim run`'s results) is shaded.
"""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
import threading
import zipfile
from collections import OrderedDict

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from msksim.config import GP_NODE
from msksim.results import fmt_number
from msksim.statistics import t_interval
from msksim.timeline import RTT_STANDARD_WEEKS, WEEKS_PER_YEAR

from .settings import RULE_SHORT, md

#: colour-blind-safe colours (Okabe-Ito)
BLUE, ORANGE, GREEN, PURPLE, GREY = "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#777777"
RULE_COLOURS = (BLUE, ORANGE)
FIG_W, FIG_H, DPI = 6.4, 3.2, 100
RTT_TARGET, THEATRE_TARGET = 92.0, 85.0


def _fig(w: float = FIG_W, h: float = FIG_H, fixed: bool = True) -> tuple[Figure, object]:
    """A figure with one axes; fixed margins (a third faster to draw than constrained layout,
    which matters when five charts redraw after every click)."""
    fig = Figure(figsize=(w, h), dpi=DPI, layout=None if fixed else "constrained")
    if fixed:
        fig.subplots_adjust(left=0.12, right=0.97, top=0.88, bottom=0.16)
    ax = fig.add_subplot()
    ax.tick_params(labelsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


# Titles are placed with y=1.0 throughout: an explicit position spares matplotlib a search of the
# axes' extent for room above it on every draw (a sixth of a live chart's drawing time).


def plain(text: str) -> str:
    """Config text (a name or label) drawn as written: `$` would start matplotlib's maths."""
    return str(text).replace("$", r"\$")


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color=GREY,
            transform=ax.transAxes, wrap=True)


def _frame_weeks(ax, warmup: int, total: int) -> None:
    """Fixed x axis over the whole run, the warm-up shaded, the contract's start marked."""
    ax.set_xlim(0, total + 1)
    if warmup > 0:
        ax.axvspan(0, warmup + 0.5, color="#ececec", zorder=0)
        ax.text(warmup / 2, 0.02, "warm-up (status quo)", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=9, color=GREY, zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "#ececec", "ec": "none",
                      "alpha": 0.85})
        ax.axvline(warmup + 0.5, color=GREY, lw=1)
    ax.set_xlabel("weeks simulated", fontsize=10)


def _live_fig(title: str, warmup: int, total: int,
              target: tuple[float, str] | None = None) -> tuple[Figure, object]:
    """A live chart's figure: its title, the weeks frame and (optionally) a dashed target line
    with its label at the right."""
    fig, ax = _fig()
    ax.set_title(title, fontsize=12, loc="left", y=1.0)
    _frame_weeks(ax, warmup, total)
    if target is not None:
        value, label = target
        ax.axhline(value, color=ORANGE, ls="--", lw=1.5)
        ax.text(1, value, f" {label}", color=ORANGE, fontsize=9, va="bottom",
                transform=ax.get_yaxis_transform(), ha="right")
    return fig, ax


def _rolling(s: pd.Series, weeks: int) -> pd.Series:
    return s.rolling(weeks, min_periods=1).mean()


# ----------------------------------------------------------------------------------------------
# live charts ("Watch it run")
# ----------------------------------------------------------------------------------------------
START_TEXT = "Press 'Step a week' or 'Run a year'"


def fig_waiting(h: pd.DataFrame, warmup: int, total: int) -> Figure:
    fig, ax = _live_fig("People waiting (whole city)", warmup, total)
    if len(h):
        x = h["weeks_simulated"]
        ax.plot(x, h["waiting_first"], color=BLUE, lw=2, label="for a first appointment")
        ax.plot(x, h["waiting_surgery"], color=ORANGE, lw=2, label="for an operation")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=9, loc="lower right", frameon=False)
    else:
        _empty(ax, START_TEXT)
    ax.set_ylabel("people", fontsize=10)
    return fig


def fig_rtt(h: pd.DataFrame, warmup: int, total: int) -> Figure:
    fig, ax = _live_fig("Waiting 18 weeks or less since referral (%)", warmup, total,
                        (RTT_TARGET, "92% standard"))
    if len(h):
        ax.plot(h["weeks_simulated"], h["pct_within_18_weeks"], color=BLUE, lw=2)
        low = float(np.nanmin(h["pct_within_18_weeks"].to_numpy(dtype=float)))
        ax.set_ylim(min(85.0, low - 2), 100.5)
    else:
        ax.set_ylim(85, 100.5)
        _empty(ax, START_TEXT)
    ax.set_ylabel("% of people waiting", fontsize=10)
    return fig


def fig_theatre(h: pd.DataFrame, warmup: int, total: int) -> Figure:
    fig, ax = _live_fig("Theatre time used for operations (%)", warmup, total,
                        (THEATRE_TARGET, "85% target"))
    if len(h):
        x, u = h["weeks_simulated"], h["theatre_utilisation_pct"].astype(float)
        ax.plot(x, u, color=BLUE, lw=0.8, alpha=0.35)
        ax.plot(x, _rolling(u, 4), color=BLUE, lw=2)
    else:
        _empty(ax, START_TEXT)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of session time", fontsize=10)
    return fig


def year_to_date(x: pd.Series | pd.DataFrame, weeks: np.ndarray) -> pd.Series | pd.DataFrame:
    """The mean since the start of each contract year (the warm-up is one period of its own).

    Spend is shown this way, not as a moving average: the outcome incentive is paid in one
    lump at a contract year's end, and a 13-week average would show it as a quarter-long
    overspend; here it counts once, in the year it belongs to."""
    weeks = np.asarray(weeks)
    period = np.where(weeks >= 0, weeks // WEEKS_PER_YEAR, -1)
    n = pd.Series(1.0, index=x.index).groupby(period).cumsum().to_numpy()
    total = x.astype(float).groupby(period).cumsum()
    return total.div(n, axis=0)


def _spend_m(h: pd.DataFrame, col: str) -> pd.Series:
    """£m a year, contract year to date."""
    return year_to_date(h[col].fillna(0.0), h["week"].to_numpy()) * WEEKS_PER_YEAR / 1e6


def fig_spend(h: pd.DataFrame, warmup: int, total: int) -> Figure:
    fig, ax = _live_fig("Commissioner spend against the budget (£m a year)", warmup, total)
    if len(h):
        x = h["weeks_simulated"]
        ax.plot(x, _spend_m(h, "commissioner_spend_gbp"), color=BLUE, lw=2,
                label="spend, contract year so far")
        if h["envelope_gbp"].fillna(0).gt(0).any():
            ax.plot(x, _spend_m(h, "envelope_gbp"), color=GREY, lw=1.5, ls="--",
                    label="budget envelope")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=9, loc="lower right", frameon=False)
    else:
        _empty(ax, START_TEXT)
    ax.set_ylabel("£m a year", fontsize=10)
    return fig


def _outcome_gain(h: pd.DataFrame) -> pd.Series:
    num = h["sum_eq5d_gain"].fillna(0).rolling(13, min_periods=1).sum()
    den = h["new_outcomes"].fillna(0).rolling(13, min_periods=1).sum()
    return (num / den).where(den > 0)


def fig_outcomes(h: pd.DataFrame, warmup: int, total: int) -> Figure:
    fig, ax = _live_fig("Health gain six months after an operation (EQ-5D)", warmup, total)
    gain = _outcome_gain(h) if len(h) else pd.Series(dtype=float)
    if gain.notna().any():
        ax.plot(h["weeks_simulated"], gain, color=GREEN, lw=2)
        ax.set_ylim(0, max(0.6, float(gain.max()) * 1.1))
    else:
        _empty(ax, START_TEXT if not len(h) else
               "No results yet: gains are measured six months after each operation")
    ax.set_ylabel("EQ-5D points (mean)", fontsize=10)
    return fig


def _last(h: pd.DataFrame, col: str) -> float:
    s = h[col].dropna() if len(h) else pd.Series(dtype=float)
    return float(s.iloc[-1]) if len(s) else math.nan


def live_captions(h: pd.DataFrame) -> dict[str, str]:
    """One plain sentence under each live chart, with today's figure."""
    has_envelope = bool(len(h)) and bool(h["envelope_gbp"].fillna(0).gt(0).any())
    if not len(h):
        now = {"waiting": "", "rtt": "", "theatre": "", "spend": "", "outcomes": ""}
    else:
        spend = _spend_m(h, "commissioner_spend_gbp").iloc[-1]
        env = _spend_m(h, "envelope_gbp").iloc[-1]
        w = int(h["week"].iloc[-1])
        so_far = ("in the warm-up" if w < 0 else
                  f"so far in contract year {w // WEEKS_PER_YEAR + 1}")
        gain = _outcome_gain(h)
        g = gain.dropna()
        util = _rolling(h["theatre_utilisation_pct"].astype(float), 4).iloc[-1]
        now = {
            "waiting": f" Now {_last(h, 'waiting_first'):,.0f} and "
                       f"{_last(h, 'waiting_surgery'):,.0f}.",
            "rtt": f" Now {_last(h, 'pct_within_18_weeks'):.1f}%.",
            "theatre": f" Lately {util:.0f}%." if math.isfinite(util) else "",
            "spend": (f" £{spend:.1f}m a year {so_far}"
                      + (f", against a budget of £{env:.1f}m." if env > 0 else ".")),
            "outcomes": f" Lately {g.iloc[-1]:.2f} points." if len(g) else "",
        }
    return {
        "waiting": "How many people are waiting for a first appointment (blue) and for an "
                   "operation (orange), across the whole city." + now["waiting"],
        "rtt": f"The share of people still waiting who were referred {RTT_STANDARD_WEEKS} weeks "
               "ago or less; the NHS standard is 92% (dashed line)." + now["rtt"],
        "theatre": "How much planned operating time is spent operating (faint: each week; "
                   "solid: 4-week average); 85% is the usual target." + now["theatre"],
        "spend": "What the commissioner pays for MSK care, as £m a year, averaged from the "
                 "start of each contract year (so the outcome incentive, paid once at a year's "
                 "end, counts in its own year)"
                 + (", against the budget envelope it set (dashed)." if has_envelope else ".")
                 + now["spend"],
        "outcomes": "The average gain in health (EQ-5D: 0 = dead, 1 = full health) six months "
                    "after an operation; higher is better." + now["outcomes"],
    }


LIVE_CHARTS = {  # test id -> figure
    "chart-waiting": fig_waiting,
    "chart-rtt": fig_rtt,
    "chart-theatre": fig_theatre,
    "chart-spend": fig_spend,
    "chart-outcomes": fig_outcomes,
}

#: live chart pictures by content, shared by all sessions: the same figures give the same
#: picture, so a tab opened again, a repeated redraw or the empty charts of a fresh run cost
#: nothing (drawing five charts is a third of a second, as long as a year at scale 0.1)
_LIVE_PNG: OrderedDict[tuple, bytes] = OrderedDict()
_LIVE_PNG_MAX = 200  # about 30 kB each
_LIVE_PNG_LOCK = threading.Lock()


def live_png(test_id: str, h: pd.DataFrame, warmup: int, total: int) -> bytes:
    """The PNG of one live chart (LIVE_CHARTS) for these weeks, drawn once per content."""
    digest = hashlib.blake2b(pd.util.hash_pandas_object(h, index=False).to_numpy().tobytes()
                             + repr(list(h.columns)).encode(), digest_size=16).digest()
    key = (test_id, warmup, total, digest)
    with _LIVE_PNG_LOCK:
        png = _LIVE_PNG.get(key)
        if png is not None:
            _LIVE_PNG.move_to_end(key)
            return png
    png = png_bytes(LIVE_CHARTS[test_id](h, warmup, total))
    with _LIVE_PNG_LOCK:
        _LIVE_PNG[key] = png
        while len(_LIVE_PNG) > _LIVE_PNG_MAX:
            _LIVE_PNG.popitem(last=False)
    return png


# ----------------------------------------------------------------------------------------------
# the system: pathway graph and money
# ----------------------------------------------------------------------------------------------
_COLUMN = {"gp": 0, "hub": 1, "community": 2, "outpatient": 3, "theatre": 4}
WAIT_CMAP = "RdYlGn_r"
WAIT_MAX_WEEKS = 2 * RTT_STANDARD_WEEKS


def pathway_positions(graph) -> dict[str, tuple[float, float]]:
    """Services in columns by kind (GP → hub → community → clinics → theatres)."""
    cols: dict[int, list[str]] = {}
    for node, data in graph.nodes(data=True):
        cols.setdefault(_COLUMN.get(data.get("kind", "gp"), 0), []).append(node)
    pos = {}
    for c, nodes in cols.items():
        nodes = sorted(nodes)
        for i, n in enumerate(nodes):
            pos[n] = (float(c), 1.0 - (i + 1) / (len(nodes) + 1))
    return pos


def fig_pathway(graph, labels: dict[str, str], flows: dict[tuple[str, str], float],
                waits: dict[str, float], phase: str = "contract") -> Figure:
    """The pathway, left to right: lines as wide as the flow of people along them (over the
    `phase`, "contract" or "warm-up", so far), services coloured by how long people wait there
    at today's pace (the weeks written inside)."""
    fig = Figure(figsize=(12.4, 6.0), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(f"Where patients go, left to right (line width: people a year, {phase} so far) "
                 f"and how long they wait (colour, weeks)", fontsize=13, loc="left", y=1.0)
    pos = pathway_positions(graph)
    top = max([f for (a, b), f in flows.items() if graph.has_edge(a, b)] + [1.0])
    norm = Normalize(0, WAIT_MAX_WEEKS)
    cmap = colormaps[WAIT_CMAP]
    for a, b in graph.edges():
        f = flows.get((a, b), 0.0)
        (x0, y0), (x1, y1) = pos[a], pos[b]
        line = FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-", shrinkA=13, shrinkB=13,
                               lw=0.6 + 14 * f / top if f > 0 else 0.8,
                               color=BLUE if f > 0 else "#bbbbbb", alpha=0.5 if f > 0 else 0.9,
                               ls="-" if f > 0 else ":", capstyle="round", zorder=1)
        ax.add_patch(line)
        if f >= 0.03 * top:
            ax.text(x0 + 0.5 * (x1 - x0), y0 + 0.5 * (y1 - y0), fmt_number(f), fontsize=8,
                    ha="center", va="center", color="#1a1a1a", zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.85})
    for node, (x, y) in pos.items():
        wait = waits.get(node)
        known = node != GP_NODE and wait is not None
        colour = cmap(norm(min(wait, WAIT_MAX_WEEKS))) if known else "#d9d9d9"
        ax.scatter([x], [y], s=620, c=[colour], edgecolors="#333333", linewidths=1, zorder=2)
        if known:
            ax.text(x, y, f"{wait:.0f}" if math.isfinite(wait) else "–", ha="center",
                    va="center", fontsize=9, fontweight="bold", zorder=4)
        ax.text(x, y - 0.045, "\n".join(textwrap.wrap(plain(labels.get(node, node)), 26)),
                ha="center", va="top", fontsize=8.5, zorder=4,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
    ax.set_xlim(-0.45, 4.45)
    ax.set_ylim(-0.08, 1.02)
    for c, word in enumerate(("GP", "Hub (triage)", "Community MSK", "Clinics", "Theatres")):
        ax.text(c, 1.01, word, ha="center", va="top", fontsize=10, color=GREY)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, pad=0.01)
    bar.set_label("wait at today's pace (weeks)", fontsize=9)
    return fig


def fig_money(pnl: pd.DataFrame, phase: str) -> Figure:
    """Each provider's income, costs and margin (£m a year)."""
    fig, ax = _fig(9.0, 0.9 + 0.75 * max(len(pnl), 1), fixed=False)
    when = "contract so far" if phase == "contract" else "warm-up: the status quo"
    ax.set_title(f"Each provider's money, £m a year ({when})", fontsize=12, loc="left", y=1.0)
    if not len(pnl):
        _empty(ax, START_TEXT)
        return fig
    y = np.arange(len(pnl))
    hgt = 0.26
    costs = pnl["costs"] + pnl["paid to other providers"]
    ax.barh(y - hgt, pnl["income"], height=hgt, color=BLUE, label="income")
    ax.barh(y, costs, height=hgt, color=GREY, label="costs (incl. paying others)")
    ax.barh(y + hgt, pnl["margin"], height=hgt,
            color=[GREEN if m >= 0 else ORANGE for m in pnl["margin"]], label="margin")
    ax.set_yticks(y, ["\n".join(textwrap.wrap(plain(n), 26)) for n in pnl["provider"]],
                  fontsize=9)
    ax.invert_yaxis()
    ax.axvline(0, color="#333333", lw=0.8)
    ax.legend(fontsize=9, loc="lower right", frameon=False)
    ax.set_xlabel("£m a year (whole city)", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# comparing two rules
# ----------------------------------------------------------------------------------------------
#: series key -> (title, y label, smoothing weeks, multiplier, summary figure, sentence phrases)
COMPARE_SERIES: dict[str, dict] = {
    "waiting_surgery": {
        "title": "People waiting for an operation", "ylabel": "people", "smooth": 1, "k": 1.0,
        "measure": ("Waiting", "Waiting for surgery (end)", "people"),
        "phrase": "{n} {more} people were waiting for an operation at the end",
        "words": ("more", "fewer"), "fmt": "{:,.0f}"},
    "waiting_first": {
        "title": "People waiting for a first appointment", "ylabel": "people", "smooth": 1,
        "k": 1.0, "measure": ("Waiting", "Waiting for a first appointment (end)", "people"),
        "phrase": "{n} {more} people were waiting for a first appointment at the end",
        "words": ("more", "fewer"), "fmt": "{:,.0f}"},
    "pct_within_18_weeks": {
        "title": "Waiting 18 weeks or less (%)", "ylabel": "% of people waiting", "smooth": 1,
        "k": 1.0, "target": RTT_TARGET,
        "measure": ("Waiting", "Incomplete RTT pathways within 18 weeks", "% (mean over weeks)"),
        "phrase": "the share waiting 18 weeks or less was {n} percentage points {more} on "
                  "average", "words": ("higher", "lower"), "fmt": "{:.1f}"},
    "theatre_utilisation_pct": {
        "title": "Theatre time used for operations (%)", "ylabel": "% of session time",
        "smooth": 4, "k": 1.0, "target": THEATRE_TARGET,
        "measure": ("Theatres", "Touch-time utilisation, capped (target 85%)",
                    "% of session time"),
        "phrase": "theatres spent {n} percentage points {more} of their planned time operating",
        "words": ("more", "less"), "fmt": "{:.1f}"},
    "commissioner_spend_gbp": {
        "title": "Commissioner spend (£m a year)", "ylabel": "£m a year", "smooth": "year",
        "k": WEEKS_PER_YEAR / 1e6, "measure": ("Money", "Commissioner spend", "£m a year"),
        "phrase": "the commissioner spent £{n}m a year {more}", "words": ("more", "less"),
        "fmt": "{:.2f}"},
    "operations": {
        "title": "Operations (a year)", "ylabel": "operations a year", "smooth": 13,
        "k": WEEKS_PER_YEAR, "measure": ("Surgery", "all operations", "operations a year"),
        "phrase": "there were {n} {more} operations a year", "words": ("more", "fewer"),
        "fmt": "{:,.0f}"},
    "eq5d_gain": {
        "title": "Health gain after an operation (EQ-5D)", "ylabel": "EQ-5D points",
        "smooth": 13, "k": 1.0,
        "measure": ("Outcomes", "EQ-5D gain six months after surgery", "index points (mean)"),
        "phrase": "the average health gain after an operation was {n} EQ-5D points {more}",
        "words": ("higher", "lower"), "fmt": "{:.3f}"},
}


def _bands(series: pd.DataFrame, rule: str, key: str, smooth: int | str, k: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Per contract week over replications: mean, and the 95% t-interval of the mean
    (`smooth`: weeks of moving average, or "year" for the contract year to date)."""
    s = series[(series["scenario"] == rule) & (series["series"] == key)
               & (series["group"] == "")]
    wide = s.pivot_table(index="week", columns="replication", values="value", aggfunc="sum",
                         dropna=False).sort_index()
    if smooth == "year":
        wide = year_to_date(wide, wide.index.to_numpy())
    elif smooth > 1:
        wide = wide.rolling(smooth, min_periods=1).mean()
    wide = wide * k
    weeks = wide.index.to_numpy()
    stats = [t_interval(row) for row in wide.to_numpy()]
    mean = np.array([x[1] for x in stats])
    lo = np.array([x[3] for x in stats])
    hi = np.array([x[4] for x in stats])
    return weeks, mean, lo, hi, wide.shape[1]


def fig_compare(comp, key: str) -> Figure:
    spec = COMPARE_SERIES[key]
    fig, ax = _fig()
    smooth = spec["smooth"]
    ax.set_title(spec["title"], fontsize=12, loc="left", y=1.0)
    for rule, colour in zip(dict.fromkeys(comp.rules), RULE_COLOURS, strict=False):
        weeks, mean, lo, hi, n = _bands(comp.series, rule, key, smooth, spec["k"])
        if not len(weeks):
            continue
        x = (weeks + 1) / WEEKS_PER_YEAR
        ax.plot(x, mean, color=colour, lw=2, label=RULE_SHORT.get(rule, rule))
        if n > 1:
            if key != "eq5d_gain":  # counts, shares and money cannot fall below zero
                lo = np.maximum(lo, 0.0)
            ax.fill_between(x, lo, hi, color=colour, alpha=0.2, lw=0)
    if key == "commissioner_spend_gbp":
        weeks, env, *_ = _bands(comp.series, comp.rules[0], "envelope_gbp", smooth, spec["k"])
        if len(env) and np.nanmax(env) > 0:
            ax.plot((weeks + 1) / WEEKS_PER_YEAR, env, color=GREY, ls="--", lw=1.5,
                    label="budget envelope")
    if "target" in spec:
        ax.axhline(spec["target"], color=GREY, ls=":", lw=1.2)
    ax.set_xlabel("contract years", fontsize=10)
    ax.set_ylabel(spec["ylabel"] + (" (year to date)" if smooth == "year" else
                                    f" ({smooth}-week mean)" if smooth > 1 else ""),
                  fontsize=10)
    ax.legend(fontsize=9, frameon=False, loc="best")
    return fig


def difference_sentence(comp, key: str) -> str:
    """What the chart shows, in one sentence: rule B minus rule A, paired, with its interval."""
    spec = COMPARE_SERIES[key]
    a, b = comp.rules
    la, lb = RULE_SHORT.get(a, a), RULE_SHORT.get(b, b)
    if a == b:
        return "Both sides are the same payment rule: choose two different rules to compare."
    d = comp.differences
    row = d[(d["section"] == spec["measure"][0]) & (d["measure"] == spec["measure"][1])
            & (d["unit"] == spec["measure"][2])]
    if not len(row) or not math.isfinite(float(row["mean_diff"].iloc[0])):
        return "There is nothing to compare here yet in these runs."
    r = row.iloc[0]
    diff, n = float(r["mean_diff"]), int(r["n"])
    more, fewer = spec["words"]
    f = spec["fmt"]
    if abs(diff) < 1e-12:
        text = f"{lb} and {la} gave the same figure"
        return text + (f" in all {n} paired runs." if n > 1 else " in this run.")
    phrase = spec["phrase"].format(n=f.format(abs(diff)), more=more if diff > 0 else fewer)
    text = f"Under {lb}, {phrase} than under {la}"
    lo, hi = float(r["ci_low"]), float(r["ci_high"])
    if n >= 2 and math.isfinite(lo):
        text += (f" (95% interval of the difference {lb} − {la}: {f.format(lo)} to "
                 f"{f.format(hi)}, over {n} paired runs")
        text += ("; it includes no difference, so this could be chance)." if lo <= 0 <= hi
                 else ").")
    else:
        text += " in this one pair of runs; add replications to see how sure this is."
    return text


#: the figures shown in the short comparison table (section, start of the measure's name)
KEY_MEASURES = (
    ("Waiting", "Waiting for a first appointment (end)"),
    ("Waiting", "Waiting for surgery (end)"),
    ("Waiting", "Incomplete RTT pathways within 18 weeks"),
    ("Outpatients and community", "All outpatient clinics: follow-ups per first"),
    ("Surgery", "all operations"),
    ("Surgery", "low-value operations"),
    ("Theatres", "Touch-time utilisation, capped"),
    ("Outcomes", "EQ-5D gain six months after surgery"),
    ("Outcomes", "QALYs lost to MSK conditions"),
    ("Money", "Commissioner spend"),
)
#: figures whose report name is jargon in a workshop: the words the app uses instead
PLAIN_MEASURES = {
    "Touch-time utilisation, capped": "Theatre session time spent operating (target 85%)",
    "Touch-time utilisation, uncapped": "Theatre session time spent operating, overruns "
                                        "included",
}


def comparison_table(comp, key_only: bool = False) -> pd.DataFrame:
    """The headline figures of both rules (means over replications) side by side, with the
    paired difference and its 95% interval."""
    from msksim.results import side_by_side

    a, b = comp.rules
    rules = list(dict.fromkeys(comp.rules))
    s = comp.summary
    summaries = {RULE_SHORT.get(r, r): s[s["scenario"] == r][["section", "measure", "unit",
                                                                 "mean"]]
                 .rename(columns={"mean": "value"}) for r in rules}
    table = side_by_side(summaries)
    if len(rules) == 2 and len(comp.differences):
        d = comp.differences[["section", "measure", "unit", "mean_diff", "ci_low", "ci_high"]]
        table = table.merge(d, on=["section", "measure", "unit"], how="left")
        la, lb = RULE_SHORT.get(a, a), RULE_SHORT.get(b, b)
        table = table.rename(columns={"mean_diff": f"{lb} − {la}"})
    if key_only:
        keep = np.zeros(len(table), dtype=bool)
        for sec, start in KEY_MEASURES:
            keep |= (table["section"] == sec) & table["measure"].str.startswith(start)
        table = table[keep].reset_index(drop=True)
    return table


def table_markdown(table: pd.DataFrame) -> str:
    """A comparison table as Markdown, numbers rounded for reading."""
    values = [c for c in table.columns if c not in ("section", "measure", "unit", "ci_low",
                                                     "ci_high")]
    has_ci = "ci_low" in table and table["ci_low"].notna().any()
    head = ["Figure", *values] + (["95% interval of the difference"] if has_ci else [])
    lines = ["| " + " | ".join(head) + " |", "|:---|" + "---:|" * (len(head) - 1)]
    for _, r in table.iterrows():
        name = next((v for k, v in PLAIN_MEASURES.items() if r["measure"].startswith(k)),
                    r["measure"])
        cells = [f"{name} ({r['unit']})"] + [fmt_number(r[c]) for c in values]
        if has_ci:
            cells.append(f"{fmt_number(r['ci_low'])} to {fmt_number(r['ci_high'])}"
                         if pd.notna(r["ci_low"]) else "–")
        lines.append("| " + " | ".join(md(c) for c in cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# exports
# ----------------------------------------------------------------------------------------------
def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def charts_zip(figures: dict[str, Figure], extra: dict[str, bytes] | None = None) -> bytes:
    """The charts as PNG files in one zip (and any `extra` files, by name)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, fig in figures.items():
            z.writestr(f"{name}.png", png_bytes(fig))
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()

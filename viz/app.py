"""The msksim workshop app: `solara run viz/app.py` (or `msksim viz`). `Page` is the entry point.

Five tabs: Set up (city, payment rule, levers), Watch it run (one model, a week or a year at a
time, live charts), Compare (two payment rules over paired replications), The system (the
pathway's flows and waits, who pays whom, each provider's margin) and Take it away (results,
charts and the config as files, and the same run as a command line).

Every browser session has its own state: everything lives in `use_app_state()` inside the
component tree (no model or reactive variable at module level). The logic is in plain
modules beside this one (`settings`, `sim`, `charts`); this file only lays it out.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import reacton.ipyvuetify as rv
import reacton.ipywidgets as rw
import solara
import solara.lab
from matplotlib.figure import Figure

from msksim.config import ConfigError
from msksim.timeline import WEEKS_PER_YEAR

# `solara run viz/app.py` puts viz/ on sys.path; the modules beside this file are the package
# `viz`, so put the repository's root there too
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from viz import charts, sim  # noqa: E402
from viz import settings as st  # noqa: E402

log = logging.getLogger("msksim.viz")

TABS = ("Set up", "Watch it run", "Compare", "The system", "Take it away")

CSS = """
.msk-app { font-size: 17px; max-width: 1320px; margin: 0 auto; padding: 0 8px; }
.msk-app h2 { font-size: 26px; margin: 4px 0 2px 0; }
.msk-app .v-tab { font-size: 17px; text-transform: none; letter-spacing: 0; }
.msk-app .v-label { font-size: 16px; color: #222 !important; }
.msk-app .v-select__selection { font-size: 16px; }
.msk-app .lever .v-input__slot { flex-wrap: wrap; }
.msk-app .lever .v-input__slot > .v-label { flex: 0 0 100%; max-width: 100%; height: auto;
    margin-bottom: 30px; white-space: normal; }
.msk-app .lever .v-slider__ticks-container { margin-bottom: 8px; }
.msk-app .lever { margin-bottom: 6px; }
.msk-app .lever-note { display: block; color: #333; font-size: 15px; margin: 0 0 14px 0; }
.msk-app .chart-grid { display: grid; gap: 10px 24px;
    grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); }
.msk-app .chart-card > div { height: auto !important; }
.msk-app .chart-card img { max-width: 100%; height: auto; margin: 0; }
.msk-app .v-btn { text-transform: none; letter-spacing: 0; font-size: 16px; }
.msk-app .chart-caption { display: block; font-size: 15px; color: #333; margin: 0 0 8px 0; }
.msk-app .week-counter { font-size: 26px; font-weight: 600; margin: 0 12px; }
.msk-app .phase { font-size: 16px; color: #333; }
.msk-app table { font-size: 15px; }
.msk-app pre { white-space: pre-wrap; font-size: 15px; }
"""


# ----------------------------------------------------------------------------------------------
# per-session state
# ----------------------------------------------------------------------------------------------
@dataclass
class AppState:
    """One browser session's state (built by `use_app_state` inside `Page`)."""

    city: solara.Reactive[str]
    rule: solara.Reactive[str]
    levers: solara.Reactive[st.Levers]
    upload: solara.Reactive[st.Upload | None]
    upload_error: solara.Reactive[str | None]
    live: solara.Reactive[sim.LiveRun | None]
    live_error: solara.Reactive[str | None]
    tick: solara.Reactive[int]
    rule_a: solara.Reactive[str]
    rule_b: solara.Reactive[str]
    replications: solara.Reactive[int]
    comparison: solara.Reactive[sim.Comparison | None]
    compare_error: solara.Reactive[str | None]
    tab: solara.Reactive[int]

    def choices(self) -> sim.Choices:
        upload = self.upload.value if self.city.value == st.UPLOADED else None
        return sim.Choices(self.city.value, self.rule.value, self.levers.value, upload)


def use_app_state() -> AppState:
    """A fresh state for this session (a hook: call it inside a component)."""
    return AppState(
        city=solara.use_reactive("Sheffield"),
        rule=solara.use_reactive(st.base_config("Sheffield").contract.rule),
        levers=solara.use_reactive(st.Levers()),
        upload=solara.use_reactive(None),
        upload_error=solara.use_reactive(None),
        live=solara.use_reactive(None),
        live_error=solara.use_reactive(None),
        tick=solara.use_reactive(0),
        rule_a=solara.use_reactive("pbr"),
        rule_b=solara.use_reactive("cobic"),
        replications=solara.use_reactive(1),
        comparison=solara.use_reactive(None),
        compare_error=solara.use_reactive(None),
        tab=solara.use_reactive(0),
    )


def _problem(exc: Exception) -> str:
    """A one-line message for the page (never a traceback; the server log has it)."""
    if isinstance(exc, ConfigError):
        return f"Config error: {exc}"
    log.exception("unexpected error in the workshop app")
    what = " ".join(str(exc).split())[:200]
    return f"Something went wrong ({type(exc).__name__}: {what}). The details are in the " \
           f"server's log."


def reset_live(state: AppState) -> None:
    """Build a new model from the Set up choices (the "Reset" button)."""
    try:
        live = sim.start(state.choices())
    except Exception as exc:  # shown to the user in one line
        state.live.set(None)
        state.live_error.set(_problem(exc))
        return
    state.live.set(live)
    state.live_error.set(None)
    state.tick.set(state.tick.value + 1)


def step_live(state: AppState, weeks: int) -> float:
    """Simulate `weeks` weeks in one go, then redraw once; returns the seconds it took."""
    live = state.live.value
    if live is None:
        return 0.0
    t0 = time.perf_counter()
    try:
        live.step(weeks)
    except Exception as exc:
        state.live_error.set(_problem(exc))
    state.tick.set(state.tick.value + 1)
    return time.perf_counter() - t0


def choose_city(state: AppState, city: str) -> None:
    """Switch city: its own payment rule and levers; the run size and seed are kept."""
    try:
        base = st.base_config(city, state.upload.value)
    except ConfigError as exc:
        state.upload_error.set(f"Config error: {exc}")
        return
    lv = state.levers.value
    state.city.set(city)
    state.levers.set(st.Levers(scale=lv.scale, seed=lv.seed, years=lv.years))
    rules = st.available_rules(base)
    state.rule.set(base.contract.rule if base.contract.rule in rules else rules[0])
    for r, default in ((state.rule_a, "pbr"), (state.rule_b, "cobic")):
        if r.value not in rules:
            r.set(default if default in rules else rules[0])


def handle_upload(state: AppState, info: dict) -> None:
    """A file dropped on Set up: read it safely, validate it, and make it the city."""
    try:
        source = info.get("data") or info["file_obj"]
        upload = st.load_upload(info.get("name", "upload.yaml"), source, info.get("size"))
    except Exception as exc:
        state.upload_error.set(_problem(exc))
        return
    state.upload.set(upload)
    state.upload_error.set(None)
    choose_city(state, st.UPLOADED)


def set_lever(state: AppState, **changes: Any) -> None:
    state.levers.set(replace(state.levers.value, **changes))


def _items(values: list[str], words: dict[str, str]) -> list[dict]:
    return [{"text": words.get(v, v), "value": v} for v in values]


# ----------------------------------------------------------------------------------------------
# small pieces
# ----------------------------------------------------------------------------------------------
@solara.component
def Note(text: str):
    solara.Text(text, classes=["lever-note"])


@solara.component
def ChartCard(test_id: str, make: Callable[[], Figure | bytes], deps: list, caption: str):
    """A chart with a one-sentence caption; `make` gives a figure or its PNG, redrawn only when
    `deps` change; `test_id` is a CSS class tests look for."""
    png = solara.use_memo(lambda: _safely(lambda: _png(make())), deps)
    with solara.Div(classes=["chart-card", test_id]):
        if isinstance(png, bytes):
            rw.Image(value=png, format="png")
        else:
            solara.Error(f"This chart could not be drawn. {png}")
        solara.Text(caption, classes=["chart-caption"])


def _png(fig: Figure | bytes) -> bytes:
    return fig if isinstance(fig, bytes) else charts.png_bytes(fig)


def _safely(make: Callable[[], Any]) -> Any:
    """What `make` returns, or the one-line problem (str) if it fails: a chart or a download
    that cannot be made must not replace the page with a traceback."""
    try:
        return make()
    except Exception as exc:
        return _problem(exc)


def _run_words(live: sim.LiveRun) -> str:
    rule = st.RULE_SHORT.get(live.rule, live.rule)
    years = live.cfg.run.years
    if live.finished:
        return (f"Finished: {years} contract year{'s' * (years > 1)} under {rule}. Press Reset "
                f"to start again, or add contract years on Set up.")
    if live.contract_week < 0:  # (no "week N" here: the counter is the only "Week N")
        return (f"Warm-up under the status quo "
                f"({st.RULE_SHORT.get(live.cfg.run.warmup_rule, '')}): {live.weeks_done} of "
                f"{live.warmup} weeks done; {rule} starts after it.")
    year = live.contract_week // WEEKS_PER_YEAR + 1
    return f"Contract year {year} of {years} under {rule}."


# ----------------------------------------------------------------------------------------------
# the tabs
# ----------------------------------------------------------------------------------------------
@solara.component
def SetUpTab(state: AppState):
    choices = state.choices()

    def check():
        try:
            return st.build_config(choices.city, choices.rule, choices.levers,
                                   choices.upload), None
        except Exception as exc:
            return None, _problem(exc)

    cfg, problem = solara.use_memo(check, [choices])  # hooks first, before any early return
    try:
        base = st.base_config(choices.city, choices.upload)
    except ConfigError as exc:
        solara.Error(f"Config error: {exc}")
        return
    d = st.city_defaults(base)
    eff = st.effective(state.levers.value, d)
    lv = state.levers.value

    with solara.Columns([5, 7], gutters_dense=True):
        with solara.Column():
            solara.Markdown("### The city and its contract")
            cities = list(st.CITIES) + ([st.UPLOADED] if state.upload.value else [])
            names = {st.UPLOADED: f"Uploaded: {state.upload.value.name}"} \
                if state.upload.value else {}
            solara.Select("City", values=_items(cities, names), value=state.city.value,
                          on_value=lambda c: choose_city(state, c))
            Note(base.description.strip() or base.name)
            solara.Select("Payment rule", values=_items(list(d.rules), st.RULE_NAMES),
                          value=state.rule.value, on_value=state.rule.set)
            Note(st.RULE_WORDS.get(state.rule.value, "") + ".")
            missing = [r for r in st.RULE_WORDS if r not in d.rules]
            if missing:
                Note(f"Not available for this city: {', '.join(st.RULE_SHORT[r] for r in missing)}"
                     f" (its config has no section for {'it' if len(missing) == 1 else 'them'}).")
            solara.Markdown("**Your own city** (optional): a YAML config like "
                            "`configs/sheffield.yaml`.")
            solara.FileDrop(label="Drop a city config here (YAML, up to 1 MB)",
                            on_file=lambda info: handle_upload(state, info), lazy=True)
            if state.upload_error.value:
                solara.Error(state.upload_error.value)
            elif state.upload.value and choices.city == st.UPLOADED:
                solara.Success(f"Loaded {state.upload.value.name}: {base.name} "
                               f"({len(base.services)} services, {len(base.providers)} "
                               f"providers).")
            solara.Markdown("### How much to simulate")
            Lever("Share of the city simulated", lv.scale, st.SCALE_RANGE[0], st.scale_max(base),
                  0.01,
                  lambda v: set_lever(state, scale=round(v, 2)), st.scale_words(lv.scale, base))
            Lever("Contract years", eff["years"], *st.YEARS_RANGE, 1,
                  lambda v: set_lever(state, years=int(v)),
                  f"Simulated after a {base.run.warmup_weeks}-week warm-up under the status quo "
                  f"({st.RULE_NAMES[base.run.warmup_rule]}).", integer=True)
            solara.InputInt("Seed", value=eff["seed"],
                            on_value=lambda v: set_lever(state, seed=max(int(v or 0), 0)))
            Note("The same seed gives the same people falling ill in the same weeks.")
        with solara.Column():
            solara.Markdown("### Levers")
            LeverControls(state, base, d, eff)
    if problem:
        solara.Error(f"This set-up cannot run. {problem}")
    elif cfg is not None:
        solara.Success(f"Ready: {cfg.name} under {st.RULE_SHORT[choices.rule]}, "
                       f"{100 * cfg.run.scale:.0f}% of the city, {cfg.run.years} contract "
                       f"year{'s' * (cfg.run.years > 1)} after a {cfg.run.warmup_weeks}-week "
                       f"warm-up.")
    with solara.Row():
        def start():
            reset_live(state)
            state.tab.set(1)

        solara.Button("Start this set-up", on_click=start, color="primary",
                      disabled=problem is not None)
        solara.Button(f"Back to {base.name}'s own settings", on_click=lambda: state.levers.set(
            st.Levers(scale=lv.scale, seed=lv.seed, years=lv.years)), outlined=True)
    if problem is None:
        with solara.Details("The same run on the command line"):
            solara.Preformatted(st.cli_command(choices.city, choices.rule, lv, choices.upload))
            Note(f"with {st.OVERLAY_FILE} from 'Take it away'.")


@solara.component
def Lever(label: str, value: float, low: float, high: float, step: float,
          on_value: Callable[[float], None], note: str, disabled: bool = False,
          integer: bool = False):
    """A labelled slider (its value always shown) with a plain-words line under it."""
    with solara.Div(classes=["lever"]):
        if integer:
            solara.SliderInt(label, value=int(value), min=int(low), max=int(high), step=int(step),
                             on_value=on_value, disabled=disabled, thumb_label="always")
        else:
            solara.SliderFloat(label, value=float(value), min=low, max=high, step=step,
                               on_value=on_value, disabled=disabled, thumb_label="always")
    Note(note)


@solara.component
def LeverControls(state: AppState, base, d: st.CityDefaults, eff: dict):
    lv = state.levers.value
    cobic = base.contract.cobic
    if cobic is None:
        note = "This city has no COBIC contract, so there is no outcome incentive to set."
    elif lv.outcome_incentive_pct is None:
        plan = ", ".join(f"{x:g}" for x in d.outcome_schedule_pct)
        note = (f"{base.name}'s plan: {plan}% of the contract in years 1, 2, …, paid only if "
                f"outcome targets are met (COBIC). Moving the slider sets every year.")
    else:
        note = (f"{lv.outcome_incentive_pct:g}% of the COBIC contract each year is paid only if "
                f"outcome targets (hip and knee scores, waits) are met.")
    Lever("Outcome incentive (% of contract)", eff["outcome_incentive_pct"] or 0.0,
          *st.OUTCOME_PCT_RANGE, 0.5, lambda v: set_lever(state, outcome_incentive_pct=v), note,
          disabled=cobic is None)
    Lever("Capitation uplift (% a year)", eff["uplift_pct"], *st.UPLIFT_PCT_RANGE, 0.5,
          lambda v: set_lever(state, uplift_pct=v),
          f"The budget per head changes by {eff['uplift_pct']:+.1f}% a year before population "
          f"growth (inflation less efficiency); block and blended sums change the same. PbR "
          f"pays national prices, so for PbR this only moves the budget line.")
    theatres = [s for s in base.services.values() if s.kind == "theatre"]
    today = sum(s.sessions_per_week for s in theatres)
    planned = sum(s.sessions_per_week * (lv.theatre_factor if lv.theatre_provider in
                                         (None, s.provider) else 1.0) for s in theatres)
    Lever("Theatre sessions (× today's plan)", lv.theatre_factor, *st.THEATRE_FACTOR_RANGE, 0.05,
          lambda v: set_lever(state, theatre_factor=v),
          f"{planned:.0f} four-hour sessions a week across the city (today's plan: "
          f"{today:.0f}); a site short of operating rooms gets more.")
    providers = {"": "every provider", **d.theatre_providers}
    solara.Select("Theatre sessions apply to", values=_items(list(providers), providers),
                  value=lv.theatre_provider or "",
                  on_value=lambda p: set_lever(state, theatre_provider=p or None))
    _, low, high = d.decision_aid
    Lever("Decision-aid uptake (share of surgical decisions)", eff["decision_aid_share"], low,
          high, 0.05, lambda v: set_lever(state, decision_aid_share=v),
          f"{100 * eff['decision_aid_share']:.0f}% of people deciding about an operation start "
          f"with a decision aid (providers may change this each quarter).")
    solara.Checkbox(label="Hub triage for every GP referral", value=bool(eff["hub_for_all"]),
                    disabled=d.hub is None,
                    on_value=lambda v: set_lever(state, hub_for_all=bool(v)))
    if d.hub is None:
        Note("This city has no hub service.")
    elif eff["hub_for_all"]:
        Note(f"Every GP referral goes to the {base.services[d.hub].label or d.hub} first, which "
             f"triages and routes it.")
    else:
        Note(f"Each GP chooses where to refer: community services, clinics, or the "
             f"{base.services[d.hub].label or d.hub} where the city's pathway offers it.")
    Lever("GP referral variation (spread between practices)", eff["referral_sd"],
          *st.REFERRAL_SD_RANGE, 0.05, lambda v: set_lever(state, referral_sd=v),
          st.referral_words(eff["referral_sd"]))
    weights = st.money_weights(d.money_weight)
    labels = [st.money_label(w) for w in weights]
    current = min(range(len(weights)), key=lambda i: abs(weights[i] - eff["money_weight"]))
    with solara.Div(classes=["lever"]):
        # a slider over the offered weights, its ticks labelled in £ per QALY (controlled, so
        # "Back to the city's own settings" moves it too, unlike solara.SliderValue)
        rv.Slider(label="Money weight in provider decisions", v_model=current,
                  on_v_model=lambda i: set_lever(state, money_weight=weights[int(i)]),
                  min=0, max=len(weights) - 1, step=1, ticks="always", tick_labels=labels,
                  hide_details=True)
    Note("How much a provider's own margin counts when it decides about care, in £ of margin "
         "per QALY (to the right, money counts more). " + st.money_words(eff["money_weight"]))


@solara.component
def WatchTab(state: AppState):
    live = state.live.value
    state.tick.value  # noqa: B018 - redraw after every step
    with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
        # (after a failed step the model is half-way through a week: only Reset is safe)
        off = live is None or live.finished or bool(state.live_error.value)
        solara.Button("Step a week", on_click=lambda: step_live(state, 1), disabled=off,
                      color="primary")
        solara.Button("Run a year", on_click=lambda: step_live(state, WEEKS_PER_YEAR),
                      disabled=off, color="primary")
        solara.Button("Reset", on_click=lambda: reset_live(state), outlined=True)
        solara.Text(f"Week {live.weeks_done if live else 0}", classes=["week-counter"])
        if live is not None:
            solara.Text(_run_words(live), classes=["phase"])
    if state.live_error.value:
        solara.Error(state.live_error.value + " Fix it on 'Set up', then press Reset.")
    if live is None:
        if not state.live_error.value:
            solara.Info("Press Reset to start a run with the Set up choices.")
        return
    if live.choices != state.choices():
        solara.Info("Set up has changed since this run started: press Reset to run the new "
                    "set-up.")
    LiveCharts(live, live.weeks_done)


@solara.component
def LiveCharts(live: sim.LiveRun, weeks_done: int):
    deps = [id(live), weeks_done]
    h = solara.use_memo(live.headline, deps)
    captions = charts.live_captions(h)
    with solara.Div(classes=["chart-grid"]):
        for test_id in charts.LIVE_CHARTS:
            ChartCard(test_id, lambda t=test_id: charts.live_png(t, h, live.warmup,
                                                                 live.total_weeks),
                      deps, captions[test_id.removeprefix("chart-")])


@solara.component
def CompareTab(state: AppState, task):
    choices = state.choices()
    try:
        base = st.base_config(choices.city, choices.upload)
    except ConfigError as exc:
        solara.Error(f"Config error: {exc}")
        return
    rules = list(st.available_rules(base))
    eff = st.effective(choices.levers, st.city_defaults(base))
    solara.Markdown(f"Runs {st.md(base.name)} with the Set up levers under two payment rules, "
                    f"{eff['years']} contract year{'s' * (eff['years'] > 1)} each, with the "
                    f"same seeds for both (the same people fall ill in the same weeks), so the "
                    f"differences come from the rule.")
    with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
        with solara.Div(style={"min-width": "320px"}):
            solara.Select("Rule A", values=_items(rules, st.RULE_SHORT), value=state.rule_a.value,
                          on_value=state.rule_a.set)
        with solara.Div(style={"min-width": "320px"}):
            solara.Select("Rule B", values=_items(rules, st.RULE_SHORT), value=state.rule_b.value,
                          on_value=state.rule_b.set)
        with solara.Div(classes=["lever"], style={"min-width": "360px"}):
            solara.SliderInt("Replications (paired runs of each rule)",
                             value=state.replications.value, min=1, max=5,
                             on_value=state.replications.set, thumb_label="always")
    weeks = base.run.warmup_weeks + WEEKS_PER_YEAR * eff["years"]
    runs = state.replications.value * len({state.rule_a.value, state.rule_b.value})
    seconds = runs * (0.5 + weeks * (0.007 + 0.019 * choices.levers.scale))
    with solara.Row(style={"align-items": "center"}):
        solara.Button("Compare", on_click=task, color="primary", disabled=task.pending)
        if task.pending:
            solara.Button("Stop", on_click=task.cancel, outlined=True)
        Note(f"{runs} run{'s' * (runs > 1)}, about {seconds:.0f} seconds on this machine.")
    if task.pending:
        solara.ProgressLinear(task.progress if task.progress is not None else True)
    if state.compare_error.value:
        solara.Error(state.compare_error.value)
    comp = state.comparison.value
    if comp is not None:
        CompareResults(comp)


@solara.component
def CompareResults(comp: sim.Comparison):
    a, b = (st.RULE_SHORT.get(r, r) for r in comp.rules)
    n = comp.replications
    seeds = (f"seed {comp.seeds[0]}" if n == 1 else
             f"seeds {comp.seeds[0]}–{comp.seeds[-1]}")
    solara.Markdown(f"**{st.md(comp.city_name)}: {a} (blue) against {b} (orange)**, {n} paired "
                    f"run{'s' * (n > 1)} each ({seeds}), {100 * comp.scale:.0f}% of the city, "
                    f"{comp.years} contract year{'s' * (comp.years > 1)}; counts for the whole "
                    f"city." + (" Shaded bands: 95% interval of the mean over the runs."
                                if n > 1 else ""))
    deps = [id(comp)]
    with solara.Div(classes=["chart-grid"]):
        for key in charts.COMPARE_SERIES:
            ChartCard(f"chart-compare-{key}", lambda k=key: charts.fig_compare(comp, k), deps,
                      charts.difference_sentence(comp, key))
    solara.Markdown("### Headline figures (yearly figures are averages over the contract years; "
                    "'end' means at the end of the run)")
    short = solara.use_memo(lambda: charts.comparison_table(comp, key_only=True), deps)
    solara.Markdown(charts.table_markdown(short))
    with solara.Details("All figures"):
        full = solara.use_memo(lambda: charts.comparison_table(comp), deps)
        solara.Markdown(charts.table_markdown(full))


@solara.component
def SystemTab(state: AppState):
    live = state.live.value
    state.tick.value  # noqa: B018
    if live is None:
        solara.Info("Start a run on 'Watch it run' (or press 'Start this set-up' on Set up).")
        return
    SystemView(live, live.weeks_done)


@solara.component
def SystemView(live: sim.LiveRun, weeks_done: int):
    deps = [id(live), weeks_done]
    solara.Markdown(f"**{st.md(live.cfg.name)} under {st.RULE_SHORT.get(live.rule, live.rule)}**, "
                    f"after {live.weeks_done} simulated weeks. {_run_words(live)}")
    period = ("the contract so far" if live.weeks_in["contract"] else "the warm-up so far")
    ChartCard("chart-pathway", lambda: _pathway_figure(live), deps,
              f"Each line is a route a patient can take; the wider it is, the more people took "
              f"it (people a year, whole city, over {period}); each circle's colour and number "
              f"say how many weeks people wait there at today's pace (people waiting ÷ people "
              f"seen a week, over the last quarter).")
    phase, pnl = solara.use_memo(live.provider_pnl, deps)
    flows = solara.use_memo(live.money_flows, deps)
    with solara.Columns([6, 6]):
        with solara.Column():
            solara.Markdown("### Who pays whom (£m a year, contract so far)")
            if len(flows):
                lines = ["| from | to | £m a year |", "|:---|:---|---:|"]
                lines += [f"| {st.md(r.payer)} | {st.md(r.payee)} | {r[2]:.2f} |"
                          for r in flows.itertuples(index=False)]
                solara.Markdown("\n".join(lines))
            else:
                Note("No contract payments yet: the contract starts after the warm-up. Run "
                     "past the warm-up on 'Watch it run'.")
            prime_sentence = _prime_sentence(live, pnl)
            if prime_sentence:
                solara.Markdown(prime_sentence)
        with solara.Column():
            solara.Markdown(f"### Each provider's income, costs and margin "
                            f"({'contract so far' if phase == 'contract' else 'warm-up'})")
            lines = ["| provider | income | costs | paid to others | margin |",
                     "|:---|---:|---:|---:|---:|"]
            lines += [f"| {st.md(r['provider'])} | {r['income']:.2f} | {r['costs']:.2f} | "
                      f"{r['paid to other providers']:.2f} | {r['margin']:.2f} |"
                      for _, r in pnl.iterrows()]
            solara.Markdown("\n".join(lines))
            Note("£m a year, whole city. Margin = income − own costs − payments to other "
                 "providers.")
    ChartCard("chart-money", lambda: charts.fig_money(pnl, phase), deps,
              "Income (blue), costs including payments to other providers (grey) and what is "
              "left (green, or orange for a loss) for each provider, £m a year.")


def _prime_sentence(live: sim.LiveRun, pnl) -> str:
    cobic = live.cfg.contract.cobic
    if live.rule != "cobic" or cobic is None or live.contract_week <= 0:
        return ""
    row = pnl[pnl["key"] == cobic.prime_provider]
    if not len(row):
        return ""
    r = row.iloc[0]
    word = "surplus" if r["margin"] >= 0 else "loss"
    return (f"**The prime contractor**, {st.md(r['provider'])}, receives the capitated budget "
            f"(£{r['income']:.1f}m a year), pays £{r['paid to other providers']:.1f}m a year "
            f"to other providers and spends £{r['costs']:.1f}m on its own care: a {word} of "
            f"£{abs(r['margin']):.1f}m a year.")


# what 'Take it away' offers (plain functions, so tests can read the files)
def results_csv(live: sim.LiveRun) -> bytes:
    """The live charts' weekly figures (warm-up included), whole city."""
    return live.headline().to_csv(index=False).encode()


def detailed_csv(live: sim.LiveRun) -> bytes:
    """Every weekly figure of the contract weeks, tidy, as `msksim run` writes weekly.parquet."""
    return live.model.recorder.frame().to_csv(index=False).encode()


def same_setup(comp: sim.Comparison, live: sim.LiveRun) -> bool:
    """Was the comparison run with this run's Set up (city, levers, upload; rules aside)?"""
    a, b = comp.choices, live.choices
    return (a.city, a.levers, a.upload) == (b.city, b.levers, b.upload)


def charts_zip(live: sim.LiveRun, comp: sim.Comparison | None = None) -> bytes:
    """The live run's charts; and the comparison's charts and tables when it was run with the
    same Set up (so the downloaded config describes every chart in the zip)."""
    h = live.headline()
    figs = {k: f(h, live.warmup, live.total_weeks) for k, f in charts.LIVE_CHARTS.items()}
    figs["chart-pathway"] = _pathway_figure(live)
    phase, pnl = live.provider_pnl()
    figs["chart-money"] = charts.fig_money(pnl, phase)
    extra = {}
    if comp is not None and same_setup(comp, live):
        for key in charts.COMPARE_SERIES:
            figs[f"chart-compare-{key}"] = charts.fig_compare(comp, key)
        extra["comparison_summary.csv"] = comp.summary.to_csv(index=False).encode()
        extra["comparison_differences.csv"] = comp.differences.to_csv(index=False).encode()
    return charts.charts_zip(figs, extra)


def _pathway_figure(live: sim.LiveRun) -> Figure:
    phase, flows = live.flows_per_year()
    return charts.fig_pathway(live.model.pathway.graph, live.node_labels(), flows,
                              live.service_waits(), phase)


def _file(make: Callable[[], bytes]) -> bytes:
    """A download's bytes; if it cannot be made, a one-line note in its place (a download
    that fails must not replace the page with a traceback)."""
    out = _safely(make)
    return out if isinstance(out, bytes) else f"msksim could not make this file. {out}\n".encode()


def config_yaml(live: sim.LiveRun) -> bytes:
    return st.resolved_yaml(live.cfg).encode()


def overlay_yaml(live: sim.LiveRun) -> bytes:
    c = live.choices
    return st.overlay_yaml(c.city, c.rule, c.levers, c.upload).encode()


@solara.component
def TakeAwayTab(state: AppState):
    live = state.live.value
    state.tick.value  # noqa: B018
    if live is None:
        solara.Info("Start a run on 'Watch it run' first.")
        return
    Downloads(state, live, live.weeks_done)


@solara.component
def Downloads(state: AppState, live: sim.LiveRun, weeks_done: int):
    deps = [id(live), weeks_done]
    c = live.choices

    getters = solara.use_memo(lambda: tuple(
        lambda f=f: _file(f) for f in (
            lambda: results_csv(live), lambda: charts_zip(live, state.comparison.value),
            lambda: config_yaml(live), lambda: overlay_yaml(live),
            lambda: detailed_csv(live))), deps)
    solara.Markdown(f"**{st.md(live.cfg.name)} under {st.RULE_SHORT.get(live.rule, live.rule)}**, "
                    f"{live.weeks_done} weeks simulated. {_run_words(live)}")
    with solara.Column(gap="10px", style={"max-width": "640px"}):
        solara.FileDownload(getters[0], filename="msksim_weekly.csv",
                            label="Download results (CSV)", mime_type="text/csv")
        Note("One row a week (warm-up included): the live charts' figures, whole city.")
        solara.FileDownload(getters[1], filename="msksim_charts.zip",
                            label="Download charts (PNG)", mime_type="application/zip")
        Note("Every chart as a PNG file, in one zip; the Compare charts and tables too when "
             "they were run with this Set up.")
        solara.FileDownload(getters[2], filename="msksim_config.yaml",
                            label="Download config (YAML)", mime_type="text/yaml")
        Note("The full resolved config of this run: every setting, loadable with --config.")
        solara.FileDownload(getters[3], filename=st.OVERLAY_FILE,
                            label="Download overlay (YAML)", mime_type="text/yaml")
        Note("Just the workshop's changes to the city's config, for the command below.")
        solara.FileDownload(getters[4], filename="msksim_weekly_detailed.csv",
                            label="Download detailed results (CSV)", mime_type="text/csv")
        Note(f"Every weekly figure by service, provider and route, contract weeks only (as "
             f"msksim run writes weekly.parquet). Counts are for the share of the city "
             f"simulated ({100 * live.scale:g}%): multiply by {1 / live.scale:g} for the whole "
             f"city.")
    solara.Markdown("### The same run on the command line")
    solara.Preformatted(st.cli_command(c.city, c.rule, c.levers, c.upload))
    Note("gives the same numbers (the same config, seed and payment rule).")


# ----------------------------------------------------------------------------------------------
# the page
# ----------------------------------------------------------------------------------------------
@solara.component
def Shell(state: AppState):
    """The whole app for one session's state."""

    def compare_job() -> None:
        state.compare_error.set(None)

        shown = [-1.0]

        def progress(pct: float) -> None:  # redraw the bar at most once a percent
            if pct - shown[0] >= 1.0 or pct >= 100.0:
                shown[0] = pct
                task.progress = pct

        try:
            comp = sim.run_comparison(state.choices(), state.rule_a.value, state.rule_b.value,
                                      state.replications.value, progress=progress,
                                      cancelled=lambda: not task.is_current())
        except Exception as exc:
            state.compare_error.set(_problem(exc))
            return
        if comp is not None and task.is_current():  # not if stopped or started again
            state.comparison.set(comp)

    task = solara.lab.use_task(compare_job, dependencies=None, raise_error=False)

    def first_model():
        if state.live.value is None and state.live_error.value is None:
            reset_live(state)

    solara.use_effect(first_model, [])
    solara.Title("msksim workshop: paying for MSK care")
    solara.Style(CSS)
    with solara.Column(classes=["msk-app"], gap="0px"):
        solara.Markdown("## How payment rules shape a city's musculoskeletal care")
        with solara.lab.Tabs(value=state.tab, lazy=True):
            with solara.lab.Tab(TABS[0]):
                SetUpTab(state)
            with solara.lab.Tab(TABS[1]):
                WatchTab(state)
            with solara.lab.Tab(TABS[2]):
                CompareTab(state, task)
            with solara.lab.Tab(TABS[3]):
                SystemTab(state)
            with solara.lab.Tab(TABS[4]):
                TakeAwayTab(state)


@solara.component
def Page():
    """Solara's entry point: one state per browser session."""
    Shell(use_app_state())

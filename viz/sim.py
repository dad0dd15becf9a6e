"""Runs for the app: one live model stepped week by week, and paired comparisons of two rules.

`LiveRun` steps an `MSKModel` exactly as `MSKModel.run` does (one `step()` a week) and, after
each week, copies a few of the recorder's figures for the pathway and money views (flows by
route, queues, payments), including the warm-up weeks that `msksim run` leaves out. Reading
the recorder changes nothing in the model, so the numbers are those of `msksim run`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from msksim.config import GP_NODE, CityConfig
from msksim.contracts import COMMISSIONER
from msksim.experiment import paired_differences, summarise_runs
from msksim.model import MSKModel
from msksim.results import GROUPS, weekly_series
from msksim.run import run_once
from msksim.timeline import WEEKS_PER_YEAR

from . import settings as st

_G = {g: 1 + i for i, g in enumerate(GROUPS)}  # recorder key position of each group
#: weeks of history behind the pathway view's waits (a quarter)
RECENT_WEEKS = 13
#: headline columns that are counts (scaled up to the whole city for display)
COUNT_COLUMNS = ("waiting_first", "waiting_surgery", "commissioner_spend_gbp", "operations",
                 "active_episodes", "envelope_gbp", "sum_eq5d_gain", "new_outcomes")


@dataclass(frozen=True)
class Choices:
    """What a run was built from (to show the command line and spot a changed Set up)."""

    city: str
    rule: str
    levers: st.Levers
    upload: st.Upload | None = None


class LiveRun:
    """One session's model, stepped on demand."""

    def __init__(self, cfg: CityConfig, choices: Choices):
        self.cfg = cfg
        self.choices = choices
        self.rule = choices.rule
        self.model = MSKModel(cfg, contract=choices.rule)
        self.warmup = cfg.run.warmup_weeks
        self.total_weeks = self.warmup + self.model.end_week
        self.scale = cfg.run.scale
        #: people moved along each route ("a->b"), referrals and listings, by phase
        self.flows: dict[str, Counter[str]] = {"warm-up": Counter(), "contract": Counter()}
        #: per week: envelope and outcome sums not in the DataCollector
        self.extras: list[dict] = []
        #: the last weeks' queues and throughput by service (for waits on the pathway view)
        self.recent: deque[dict] = deque(maxlen=RECENT_WEEKS)
        #: provider -> [income, cost, paid to others] (GBP, simulated scale), by phase
        self.pnl: dict[str, dict[str, list[float]]] = {"warm-up": {}, "contract": {}}
        self.weeks_in: Counter[str] = Counter()

    @property
    def weeks_done(self) -> int:
        """Weeks simulated since the start (warm-up included)."""
        return self.model.week + self.warmup

    @property
    def finished(self) -> bool:
        return not self.model.running

    @property
    def contract_week(self) -> int:
        """The week about to be simulated, counted from the contract's start (negative in the
        warm-up)."""
        return self.model.week

    def step(self, weeks: int = 1) -> int:
        """Simulate up to `weeks` weeks (fewer at the run's end); returns how many ran."""
        done = 0
        while done < weeks and self.model.running:
            self.model.step()
            self._collect()
            done += 1
        return done

    def _collect(self) -> None:
        w = self.model.week - 1  # the week just simulated
        last = self.model.recorder.last
        phase = "contract" if w >= 0 else "warm-up"
        self.weeks_in[phase] += 1
        ext = {"week": w, "envelope_gbp": 0.0, "sum_eq5d_gain": 0.0, "new_outcomes": 0.0}
        queues: dict[str, dict[str, float]] = {}
        pnl = self.pnl[phase]
        for key, value in last.items():
            metric = key[0]
            if metric in ("new_referrals", "new_listed"):
                self.flows[phase][key[_G["route"]]] += value
            elif metric in ext:
                ext[metric] += value
            elif metric in ("n_waiting_first", "admitted_first", "n_waiting_surgery",
                            "new_procedures"):
                svc = key[_G["service"]]
                if svc is not None:
                    q = queues.setdefault(svc, {})
                    q[metric] = q.get(metric, 0.0) + value
            elif metric in ("provider_income_gbp", "provider_cost_gbp", "provider_paid_out_gbp"):
                row = pnl.setdefault(key[_G["provider"]], [0.0, 0.0, 0.0])
                row[("provider_income_gbp", "provider_cost_gbp",
                     "provider_paid_out_gbp").index(metric)] += value
        self.extras.append(ext)
        self.recent.append(queues)

    # ------------------------------------------------------------------------------------------
    # what the views read
    # ------------------------------------------------------------------------------------------
    def headline(self) -> pd.DataFrame:
        """One row per simulated week: the DataCollector's headline figures (HEADLINE_REPORTERS)
        plus the envelope and outcome sums; counts and money for the whole city."""
        df = self.model.datacollector.get_model_vars_dataframe()
        if len(df) == 0:
            cols = ["weeks_simulated", "week", "phase", "waiting_first", "waiting_surgery",
                    "pct_within_18_weeks", "theatre_utilisation_pct", "commissioner_spend_gbp",
                    "operations", "active_episodes", "envelope_gbp", "sum_eq5d_gain",
                    "new_outcomes"]
            return pd.DataFrame(columns=cols)
        df = df.reset_index(drop=True).merge(pd.DataFrame(self.extras), on="week", how="left")
        for col in COUNT_COLUMNS:
            df[col] = df[col] / self.scale
        df.insert(0, "weeks_simulated", df["week"] + self.warmup + 1)
        df.insert(2, "phase", ["contract" if w >= 0 else "warm-up" for w in df["week"]])
        return df

    def service_waits(self) -> dict[str, float]:
        """Each service's wait at today's pace, in weeks: people waiting ÷ people seen (or
        operated on) a week, over the last quarter (Little's law)."""
        out = {}
        if not self.recent:
            return out
        for name in self.model.pathway.names:
            waiting = seen = 0.0
            for wk in self.recent:
                q = wk.get(name, {})
                waiting += q.get("n_waiting_first", 0.0) + q.get("n_waiting_surgery", 0.0)
                seen += q.get("admitted_first", 0.0) + q.get("new_procedures", 0.0)
            if waiting > 0 or seen > 0:
                out[name] = waiting / seen if seen > 0 else float("inf")
        return out

    def flows_per_year(self) -> tuple[str, dict[tuple[str, str], float]]:
        """People a year along each route (whole city), over the contract weeks so far (or the
        warm-up, before the contract): the phase and the flows."""
        phase = "contract" if self.weeks_in["contract"] else "warm-up"
        weeks = max(self.weeks_in[phase], 1)
        out = {}
        for route, n in self.flows[phase].items():
            a, b = route.split("->")
            out[(a, b)] = n * WEEKS_PER_YEAR / weeks / self.scale
        return phase, out

    def provider_pnl(self) -> tuple[str, pd.DataFrame]:
        """Each provider's income, costs, payments to others and margin, £m a year for the
        whole city, over the contract weeks so far (or the warm-up, before the contract)."""
        phase = "contract" if self.weeks_in["contract"] else "warm-up"
        weeks = max(self.weeks_in[phase], 1)
        k = WEEKS_PER_YEAR / weeks / self.scale / 1e6
        rows = []
        for key, prov in self.cfg.providers.items():
            inc, cost, paid = self.pnl[phase].get(key, [0.0, 0.0, 0.0])
            rows.append({"provider": prov.name, "key": key, "income": inc * k, "costs": cost * k,
                         "paid to other providers": paid * k,
                         "margin": (inc - cost - paid) * k})
        return phase, pd.DataFrame(rows)

    def money_flows(self) -> pd.DataFrame:
        """Who paid whom under the contract so far: payer, payee, £m a year (whole city)."""
        ledger = self.model.ledger.frame()
        weeks = self.weeks_in["contract"]
        if len(ledger) == 0 or weeks == 0:
            return pd.DataFrame(columns=["payer", "payee", "£m a year"])
        names = {k: p.name for k, p in self.cfg.providers.items()}
        names[COMMISSIONER] = self.cfg.contract.commissioner
        g = ledger.groupby(["payer", "payee"], sort=False)["amount_gbp"].sum().reset_index()
        g["£m a year"] = g["amount_gbp"] * WEEKS_PER_YEAR / weeks / self.scale / 1e6
        g["payer"] = g["payer"].map(lambda x: names.get(x, x))
        g["payee"] = g["payee"].map(lambda x: names.get(x, x))
        return g[["payer", "payee", "£m a year"]].sort_values("£m a year", ascending=False,
                                                               ignore_index=True)

    def node_labels(self) -> dict[str, str]:
        labels = {GP_NODE: "GP practices"}
        for name in self.model.pathway.names:
            labels[name] = self.cfg.services[name].label or name
        return labels


def start(choices: Choices) -> LiveRun:
    """Build the config from the choices and a fresh model (raises ConfigError)."""
    cfg = st.build_config(choices.city, choices.rule, choices.levers, choices.upload)
    return LiveRun(cfg, choices)


# ----------------------------------------------------------------------------------------------
# comparing two payment rules over paired replications
# ----------------------------------------------------------------------------------------------
class _Cancelled(Exception):
    pass


@dataclass
class Comparison:
    choices: Choices  # the Set up it was run with (its own rule aside)
    rules: tuple[str, str]
    replications: int
    seeds: list[int]
    city_name: str
    scale: float
    years: int
    runs: pd.DataFrame  # scenario, replication, section, measure, unit, value
    series: pd.DataFrame  # scenario, replication, week, series, group, value
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # experiment.summarise_runs
    differences: pd.DataFrame = field(default_factory=pd.DataFrame)  # paired_differences


def run_comparison(choices: Choices, rule_a: str, rule_b: str, replications: int,
                   progress: Callable[[float], None] | None = None,
                   cancelled: Callable[[], bool] | None = None) -> Comparison | None:
    """Run each rule `replications` times with seeds seed, seed+1, ...: the same seed under both
    rules (common random numbers), so differences are paired. None if cancelled."""
    rules = (rule_a, rule_b)
    todo = list(dict.fromkeys(rules))
    base = st.base_config(choices.city, choices.upload)
    seed0 = st.effective(choices.levers, st.city_defaults(base))["seed"]
    seeds = [seed0 + r for r in range(replications)]
    cfgs = {(rule, r): st.build_config(choices.city, rule,
                                       replace(choices.levers, seed=seed), choices.upload)
            for r, seed in enumerate(seeds) for rule in todo}
    total_runs = len(cfgs)
    summaries, series = [], []
    for i, ((rule, r), cfg) in enumerate(cfgs.items()):
        if cancelled is not None and cancelled():
            return None

        def tick(done: int, total: int, i: int = i) -> None:
            if cancelled is not None and cancelled():
                raise _Cancelled  # stop within the run, not only between runs
            if progress is not None:
                progress(100.0 * (i + done / max(total, 1)) / total_runs)

        try:
            result = run_once(cfg, rule, progress=tick)
        except _Cancelled:
            return None
        s = result.summary()
        s.insert(0, "replication", r)
        s.insert(0, "scenario", rule)
        summaries.append(s)
        ser = weekly_series(result.weekly, cfg.run.scale)
        ser.insert(0, "replication", r)
        ser.insert(0, "scenario", rule)
        series.append(ser)
    runs = pd.concat(summaries, ignore_index=True)
    cfg0 = next(iter(cfgs.values()))
    comp = Comparison(choices=choices, rules=rules, replications=replications, seeds=seeds,
                      city_name=cfg0.name, scale=cfg0.run.scale, years=cfg0.run.years,
                      runs=runs, series=pd.concat(series, ignore_index=True))
    comp.summary = summarise_runs(runs, todo)
    if len(todo) == 2:
        comp.differences = paired_differences(runs, todo, baseline=rule_a)
    return comp

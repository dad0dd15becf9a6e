"""The city's MSK system as a `mesa.Model`: one step is one week.

People are rows of numpy arrays (`population.Population`); GP practices and provider
organisations are Mesa agents; services are nodes of the pathway graph; the payment rule is a
`contracts.PaymentRule`. The whole order of a week is in `MSKModel.step`; the parts it calls
live one concept to a module (demography, episodes, valuation, services, outcomes, money).
"""

from __future__ import annotations

import mesa
import numpy as np

from . import kernels
from . import population as popmod
from .adaptation import AdaptationMixin
from .clinics import ClinicsMixin
from .conditions import build_tables
from .config import GP_NODE, SPECIALTIES, CityConfig, ConfigError, check_rule_available
from .contracts import Activities, Ledger, PaymentRule, make_rule
from .demography import DemographyMixin
from .episodes import EpisodesMixin
from .money import MoneyMixin
from .outcomes import OutcomesMixin, YearOutcomes
from .pathway import (
    COMMUNITY,
    GP_INDEX,
    OUTPATIENT,
    THEATRE,
    build_pathway,
    scenario_factors,
    weekly_capacity,
)
from .population import NEVER, Population, State
from .providers import GPPractice, Provider, practice_weights
from .results import Recorder
from .rng import Streams
from .services import ServicesMixin
from .timeline import RTT_STANDARD_WEEKS, WEEKS_PER_YEAR
from .valuation import ValuationMixin
from .waiting_lists import WaitingListsMixin
from .week_calendar import WeekCalendar

#: how far ahead ward stays are laid out, in days (longer stays are cut at half a year)
BED_DAYS_AHEAD = 26 * 7

#: the mechanisms through which a payment rule reaches decisions (see `channels` below)
CHANNELS: tuple[str, ...] = ("triage", "follow_up", "listing", "decision_support", "capacity")


class MSKModel(DemographyMixin, EpisodesMixin, ValuationMixin, ServicesMixin, ClinicsMixin,
               WaitingListsMixin, OutcomesMixin, MoneyMixin, AdaptationMixin, mesa.Model):
    """An English city's elective MSK system under one payment rule.

    Weeks run from `-warmup_weeks` (warm-up, under `run.warmup_rule`, excluded from results)
    to `52 * years - 1`; the contract under study starts at week 0.

    `channels` (for explaining a difference by mechanism) lets the margins seen through one
    channel come from another payment rule than the one that moves the money: triage (GP,
    hub and community routing, GP support, self-management), follow_up, listing,
    decision_support, capacity (theatre sessions). By default every channel sees `contract`.
    """

    def __init__(self, cfg: CityConfig, contract: str | None = None, seed: int | None = None,
                 channels: dict[str, str] | None = None):
        seed = cfg.run.seed if seed is None else int(seed)
        super().__init__(rng=seed)
        self.cfg = cfg
        self.seed = seed
        self.streams = Streams(seed)
        self.contract_name = contract or cfg.contract.rule
        unknown = set(channels or {}) - set(CHANNELS)
        if unknown:
            raise ConfigError(f"channels: {sorted(unknown)} unknown; allowed: {list(CHANNELS)}")
        self.channels = {ch: (channels or {}).get(ch, self.contract_name) for ch in CHANNELS}
        for name in {self.contract_name, *self.channels.values()}:
            check_rule_available(cfg, name)
        if cfg.run.warmup_rule == "blended" or (
                cfg.run.warmup_rule == "block"
                and set(cfg.providers) - set(cfg.contract.block.annual_gbp)):
            raise ConfigError(f"run.warmup_rule: '{cfg.run.warmup_rule}' is set from status-quo "
                              f"income, which the warm-up is there to measure; use pbr or cobic")
        self.pathway = build_pathway(cfg)
        self.cond, self.proc = build_tables(cfg)
        self.activities = Activities.from_config(cfg)
        self.provider_keys = list(cfg.providers)
        self.providers = {k: Provider(self, k, pc) for k, pc in cfg.providers.items()}
        self.rule = make_rule(cfg.run.warmup_rule, cfg, self.activities, self.provider_keys)
        #: one instance per rule in use from week 0; `rule` pays, `_crules` reach decisions
        self._contract_rules: dict[str, PaymentRule] = {
            n: make_rule(n, cfg, self.activities, self.provider_keys)
            for n in dict.fromkeys([self.contract_name, *self.channels.values()])}
        self.contract_rule = self._contract_rules[self.contract_name]
        self._crules = dict.fromkeys(CHANNELS, self.rule)
        self.ledger = Ledger()
        self._warmup_ledger = Ledger()
        self.recorder = Recorder()
        self.week = -cfg.run.warmup_weeks
        self.end_week = WEEKS_PER_YEAR * cfg.run.years
        self._capacity = weekly_capacity(cfg, self.pathway)
        self._base_sessions = self._capacity["sessions"].copy()
        #: this week's capacity multipliers from the config's capacity changes (scenarios)
        self._scenario_factor = scenario_factors(cfg, self.pathway, self.week)
        #: ward beds held per theatre on each day from this week's Monday on
        self._bed_days = np.zeros((len(self.pathway.names), BED_DAYS_AHEAD))
        self._cap_acc = {k: np.zeros_like(v) for k, v in self._capacity.items()}
        self._backlog_weeks = {k: np.zeros_like(v) for k, v in self._capacity.items()}
        self._counts = np.zeros((len(self.provider_keys), len(self.activities.names)))
        self._svc_provider = np.array([self.provider_keys.index(p)
                                       for p in self.pathway.provider], dtype=np.int64)
        self._act_index = {n: i for i, n in enumerate(self.activities.names)}
        self._init_clinics()
        # referral_source + 2 indexes these: -2 = GP, -1 = under care before the run started
        self._source_labels = [GP_NODE, "caseload_at_start"] + self.pathway.names
        self._deaths_week = np.zeros(0, dtype=np.int32)
        self._deaths_slot = np.zeros(0, dtype=np.int64)
        self._year_outcomes = YearOutcomes()
        self._year = None
        self._contract_start_weighted_adults = 0.0
        self.year_results: list[dict] = []
        self._operations_by_measure = {"eq5d_gain": 0, "oxford_hip_gain": 0,
                                       "oxford_knee_gain": 0}
        self._members: list[np.ndarray] | None = None
        self._members_added = np.zeros(len(self.pathway.names), dtype=bool)
        self._first_week = self.week
        self.datacollector = mesa.DataCollector(model_reporters=HEADLINE_REPORTERS)
        #: costs of levers (self-management, decision aids, GP support, sessions) this week
        self._lever_cost = np.zeros(len(self.provider_keys))
        self._svc_of_provider = {k: [s for s in range(len(self.pathway.names))
                                     if self.pathway.provider[s] == k]
                                 for k in self.provider_keys}
        self._margin_per_consult = np.zeros(len(self.provider_keys))
        self._init_levers()
        #: each well person filed under the week of their next episode's onset
        self._onset_calendar = WeekCalendar(self.week, self.end_week)
        self._build_practices()
        self._build_population()
        #: living adults by deprivation quintile, kept up to date by deaths and arrivals
        self._adults_by_imd = np.bincount(self.pop.imd_quintile[: self.pop.n] - 1, minlength=5)
        self._contract_start_weighted_adults = self._weighted_adults()
        self.running = True

    # ==========================================================================================
    # the week
    # ==========================================================================================
    def step(self) -> None:
        """Advance the city by one week, in this order:

        1. demography (at each year's start): ageing, deaths scheduled for the year, growth;
           at week 0 the contract under study starts, and each contract year's envelope and
           baselines are set; this week's capacity changes (scenarios) apply
        2. deaths due this week leave every list
        3. onset: people whose scheduled onset week has come start an episode
        4. natural history: self-limiting episodes end; health drifts; QALYs lost are counted
        5. care seeking: people whose consultation is due see their GP, who manages or refers
        6. hub: triage up to capacity, then route (community, outpatients, back to GP)
        7. community MSK: first contacts and course contacts up to capacity; end-of-course
           decisions (discharge or refer on)
        8. outpatients: each clinic's first and follow-up attendances up to its capacity; then
           every attendance in the city is decided at once: discharge, follow up or list
        9. theatre lists: validation removals, offers of a shorter wait elsewhere; then each
           theatre books its list into the week's sessions (priority or first come) and runs
           them: cancellations, no bed, late starts, overrunning lists
        10. outcomes: six months after surgery, EQ-5D and Oxford scores are measured; the
            week's biologic drugs are charged
        11. payments: the payment rule turns the week's activity into ledger rows
        12. waits are measured; at a contract year's end the outcome incentive is paid
        13. provider adaptation (each quarter's end): each organisation moves its levers
        14. results for the week are recorded (kept for contract weeks only)
        Every decision uses `decisions.net_value`; the contract enters only through margins.
        """
        w = self.week
        self.recorder.start_week(w, record=w >= 0)  # first: the year's demography records too
        if w > self._first_week and w % WEEKS_PER_YEAR == 0:
            self._demography_year(w)
        if w == 0:
            self._start_contract()
        if w == self._first_week or (w >= 0 and w % WEEKS_PER_YEAR == 0):
            self._start_contract_year(w)
        self._scenario_factor = scenario_factors(self.cfg, self.pathway, w)
        self._counts[:] = 0.0
        self._lever_cost[:] = 0.0
        self._deaths(w)
        self._onset(w)
        # everyone with an episode, those due to see their GP and those whose surgical outcome
        # is due (one pass over everyone); episodes start only at onset, so later in the week
        # `act` only shrinks
        act, gp_due, outcome_due = self._natural_history(w)
        self._gp_consultations(gp_due, w)
        for s in self.pathway.of_kind("hub"):
            self._hub(s, w)
        for s in self.pathway.of_kind("community"):
            self._community(s, w)
        self._outpatient_clinics(w)
        self._validate_lists(w)
        for s in self.pathway.of_kind("theatre"):
            self._theatre(s, w)
        # those due were found at the census: nothing this week touches people recovering from
        # surgery, and this week's operations are measured a week later at the soonest
        # (procedures' recovery_weeks >= 1)
        self._outcomes(outcome_due, w)
        act = self.pop.still_active(act)
        self._biologics(act)
        self._payments(w)
        by_state = self._record_waits(w, act)  # nothing below moves a person (money, levers)
        if w >= 0 and w % WEEKS_PER_YEAR == WEEKS_PER_YEAR - 1:
            self._end_contract_year(w)
        if (w + 1) % self.cfg.behaviour.adaptation.interval_weeks == 0:
            self._adapt(w)
        self._record_levers(w)
        self._record_week(w, by_state)
        self.week += 1
        if self.week >= self.end_week:
            self.running = False

    def run(self, progress=None) -> None:
        """Run the warm-up and every contract year; `progress(done, total)` is called weekly."""
        total = self.end_week + self.cfg.run.warmup_weeks
        while self.running:
            self.step()
            if progress is not None:
                progress(self.week + self.cfg.run.warmup_weeks, total)

    # ==========================================================================================
    # set-up
    # ==========================================================================================
    def _build_practices(self) -> None:
        pc = self.cfg.population.practices
        rng = self.streams["setup/practices"].generator(0)
        weights = practice_weights(pc.count, pc.list_size_sd_log, rng)
        z = rng.standard_normal(pc.count) * pc.referral_propensity_sd_log
        self.practices = [GPPractice(self, i, weights[i], z[i]) for i in range(pc.count)]
        self._practice_weights = weights
        self._practice_shift = np.asarray(z)
        #: which practices a share s of GP support reaches: those with u < s
        self._practice_u = self.streams["setup/gp_support"].uniform(
            np.arange(pc.count, dtype=np.int64), 0)

    def _build_population(self) -> None:
        pcfg = self.cfg.population
        n = max(int(round(pcfg.registered_adults * self.cfg.run.scale)), 50)
        self._band_target = popmod.band_counts_target(pcfg, n).astype(np.float64)
        bands = np.repeat(np.arange(len(self._band_target)), self._band_target.astype(np.int64))
        self.pop = Population(int(n * 1.3))
        slots = self.pop.add(len(bands))
        w0 = self.week
        popmod.fill_new_people(self.pop, slots, pcfg, bands.astype(np.int8),
                               self._practice_weights, self.streams, w0,
                               self.cfg.behaviour.surgery_preference_sd_log)
        self._schedule_deaths(slots, w0)
        self._seed_prevalent_episodes(slots, w0)
        well = slots[self.pop.state[slots] == State.WELL]
        self._schedule_onset(well, w0)
        self._seed_waiting_lists(w0)

    def _seed_waiting_lists(self, w: int) -> None:
        """Start from today's lists: referred people with elapsed RTT clocks."""
        p = self.pop
        for s, name in enumerate(self.pathway.names):
            scfg = self.cfg.services[name]
            for what, size in (("list", scfg.initial_waiting_list),
                               ("follow_up", getattr(scfg, "initial_follow_up_caseload", 0))):
                # (only community and outpatient services have a follow-up caseload)
                k = int(round(size * self.cfg.run.scale))
                if k == 0:
                    continue
                cand = p.active()
                cand = cand[p.state[cand] == State.SELF_CARE]
                cand = cand[self._eligible(cand, s)]
                if self.pathway.kind[s] == THEATRE:
                    # those already listed are the ones a surgeon would list today
                    gain = self._surgical_benefit(cand) * p.surgery_preference[cand]
                    cand = cand[gain > 0]
                if len(cand) == 0:
                    continue
                u = self.streams[f"setup/{what}/{name}"].uniform(cand, w)
                chosen = cand[np.argsort(u, kind="stable")[:k]]
                waited = np.floor(self.streams[f"setup/{what}/wait/{name}"].exponential(
                    chosen, w, scfg.initial_mean_wait_weeks)).astype(np.int32)
                if what == "list":
                    self._enqueue(chosen, s, w, GP_INDEX, record=False)
                    p.queue_entry_week[chosen] = w - waited
                    if self.pathway.rtt[s]:
                        p.clock_start_week[chosen] = w - waited
                    if self.pathway.kind[s] == THEATRE:
                        self._set_due_week(chosen)
                else:
                    p.state[chosen] = State.IN_CARE
                    p.service[chosen] = s
                    p.contacts_left[chosen] = max(
                        1, round(getattr(scfg, "contacts_per_course_mean", 2.0) / 2))
                    p.next_week[chosen] = w + 1 + waited % max(
                        getattr(scfg, "follow_up_interval_weeks", 1), 1)

    def _eligible(self, slots: np.ndarray, s: int) -> np.ndarray:
        """Can people with these conditions be seen at service s?"""
        c = self.pop.condition[slots]
        kind = self.pathway.kind[s]
        if kind == OUTPATIENT:
            return self.cond.specialty[c] == SPECIALTIES.index(self.pathway.specialty[s])
        if kind == THEATRE:
            return self.cond.procedure[c] >= 0
        return np.ones(len(slots), dtype=bool)

    # ==========================================================================================
    # results
    # ==========================================================================================
    def _record_waits(self, w: int, act: np.ndarray) -> np.ndarray:
        """RTT: incomplete pathways and how long their clocks have run. Returns how many of
        `act` are in each state (for `_record_week`)."""
        p, rec, names = self.pop, self.recorder, self.pathway.names
        totals, by_service, by_state = kernels.rtt_census(
            act, p.clock_start_week, p.service, p.state, w, RTT_STANDARD_WEEKS, len(names),
            len(State))
        n_incomplete, within, over_52 = (int(x) for x in totals)
        rec.add("n_incomplete_pathways", n_incomplete)
        rec.add("n_within_18_weeks", within)
        rec.add("n_over_52_weeks", over_52)
        if w >= 0:  # nobody waiting counts as everyone within 18 weeks
            self._year_within_18.append(within / n_incomplete if n_incomplete else 1.0)
        for metric, counts in zip(("n_incomplete_pathways_by_service",
                                   "n_within_18_weeks_by_service", "n_over_52_weeks_by_service"),
                                  by_service, strict=True):
            rec.add_counts(metric, counts, names, "service")
        return by_state

    def _record_week(self, w: int, by_state: np.ndarray) -> None:
        """Stocks at the end of the week; `by_state`: how many people with an episode are in
        each state."""
        p, rec = self.pop, self.recorder
        alive = int(self._adults_by_imd.sum())
        rec.add("n_adults", alive)
        for q, n in enumerate(self._adults_by_imd, start=1):
            rec.add("n_adults_imd", int(n), imd_quintile=str(q))
        states = by_state.copy()
        states[State.WELL] = alive - int(by_state.sum())
        states[State.GONE] = p.n - alive
        for st in State:
            rec.add("n_people", int(states[st]), state=st.name.lower())
        rec.end_week()
        self.datacollector.collect(self)

    def check_invariants(self) -> None:
        """Raise AssertionError if any person's state is inconsistent (used by tests)."""
        p, n = self.pop, self.pop.n
        st, svc, cond = p.state[:n], p.service[:n], p.condition[:n]
        kind = np.where(svc >= 0, self.pathway.kind[np.maximum(svc, 0)], -1)
        assert np.all((st >= 0) & (st < len(State))), "unknown state"
        well_or_dead = (st == State.WELL) | (st == State.GONE)
        assert np.all(cond[well_or_dead] == popmod.NO_CONDITION), "well person with a condition"
        assert np.all(cond[~well_or_dead] >= 0), "episode without a condition"
        assert np.all(svc[well_or_dead | (st == State.SELF_CARE)] == popmod.NO_SERVICE)
        assert np.all((kind[st == State.WAITING_FIRST] != THEATRE)
                      & (kind[st == State.WAITING_FIRST] >= 0)), "waiting at no service"
        assert np.all(kind[st == State.WAITING_SURGERY] == THEATRE), "surgery list not a theatre"
        in_care = kind[st == State.IN_CARE]
        assert np.all((in_care == COMMUNITY) | (in_care == OUTPATIENT)), "in care nowhere"
        clocks = p.clock_start_week[:n]
        assert np.all(clocks[clocks != NEVER] <= self.week), "RTT clock starts in the future"
        assert np.all(p.qaly_loss[:n] >= 0), "negative QALY loss"


def _last(metric: str):
    """A reporter for Mesa's DataCollector: this week's total of one metric."""

    def report(model: MSKModel) -> float:
        return model.recorder.last_total(metric)

    return report


def _pct_within_18(model: MSKModel) -> float:
    n = _last("n_incomplete_pathways")(model)
    return 100.0 * _last("n_within_18_weeks")(model) / n if n else 100.0


def _utilisation(model: MSKModel) -> float:
    """Capped touch-time utilisation: operating minutes inside sessions / session minutes."""
    planned = _last("session_minutes_planned")(model)
    return 100.0 * _last("touch_minutes_capped")(model) / planned if planned else float("nan")


#: headline weekly figures for live views (Mesa DataCollector, one row per week incl. warm-up)
HEADLINE_REPORTERS = {
    "week": lambda m: m.week,
    "waiting_first": _last("n_waiting_first"),
    "waiting_surgery": _last("n_waiting_surgery"),
    "pct_within_18_weeks": _pct_within_18,
    "theatre_utilisation_pct": _utilisation,
    "commissioner_spend_gbp": _last("commissioner_spend_gbp"),
    "operations": _last("new_procedures"),
    "active_episodes": _last("n_active_episodes"),
}

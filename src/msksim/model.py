"""The city's MSK system as a `mesa.Model`: one step is one week.

People are rows of numpy arrays (`population.Population`); GP practices and provider
organisations are Mesa agents; services are nodes of the pathway graph; the payment rule is a
`contracts.PaymentRule`. The whole order of a week is in `MSKModel.step`.
"""

from __future__ import annotations

import mesa
import numpy as np

from . import population as popmod
from .conditions import EQ5D_MIN, build_tables, oxford_score
from .config import GP_NODE, SPECIALTIES, CityConfig
from .contracts import COMMISSIONER, Activities, ContractYearState, Ledger, make_rule
from .decisions import logit_choice, net_value, option_uniforms
from .pathway import GP_INDEX, KINDS, build_pathway, weekly_capacity
from .population import NEVER, Population, State
from .providers import GPPractice, Provider, practice_weights
from .results import Recorder
from .rng import Streams
from .theatres import book_sessions

HUB, COMMUNITY, OUTPATIENT, THEATRE = (KINDS.index(k) for k in KINDS)
WEEKS_PER_YEAR = 52
RTT_STANDARD_WEEKS = 18
EXPECTED_FOLLOW_UPS_PER_FIRST = 1.8  # NHS England T&O 2019/20: used only to price a referral


class MSKModel(mesa.Model):
    """An English city's elective MSK system under one payment rule.

    Weeks run from `-warmup_weeks` (warm-up, under `run.warmup_rule`, excluded from results)
    to `52 * years - 1`; the contract under study starts at week 0.
    """

    def __init__(self, cfg: CityConfig, contract: str | None = None, seed: int | None = None):
        seed = cfg.run.seed if seed is None else int(seed)
        super().__init__(rng=seed)
        self.cfg = cfg
        self.seed = seed
        self.streams = Streams(seed)
        self.contract_name = contract or cfg.contract.rule
        self.pathway = build_pathway(cfg)
        self.cond, self.proc = build_tables(cfg)
        self.activities = Activities.from_config(cfg)
        self.provider_keys = list(cfg.providers)
        self.providers = {k: Provider(self, k, pc) for k, pc in cfg.providers.items()}
        self.rule = make_rule(cfg.run.warmup_rule, cfg, self.activities, self.provider_keys)
        self.contract_rule = make_rule(self.contract_name, cfg, self.activities,
                                       self.provider_keys)
        self.ledger = Ledger()
        self._warmup_ledger = Ledger()
        self.recorder = Recorder()
        self.week = -cfg.run.warmup_weeks
        self.end_week = WEEKS_PER_YEAR * cfg.run.years
        self._capacity = weekly_capacity(cfg, self.pathway)
        self._cap_acc = {k: np.zeros_like(v) for k, v in self._capacity.items()}
        self._counts = np.zeros((len(self.provider_keys), len(self.activities.names)))
        self._svc_provider = np.array([self.provider_keys.index(p)
                                       for p in self.pathway.provider], dtype=np.int64)
        self._act_index = {n: i for i, n in enumerate(self.activities.names)}
        # referral_source + 2 indexes these: -2 = GP, -1 = under care before the run started
        self._source_labels = [GP_NODE, "caseload_at_start"] + self.pathway.names
        self._deaths_week = np.zeros(0, dtype=np.int32)
        self._deaths_slot = np.zeros(0, dtype=np.int64)
        self._year_outcomes = _YearOutcomes()
        self._year = None
        self._contract_start_weighted_adults = 0.0
        self.year_results: list[dict] = []
        self._operations_by_measure = {"eq5d_gain": 0, "oxford_hip_gain": 0,
                                       "oxford_knee_gain": 0}
        self._members: list[np.ndarray] | None = None
        self._first_week = self.week
        self.datacollector = mesa.DataCollector(model_reporters=HEADLINE_REPORTERS)
        self._build_practices()
        self._build_population()
        self._contract_start_weighted_adults = self._weighted_adults()
        self.running = True

    # ==========================================================================================
    # the week
    # ==========================================================================================
    def step(self) -> None:
        """Advance the city by one week, in this order:

        1. demography (at each year's start): ageing, deaths scheduled for the year, growth
        2. deaths due this week leave every list
        3. onset: people whose scheduled onset week has come start an episode
        4. natural history: self-limiting episodes end; health drifts; QALYs lost are counted
        5. care seeking: people whose consultation is due see their GP, who manages or refers
        6. hub: triage up to capacity, then route (community, outpatients, back to GP)
        7. community MSK: first contacts and course contacts up to capacity; end-of-course
           decisions (discharge or refer on)
        8. outpatients: first and follow-up attendances up to capacity; at each, discharge,
           follow up or list for surgery
        9. theatres: cases booked into the week's sessions in waiting order; cancellations
        10. outcomes: six months after surgery, EQ-5D and Oxford scores are measured
        11. payments: the payment rule turns the week's activity into ledger rows
        12. waits are measured; at a contract year's end the outcome incentive is paid
        13. results for the week are recorded (kept for contract weeks only)
        Every decision uses `decisions.net_value`; the contract enters only through margins.
        """
        w = self.week
        if w > self._first_week and w % WEEKS_PER_YEAR == 0:
            self._demography_year(w)
        if w == 0:
            self._start_contract()
        if w == self._first_week or (w >= 0 and w % WEEKS_PER_YEAR == 0):
            self._start_contract_year(w)
        self._counts[:] = 0.0
        self.recorder.start_week(w, record=w >= 0)
        self._deaths(w)
        self._onset(w)
        act = self.pop.active()
        self._natural_history(act, w)
        act = self.pop.active()
        self._index_members(act)
        self._gp_consultations(act, w)
        for s in self.pathway.of_kind("hub"):
            self._hub(s, w)
        for s in self.pathway.of_kind("community"):
            self._community(s, w)
        for s in self.pathway.of_kind("outpatient"):
            self._outpatients(s, w)
        for s in self.pathway.of_kind("theatre"):
            self._theatre(s, w)
        act = self.pop.active()
        self._outcomes(act, w)
        self._biologics(act)
        self._payments(w)
        self._record_waits(w)
        if w >= 0 and w % WEEKS_PER_YEAR == WEEKS_PER_YEAR - 1:
            self._end_contract_year(w)
        self._record_week(w)
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

    def _seed_prevalent_episodes(self, slots: np.ndarray, w: int) -> None:
        """Episodes already under way at the start, by condition, age band and sex."""
        p = self.pop
        prev = self.cond.prevalence_per_person[:, p.age_band[slots], p.female[slots].astype(int)]
        u = self.streams["setup/prevalence"].uniform(slots, w)
        cum = np.cumsum(prev, axis=0)
        has = u < cum[-1]
        c = (cum[:, has] < u[has]).sum(axis=0)
        sick = slots[has]
        self._start_episode(sick, c.astype(np.int8), w)
        # spread episode starts into the past so chronic disease has progressed
        elapsed = np.floor(self.streams["setup/elapsed"].uniform(sick, w)
                           * self.cond.prevalent_weeks_max[c])
        chronic = self.cond.chronic[c]
        drift = self.cond.eq5d_drift_per_week[c] * np.where(chronic, elapsed, 0)
        p.eq5d[sick] = np.clip(p.eq5d[sick] + drift, EQ5D_MIN, p.eq5d_norm[sick] - 0.01)
        p.episode_start_week[sick] = (w - elapsed).astype(np.int32)
        bio = self.cond.biologic_share[c] > 0
        u_bio = self.streams["setup/biologic"].uniform(sick[bio], w)
        p.on_biologic[sick[bio]] = u_bio < self.cond.biologic_share[c[bio]] * 0.8

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
                if len(cand) == 0:
                    continue
                u = self.streams[f"setup/{what}/{name}"].uniform(cand, w)
                if self.pathway.kind[s] == THEATRE:
                    # those already listed are the ones with most to gain
                    u = u * (p.eq5d[cand] + 1.0)
                chosen = cand[np.argsort(u, kind="stable")[:k]]
                waited = np.floor(self.streams[f"setup/{what}/wait/{name}"].exponential(
                    chosen, w, scfg.initial_mean_wait_weeks)).astype(np.int32)
                if what == "list":
                    self._enqueue(chosen, s, w, GP_INDEX, record=False)
                    p.queue_entry_week[chosen] = w - waited
                    if self.pathway.rtt[s]:
                        p.clock_start_week[chosen] = w - waited
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
    # demography
    # ==========================================================================================
    def _schedule_deaths(self, slots: np.ndarray, w: int, keep_scheduled: bool = False) -> None:
        """Decide who among `slots` dies in the coming year, and in which week."""
        p = self.pop
        q = np.asarray(self.cfg.population.mortality_per_1000_per_year_by_age_band) / 1000.0
        u = self.streams["demography/death"].uniform(slots, w)
        dies = slots[u < q[p.age_band[slots]]]
        when = w + np.floor(self.streams["demography/death_week"].uniform(dies, w)
                            * WEEKS_PER_YEAR).astype(np.int32)
        keep = self._deaths_week >= (w if keep_scheduled else w + WEEKS_PER_YEAR)
        self._deaths_week = np.concatenate([self._deaths_week[keep], when])
        self._deaths_slot = np.concatenate([self._deaths_slot[keep], dies])

    def _deaths(self, w: int) -> None:
        due = self._deaths_slot[self._deaths_week == w]
        due = due[self.pop.state[due] != State.DEAD]
        if len(due) == 0:
            self.recorder.add("new_deaths", 0)
            return
        p = self.pop
        waiting = np.isin(p.state[due], (State.WAITING_FIRST, State.WAITING_SURGERY))
        self.recorder.add("new_removals_other_than_treatment", int(waiting.sum()), reason="death")
        p.state[due] = State.DEAD
        p.condition[due] = popmod.NO_CONDITION
        p.service[due] = popmod.NO_SERVICE
        for a in ("next_week", "recover_week", "onset_week", "clock_start_week",
                  "queue_entry_week"):
            getattr(p, a)[due] = NEVER
        p.on_biologic[due] = False
        self.recorder.add("new_deaths", len(due))

    def _demography_year(self, w: int) -> None:
        """Ageing, next year's deaths and growth by age band (over-65s grow fastest)."""
        p = self.pop
        alive = p.alive()
        p.age_years[alive] += 1.0
        old_band = p.age_band[alive].copy()
        p.age_band[alive] = popmod.band_of(p.age_years[alive])
        norm = np.asarray(self.cfg.population.eq5d_norm_by_age_band, dtype=np.float32)
        p.eq5d_norm[alive] = norm[p.age_band[alive]]
        well = alive[p.state[alive] == State.WELL]
        p.eq5d[well] = p.eq5d_norm[well]
        p.eq5d[alive] = np.minimum(p.eq5d[alive], p.eq5d_norm[alive])
        growth = np.asarray(self.cfg.population.growth_per_year_by_age_band)
        self._band_target *= 1.0 + growth
        self._schedule_deaths(alive, w)
        # arrivals (16th birthdays, migration) keep each band on its projected path, making up
        # for this year's deaths as well
        counts = np.bincount(p.age_band[alive], minlength=len(growth))
        dying = np.bincount(p.age_band[self._deaths_slot], minlength=len(growth))
        need = np.maximum(np.round(self._band_target - counts + dying), 0).astype(np.int64)
        new = p.add(int(need.sum()))
        bands = np.repeat(np.arange(len(need)), need).astype(np.int8)
        popmod.fill_new_people(p, new, self.cfg.population, bands, self._practice_weights,
                               self.streams, w, self.cfg.behaviour.surgery_preference_sd_log)
        self._schedule_deaths(new, w, keep_scheduled=True)
        changed = well[p.age_band[well] != old_band[p.state[alive] == State.WELL]]
        self._schedule_onset(np.concatenate([changed, new]), w)

    # ==========================================================================================
    # episodes
    # ==========================================================================================
    def _schedule_onset(self, slots: np.ndarray, w: int) -> None:
        """Draw each well person's next episode onset from their age/sex hazard."""
        p = self.pop
        hazard = self.cond.onset_per_week.sum(axis=0)[p.age_band[slots],
                                                      p.female[slots].astype(int)]
        t = self.streams["onset/time"].exponential(slots, w, 1.0 / np.maximum(hazard, 1e-12))
        p.onset_week[slots] = np.minimum(w + 1 + np.floor(t), NEVER).astype(np.int32)

    def _onset(self, w: int) -> None:
        p = self.pop
        due = np.flatnonzero(p.onset_week[: p.n] == w)
        due = due[p.state[due] == State.WELL]
        if len(due):
            rates = self.cond.onset_per_week[:, p.age_band[due], p.female[due].astype(int)]
            cum = np.cumsum(rates, axis=0)
            u = self.streams["onset/condition"].uniform(due, w) * cum[-1]
            c = np.minimum((cum < u).sum(axis=0), len(self.cond.names) - 1).astype(np.int8)
            self._start_episode(due, c, w)
            self.recorder.add_by("new_onsets", c, self.cond.names, "condition")
        else:
            self.recorder.add("new_onsets", 0)

    def _start_episode(self, slots: np.ndarray, c: np.ndarray, w: int) -> None:
        p, ct, st = self.pop, self.cond, self.streams
        p.condition[slots] = c
        p.state[slots] = State.SELF_CARE
        p.service[slots] = popmod.NO_SERVICE
        p.onset_week[slots] = NEVER
        p.episode_start_week[slots] = w
        p.clock_start_week[slots] = NEVER
        p.follow_ups[slots] = 0
        z = st["episode/eq5d"].normal(slots, w)
        p.eq5d[slots] = np.clip(ct.eq5d_onset_mean[c] + ct.eq5d_onset_sd[c] * z, EQ5D_MIN,
                                p.eq5d_norm[slots] - 0.01)
        zd = st["episode/duration"].normal(slots, w)
        dur = np.maximum(1, np.round(ct.median_duration_weeks[c] * np.exp(ct.duration_sigma[c]
                                                                          * zd)))
        p.recover_week[slots] = np.where(ct.chronic[c], NEVER,
                                         np.minimum(w + dur, NEVER)).astype(np.int32)
        consults = st["episode/consult"].uniform(slots, w) < ct.consult_probability[c]
        delay = np.floor(st["episode/consult_delay"].exponential(slots, w,
                                                                 ct.consult_delay_weeks[c]))
        p.next_week[slots] = np.where(consults, w + 1 + delay, NEVER).astype(np.int32)
        later = ~consults & (ct.reconsult_per_year[c] > 0)
        self._schedule_reconsult(slots[later], w)

    def _schedule_reconsult(self, slots: np.ndarray, w: int) -> None:
        """Self-managed episodes come back to the GP at their condition's rate (if any)."""
        c = self.pop.condition[slots]
        rate = self.cond.reconsult_per_year[c]
        t = self.streams["episode/reconsult"].exponential(slots, w,
                                                          WEEKS_PER_YEAR / np.maximum(rate, 1e-9))
        t = np.where(rate > 0, t, np.inf)
        self.pop.next_week[slots] = np.minimum(w + 1 + np.floor(np.minimum(t, 1e9)),
                                               NEVER).astype(np.int32)

    def _end_episode(self, slots: np.ndarray, w: int) -> None:
        p = self.pop
        p.condition[slots] = popmod.NO_CONDITION
        p.state[slots] = State.WELL
        p.service[slots] = popmod.NO_SERVICE
        for a in ("next_week", "recover_week", "clock_start_week", "queue_entry_week"):
            getattr(p, a)[slots] = NEVER
        p.eq5d[slots] = p.eq5d_norm[slots]
        p.on_biologic[slots] = False
        self._schedule_onset(slots, w)

    def _to_self_care(self, slots: np.ndarray, w: int) -> None:
        """Back to the GP's care: chronic episodes will consult again, others recover."""
        p = self.pop
        p.state[slots] = State.SELF_CARE
        p.service[slots] = popmod.NO_SERVICE
        p.clock_start_week[slots] = NEVER
        p.queue_entry_week[slots] = NEVER
        self._schedule_reconsult(slots, w)

    def _natural_history(self, act: np.ndarray, w: int) -> None:
        p = self.pop
        st = p.state[act]
        ends = act[(p.recover_week[act] <= w) & (st >= State.SELF_CARE)
                   & (st <= State.WAITING_SURGERY)]
        es = p.state[ends]
        waiting = ends[(es == State.WAITING_FIRST) | (es == State.WAITING_SURGERY)]
        self.recorder.add_by("new_removals_other_than_treatment", p.service[waiting],
                             self.pathway.names, "service", reason="recovered")
        self._end_episode(ends, w)
        act = act[p.state[act] != State.WELL]
        drifting = act[p.state[act] <= State.WAITING_SURGERY]
        p.eq5d[drifting] = np.clip(
            p.eq5d[drifting] + self.cond.eq5d_drift_per_week[p.condition[drifting]], EQ5D_MIN,
            p.eq5d_norm[drifting])
        loss = np.maximum(p.eq5d_norm[act] - p.eq5d[act], 0.0) / WEEKS_PER_YEAR
        p.qaly_loss[act] += loss
        self.recorder.add("qaly_loss_msk", float(loss.sum()))
        self.recorder.add("n_active_episodes", len(act))

    # ==========================================================================================
    # benefits and margins (the inputs of every decision)
    # ==========================================================================================
    def _severity(self, slots: np.ndarray) -> np.ndarray:
        """How much worse than a typical new episode (1 = typical), from EQ-5D below the norm."""
        p, c = self.pop, self.pop.condition[slots]
        typical = np.maximum(p.eq5d_norm[slots] - self.cond.eq5d_onset_mean[c], 0.05)
        return np.clip((p.eq5d_norm[slots] - p.eq5d[slots]) / typical, 0.0, 4.0)

    def _surgical_benefit(self, slots: np.ndarray) -> np.ndarray:
        """Expected QALY gain from the condition's operation (-inf where there is none)."""
        p = self.pop
        proc = self.cond.procedure[p.condition[slots]]
        has = proc >= 0
        pr = np.maximum(proc, 0)
        gain = ((self.proc.post_eq5d_mean[pr] - p.eq5d[slots]) * self.proc.horizon_years[pr]
                - self.proc.offer_threshold_qaly[pr])
        return np.where(has, gain, -np.inf)

    def _service_benefit(self, slots: np.ndarray, s: int,
                         surgical_share: float) -> np.ndarray:
        """Expected QALY gain of sending these people to service s, as the referrer sees it."""
        c = self.pop.condition[slots]
        sev = self._severity(slots)
        kind = self.pathway.kind[s]
        if kind == HUB:
            return self.cond.benefit_hub[c] * sev
        if kind == COMMUNITY:
            return self.cond.benefit_community[c] * sev
        ok = self.cond.specialty[c] == SPECIALTIES.index(self.pathway.specialty[s])
        # a referrer counts the operation only where a surgeon would offer it
        list_friction = self.cfg.behaviour.outpatient_outcome.friction_qaly.get("list", 0.0)
        surgical = np.maximum(self._surgical_benefit(slots) - list_friction, 0.0)
        b = self.cond.benefit_specialist[c] * sev + surgical_share * surgical
        return np.where(ok, b, -np.inf)

    def _expected_wait_weeks(self, s: int) -> float:
        """The wait a referrer would be quoted: list size over weekly first capacity."""
        cap = self._capacity["first"][s] if self.pathway.kind[s] != THEATRE else 0.0
        if cap < 1e-6:  # no capacity to speak of: quote the longest wait
            return 104.0
        return min(len(self._queue(s, State.WAITING_FIRST, None)) / cap, 104.0)

    def _expected_theatre_wait_weeks(self, t: int) -> float:
        """A theatre list's length in weeks of its sessions (what a patient would be told)."""
        q = self._queue(t, State.WAITING_SURGERY, None)
        if len(q) == 0:
            return 0.0
        cap = self._capacity["sessions"][t]
        if cap < 1e-6:
            return 104.0
        use = self.proc.session_share[self.cond.procedure[self.pop.condition[q]]].sum()
        return float(min(use / cap, 104.0))

    def _referral_margin(self, decider: str, s: int) -> float:
        """The decider's margin from one referral to service s under the active rule."""
        performer = self.pathway.provider[s]
        kind = self.pathway.kind[s]
        r = self.rule
        if kind == OUTPATIENT:
            spec = self.pathway.specialty[s]
            return (r.unit_margin_gbp(decider, performer, self._act_index[f"first:{spec}"])
                    + EXPECTED_FOLLOW_UPS_PER_FIRST * r.unit_margin_gbp(
                        decider, performer, self._act_index[f"follow_up:{spec}"]))
        if kind == COMMUNITY:
            n = self.cfg.services[self.pathway.names[s]].contacts_per_course_mean
            return (r.unit_margin_gbp(decider, performer, self._act_index["community_first"])
                    + (n - 1) * r.unit_margin_gbp(decider, performer,
                                                  self._act_index["community_contact"]))
        return r.unit_margin_gbp(decider, performer, self._act_index["hub_triage"])

    def _route(self, slots: np.ndarray, decider: str, node: str, decision: str, w: int,
               stay_label: str, stay_benefit: np.ndarray, shift: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:
        """Choose for each person: stay (option 0) or one of `node`'s successors.

        Returns (choice, successor indices) where choice 0 = stay, j = successors[j - 1].
        """
        beh = self.cfg.behaviour
        dcfg = getattr(beh, decision)
        succ = [s for s in self.pathway.successors(node) if self.pathway.kind[s] != THEATRE]
        k = len(slots)
        benefit = np.empty((k, len(succ) + 1))
        margin = np.zeros((k, len(succ) + 1))
        friction = np.zeros((k, len(succ) + 1))
        benefit[:, 0] = stay_benefit
        friction[:, 0] = dcfg.friction_qaly.get(stay_label, 0.0)
        for j, s in enumerate(succ, start=1):
            name = self.pathway.names[s]
            benefit[:, j] = self._service_benefit(slots, s, dcfg.surgical_benefit_share)
            margin[:, j] = self._referral_margin(decider, s)
            fr = dcfg.friction_qaly.get(name, dcfg.friction_qaly.get(KINDS[self.pathway.kind[s]],
                                                                      0.0))
            scfg = self.cfg.services[name]
            friction[:, j] = (fr + scfg.travel_friction_qaly
                              + beh.wait_disutility_qaly_per_week * self._expected_wait_weeks(s))
            if shift is not None:
                friction[:, j] -= shift * dcfg.logit_scale_qaly
        value = net_value(benefit, margin, friction, beh.w_benefit, beh.w_money_qaly_per_gbp)
        u = option_uniforms(self.streams[f"decide/{decision}"], slots, w, value.shape[1])
        return logit_choice(value, u, dcfg.logit_scale_qaly), np.asarray(succ, dtype=np.int64)

    # ==========================================================================================
    # GP, hub, community, outpatients, theatres
    # ==========================================================================================
    def _gp_consultations(self, act: np.ndarray, w: int) -> None:
        p = self.pop
        due = act[(p.state[act] == State.SELF_CARE) & (p.next_week[act] <= w)]
        year = w // WEEKS_PER_YEAR
        first = p.last_consult_year[due] != year
        p.last_consult_year[due] = year
        self.recorder.add("new_gp_consultations", len(due))
        self.recorder.add("new_gp_consulters", int(first.sum()))
        self.recorder.add_by("new_gp_consultations_imd", p.imd_quintile[due] - 1,
                             ["1", "2", "3", "4", "5"], "imd_quintile")
        if len(due) == 0:
            return
        c = p.condition[due]
        stay = self.cond.benefit_primary[c] * self._severity(due)
        shift = self._practice_shift[p.practice[due]]
        choice, succ = self._route(due, GP_NODE, GP_NODE, "gp_refer", w, "manage", stay, shift)
        managed = due[choice == 0]
        self._schedule_reconsult(managed, w)
        cm = p.condition[managed]
        review = (self.streams["gp/review"].uniform(managed, w)
                  < self.cond.gp_review_probability[cm])
        p.next_week[managed[review]] = np.minimum(
            p.next_week[managed[review]], w + self.cond.gp_review_interval_weeks[cm[review]])
        for j, s in enumerate(succ, start=1):
            self._enqueue(due[choice == j], s, w, GP_INDEX)

    def _enqueue(self, slots: np.ndarray, s: int, w: int, source: int,
                 record: bool = True) -> None:
        """Refer people to service s: they join its queue; RTT clocks start or stop."""
        if len(slots) == 0:
            return
        p = self.pop
        if self._members is not None:
            self._members[s] = np.concatenate([self._members[s], slots])
        p.state[slots] = State.WAITING_SURGERY if self.pathway.kind[s] == THEATRE else \
            State.WAITING_FIRST
        p.service[slots] = s
        p.queue_entry_week[slots] = w
        p.referral_source[slots] = source
        if self.pathway.rtt[s]:
            no_clock = p.clock_start_week[slots] == NEVER
            p.clock_start_week[slots[no_clock]] = w
        else:
            p.clock_start_week[slots] = NEVER
        if record:
            src = GP_NODE if source == GP_INDEX else self.pathway.names[source]
            metric = "new_listed" if self.pathway.kind[s] == THEATRE else "new_referrals"
            self.recorder.add(metric, len(slots), route=f"{src}->{self.pathway.names[s]}")

    def _take_capacity(self, kind: str, s: int) -> float:
        """This week's capacity: the weekly average, released in whole slots over time."""
        acc = self._cap_acc[kind]
        acc[s] += self._capacity[kind][s]
        whole = np.floor(acc[s] + 1e-9)
        acc[s] -= whole
        return float(whole)

    def _index_members(self, act: np.ndarray) -> None:
        """Who is at each service this week: one sort, then kept up to date by `_enqueue`."""
        svc = self.pop.service[act]
        order = np.argsort(svc, kind="stable")
        bounds = np.searchsorted(svc[order], np.arange(len(self.pathway.names) + 1))
        self._members = [act[order[bounds[s]:bounds[s + 1]]]
                         for s in range(len(self.pathway.names))]

    def _queue(self, s: int, state: State, by: str | None) -> np.ndarray:
        """People in `state` at service s, in service order (earliest `by` week, then slot)."""
        p = self.pop
        m = self._members[s]
        q = m[(p.state[m] == state) & (p.service[m] == s)]
        if by is None:
            q = np.sort(q)
        else:
            q = q[np.lexsort((q, getattr(p, by)[q]))]
        # someone referred here this week may be listed twice; keep the first
        return q[np.r_[True, q[1:] != q[:-1]]] if len(q) > 1 else q

    def _admit(self, s: int, state: State, by: str, kind: str, w: int,
               due_only: bool = False) -> np.ndarray:
        q = self._queue(s, state, by)
        if due_only:
            q = q[self.pop.next_week[q] <= w]
        # a referral made this week is seen next week at the earliest
        ready = q[self.pop.queue_entry_week[q] < w] if state == State.WAITING_FIRST else q
        cap = self._take_capacity(kind, s)
        admitted = ready[: int(cap)]
        name = self.pathway.names[s]
        self.recorder.add(f"capacity_{kind}", cap, service=name)
        self.recorder.add(f"admitted_{kind}", len(admitted), service=name)
        self.recorder.add(f"n_waiting_{kind}", len(q) - len(admitted), service=name)
        return admitted

    def _activity(self, slots: np.ndarray, s: int, activity: str, contact: bool = True) -> None:
        """Count one unit of `activity` per person at service s (for payment and costs)."""
        a = self._act_index[activity]
        self._counts[self._svc_provider[s], a] += len(slots)
        self.pop.cost_gbp[slots] += self.activities.price_gbp[a]
        if contact:
            self.pop.contacts[slots] += 1

    def _imaging(self, first: np.ndarray, s: int, w: int) -> None:
        """X-ray or MRI requested at a first assessment."""
        share = self.cfg.services[self.pathway.names[s]].imaging_share_at_first
        imaged = first[self.streams["diagnostics/imaging"].uniform(first, w) < share]
        self._activity(imaged, s, "imaging", contact=False)
        self.recorder.add("new_imaging", len(imaged), service=self.pathway.names[s])

    def _hub(self, s: int, w: int) -> None:
        name = self.pathway.names[s]
        seen = self._admit(s, State.WAITING_FIRST, "queue_entry_week", "first", w)
        self._activity(seen, s, "hub_triage")
        self.recorder.add("new_first_attendances", len(seen), service=name)
        if len(seen) == 0:
            return
        c = self.pop.condition[seen]
        stay = self.cond.benefit_primary[c] * self._severity(seen)
        choice, succ = self._route(seen, self.pathway.provider[s], name, "hub_route", w,
                                   "back_to_gp", stay)
        back = seen[choice == 0]
        self.recorder.add("new_returns_to_gp", len(back), service=name)
        self._to_self_care(back, w)
        for j, t in enumerate(succ, start=1):
            self._enqueue(seen[choice == j], t, w, s)

    def _community(self, s: int, w: int) -> None:
        p, name = self.pop, self.pathway.names[s]
        scfg = self.cfg.services[name]
        first = self._admit(s, State.WAITING_FIRST, "queue_entry_week", "first", w)
        self._activity(first, s, "community_first")
        self._imaging(first, s, w)
        self.recorder.add("new_first_attendances", len(first), service=name)
        n = np.maximum(1, np.round(scfg.contacts_per_course_mean * self.streams[
            "community/course"].exponential(first, w, 1.0)))
        p.contacts_left[first] = np.minimum(n, 50) - 1
        p.state[first] = State.IN_CARE
        p.clock_start_week[first] = NEVER
        p.next_week[first] = w + scfg.contact_interval_weeks
        fu = self._admit(s, State.IN_CARE, "next_week", "follow_up", w, due_only=True)
        self._activity(fu, s, "community_contact")
        self.recorder.add("new_follow_up_attendances", len(fu), service=name)
        p.contacts_left[fu] -= 1
        p.next_week[fu] = w + scfg.contact_interval_weeks
        seen = np.concatenate([first, fu])
        done = seen[p.contacts_left[seen] <= 0]
        if len(done) == 0:
            return
        c = p.condition[done]
        p.eq5d[done] = np.minimum(p.eq5d[done] + self.cond.community_eq5d_gain[c],
                                  p.eq5d_norm[done])
        rem = p.recover_week[done]
        finite = rem != NEVER
        p.recover_week[done[finite]] = (w + 1 + (rem[finite] - w).clip(0)
                                        * self.cond.community_speedup[c[finite]]).astype(np.int32)
        choice, succ = self._route(done, self.pathway.provider[s], name, "community_discharge", w,
                                   "discharge", np.zeros(len(done)))
        self.recorder.add("new_discharges", int((choice == 0).sum()), service=name)
        self._to_self_care(done[choice == 0], w)
        for j, t in enumerate(succ, start=1):
            self._enqueue(done[choice == j], t, w, s)

    def _outpatients(self, s: int, w: int) -> None:
        p, name = self.pop, self.pathway.names[s]
        spec = self.pathway.specialty[s]
        first = self._admit(s, State.WAITING_FIRST, "queue_entry_week", "first", w)
        self._activity(first, s, f"first:{spec}")
        self._imaging(first, s, w)
        self.recorder.add("new_first_attendances", len(first), service=name)
        self.recorder.add_by("new_first_attendances_by_source", p.referral_source[first] + 2,
                             self._source_labels, "source", service=name)
        p.follow_ups[first] = 0
        c = p.condition[first]
        bio = first[self.cond.biologic_share[c] > 0]
        starts = bio[~p.on_biologic[bio] & (self.streams["rheumatology/biologic"].uniform(bio, w)
                                            < self.cond.biologic_share[p.condition[bio]])]
        p.on_biologic[starts] = True
        fu = self._admit(s, State.IN_CARE, "next_week", "follow_up", w, due_only=True)
        self._activity(fu, s, f"follow_up:{spec}")
        self.recorder.add("new_follow_up_attendances", len(fu), service=name)
        p.follow_ups[fu] += 1
        for seen, is_first in ((first, True), (fu, False)):
            if len(seen):
                self._outpatient_outcome(seen, s, w, is_first)

    def _outpatient_outcome(self, seen: np.ndarray, s: int, w: int, is_first: bool) -> None:
        """At an attendance: discharge, follow up, or list for surgery (net-value rule)."""
        p, beh, name = self.pop, self.cfg.behaviour, self.pathway.names[s]
        dcfg = beh.outpatient_outcome
        decider = self.pathway.provider[s]
        spec = self.pathway.specialty[s]
        c = p.condition[seen]
        theatres = [t for t in self.pathway.successors(name) if self.pathway.kind[t] == THEATRE]
        own = [t for t in theatres if self.pathway.provider[t] == decider]
        theatre = (own or theatres or [-1])[0]
        k = len(seen)
        benefit = np.zeros((k, 3))
        margin = np.zeros((k, 3))
        # the value of seeing someone again falls with each follow-up already given
        fu_value = (beh.follow_up_benefit_qaly
                    * beh.follow_up_benefit_decay ** p.follow_ups[seen].astype(np.float64))
        benefit[:, 1] = fu_value + self.cond.follow_up_floor[c]
        margin[:, 1] = self.rule.unit_margin_gbp(decider, decider,
                                                 self._act_index[f"follow_up:{spec}"])
        if theatre >= 0:
            gain = self._surgical_benefit(seen)
            wait = beh.wait_disutility_qaly_per_week * self._expected_theatre_wait_weeks(theatre)
            benefit[:, 2] = np.where(np.isfinite(gain), gain * p.surgery_preference[seen] - wait,
                                     -np.inf)
            proc = self.cond.procedure[c]
            pr = np.maximum(proc, 0)
            unit = np.array([self.rule.unit_margin_gbp(decider, self.pathway.provider[theatre],
                                                       self._act_index[f"procedure:{n}"])
                             for n in self.proc.names])
            eq_gain = np.maximum(self.proc.post_eq5d_mean[pr] - p.eq5d[seen], 0.0)
            joint = self.cond.joint[c]
            ox_gain = (oxford_score(self.proc.post_eq5d_mean[pr], joint, 0.0)
                       - oxford_score(p.eq5d[seen], joint, 0.0))
            margin[:, 2] = (unit[pr]
                            + self.rule.outcome_value_gbp(decider, "eq5d_gain", eq_gain)
                            + np.where(joint == 0, self.rule.outcome_value_gbp(
                                decider, "oxford_hip_gain", ox_gain), 0.0)
                            + np.where(joint == 1, self.rule.outcome_value_gbp(
                                decider, "oxford_knee_gain", ox_gain), 0.0))
        else:
            benefit[:, 2] = -np.inf
        friction = np.array([dcfg.friction_qaly.get(o, 0.0)
                             for o in ("discharge", "follow_up", "list")])[None, :]
        value = net_value(benefit, margin, friction, beh.w_benefit, beh.w_money_qaly_per_gbp)
        u = option_uniforms(self.streams["decide/outpatient_outcome"], seen, w, 3)
        choice = logit_choice(value, u, dcfg.logit_scale_qaly)
        out = seen[choice == 0]
        if is_first:
            self.recorder.add("new_discharged_at_first", len(out), service=name)
            self.recorder.add("new_returns_to_gp", len(out), service=name)
        self.recorder.add("new_discharges", len(out), service=name)
        self._to_self_care(out, w)
        stay = seen[choice == 1]
        p.state[stay] = State.IN_CARE
        p.service[stay] = s
        p.next_week[stay] = w + self.cfg.services[name].follow_up_interval_weeks
        p.clock_start_week[stay] = NEVER  # treatment or active monitoring stops the clock
        listed = seen[choice == 2]
        if len(listed):
            self.recorder.add_by("new_listed_by_source", p.referral_source[listed] + 2,
                                 self._source_labels, "source", service=name)
            self._enqueue(listed, theatre, w, s)

    def _theatre(self, s: int, w: int) -> None:
        p, name = self.pop, self.pathway.names[s]
        scfg = self.cfg.services[name]
        sessions = self._take_capacity("sessions", s)
        q = self._queue(s, State.WAITING_SURGERY, "queue_entry_week")
        ready = q[p.queue_entry_week[q] < w]  # listed this week: operated next week at the earliest
        use = self.proc.session_share[self.cond.procedure[p.condition[ready]]]
        cases = ready[book_sessions(use, int(sessions))]
        cancel = (self.streams["theatre/cancel"].uniform(cases, w)
                  < scfg.on_the_day_cancellation_rate)
        done = cases[~cancel]
        pr_done = self.cond.procedure[p.condition[done]]
        used = float(self.proc.session_share[pr_done].sum())
        self.recorder.add("sessions_planned", sessions, service=name)
        self.recorder.add("sessions_used", used, service=name)
        self.recorder.add("new_cancellations", int(cancel.sum()), service=name)
        self.recorder.add("n_waiting_surgery", len(q) - len(done), service=name)
        if len(done) == 0:
            return
        self.recorder.add_by("new_procedures", pr_done, self.proc.names, "procedure",
                             service=name, provider=self.pathway.provider[s])
        self.recorder.add_by("new_procedures_imd", p.imd_quintile[done] - 1,
                             ["1", "2", "3", "4", "5"], "imd_quintile")
        if w < 0:
            joint = self.cond.joint[p.condition[done]]
            self._operations_by_measure["eq5d_gain"] += len(done)
            self._operations_by_measure["oxford_hip_gain"] += int((joint == 0).sum())
            self._operations_by_measure["oxford_knee_gain"] += int((joint == 1).sum())
        rtt = w - p.clock_start_week[done]
        self.recorder.add("sum_admitted_rtt_weeks", float(rtt.sum()), service=name)
        for j, n in enumerate(self.proc.names):
            sel = done[pr_done == j]
            if len(sel):
                self._activity(sel, s, f"procedure:{n}")
        p.state[done] = State.RECOVERING
        p.eq5d_before_surgery[done] = p.eq5d[done]
        # the outcome is settled now and measured at six months; health climbs towards it, so
        # the recovery months are counted at the midpoint
        z = self.streams["outcome/eq5d"].normal(done, w)
        post = np.clip(self.proc.post_eq5d_mean[pr_done] + self.proc.post_eq5d_sd[pr_done] * z,
                       EQ5D_MIN, 1.0)
        p.eq5d_after_surgery[done] = post
        p.eq5d[done] = np.minimum(0.5 * (p.eq5d[done] + post), p.eq5d_norm[done])
        p.next_week[done] = w + self.proc.recovery_weeks[pr_done]
        p.clock_start_week[done] = NEVER
        p.queue_entry_week[done] = NEVER

    def _outcomes(self, act: np.ndarray, w: int) -> None:
        """Six months after surgery: PROMs measured; the episode ends for those who improved."""
        p = self.pop
        due = act[(p.state[act] == State.RECOVERING) & (p.next_week[act] <= w)]
        if len(due) == 0:
            return
        c = p.condition[due]
        pr = self.cond.procedure[c]
        pre = p.eq5d_before_surgery[due]
        post = p.eq5d_after_surgery[due]
        gain = post - pre
        joint = self.cond.joint[c]
        ox_gain = (oxford_score(post, joint, p.oxford_offset[due])
                   - oxford_score(pre, joint, p.oxford_offset[due]))
        for j, n in enumerate(self.proc.names):
            sel = pr == j
            if sel.any():
                self.recorder.add("new_outcomes", int(sel.sum()), procedure=n)
                self.recorder.add("sum_eq5d_gain", float(gain[sel].sum()), procedure=n)
                self.recorder.add("new_improved", int((gain[sel] > 0).sum()), procedure=n)
                if (joint[sel] >= 0).any():
                    self.recorder.add("sum_oxford_gain", float(ox_gain[sel].sum()), procedure=n)
        self._year_outcomes.add(gain, ox_gain, joint)
        good = (gain >= 0.05) | (post >= p.eq5d_norm[due] - 0.05)
        self._end_episode(due[good], w)
        poor = due[~good]
        p.eq5d[poor] = np.minimum(post[~good], p.eq5d_norm[poor])
        self._to_self_care(poor, w)

    def _biologics(self, act: np.ndarray) -> None:
        on = act[self.pop.on_biologic[act]]
        self.recorder.add("n_on_biologic", len(on))
        rheum = [s for s in self.pathway.of_kind("outpatient")
                 if self.pathway.specialty[s] == "rheumatology"]
        if len(on) and rheum:
            self._activity(on, rheum[0], "biologic_week", contact=False)

    # ==========================================================================================
    # money
    # ==========================================================================================
    def _weighted_adults(self) -> float:
        p = self.pop
        alive = p.alive()
        w = np.asarray(self.cfg.contract.envelope_age_weights)
        return float(w[p.age_band[alive]].sum())

    def _start_contract(self) -> None:
        self.rule = self.contract_rule
        self._contract_start_weighted_adults = self._weighted_adults()
        # where the outcome measures stand, and how many operations a year feed them, from the
        # warm-up; without one, the middle of each target range and ~1 per 1,000 adults a year
        warm = self.cfg.run.warmup_weeks
        seen = self._year_outcomes.summary()
        cobic = self.cfg.contract.cobic
        mids = {m.measure: 0.5 * (m.floor + m.target) for m in cobic.outcome_measures} \
            if cobic else {}
        baseline = {}
        for measure, ops in self._operations_by_measure.items():
            per_year = ops * WEEKS_PER_YEAR / warm if warm else len(self.pop.alive()) / 1000.0
            mean = seen.get(measure, float("nan"))
            if not np.isfinite(mean):
                mean = mids.get(measure, float("nan"))
            baseline[measure] = (mean, max(per_year, 1.0))
        self.rule.set_outcome_baseline(baseline)

    def envelope_gbp(self, year: int) -> float:
        """Baseline spend × demographic growth (age-weighted) × (1 + inflation − efficiency)^y."""
        cobic = self.cfg.contract.cobic
        base = cobic.baseline_spend_gbp_per_year if cobic else 0.0
        infl = (cobic.inflation_per_year - cobic.efficiency_per_year) if cobic else 0.0
        demog = self._weighted_adults() / max(self._contract_start_weighted_adults, 1e-9)
        return base * self.cfg.run.scale * demog * (1.0 + infl) ** year

    def _start_contract_year(self, w: int) -> None:
        """A new year of the rule in force (warm-up years count as year 0 of the status quo)."""
        year = max(w // WEEKS_PER_YEAR, 0)
        state = ContractYearState(year=year, envelope_gbp=self.envelope_gbp(year),
                                  adults_at_start=len(self.pop.alive()))
        self.rule.start_year(state)
        self._year = state
        if w >= 0:
            self._year_outcomes = _YearOutcomes()
        self._year_within_18 = []

    def _payments(self, w: int) -> None:
        ledger = self.ledger if w >= 0 else self._warmup_ledger
        start = len(ledger.rows)
        n_adults = self.pop.n - int(np.count_nonzero(self.pop.state[: self.pop.n] == State.DEAD))
        self.rule.weekly_payments(w, self._counts, n_adults, ledger)
        self._account(ledger.rows[start:], w)

    def _account(self, rows: list, w: int, costs: bool = True) -> None:
        """Providers' P&L: receipts, payments made and (weekly) fixed and marginal costs."""
        spend = 0.0
        income = dict.fromkeys(self.provider_keys, 0.0)
        paid = dict.fromkeys(self.provider_keys, 0.0)
        for _, payer, payee, _, _, amount in rows:
            if payer == COMMISSIONER:
                spend += amount
            else:
                paid[payer] += amount
            income[payee] += amount
        for i, key in enumerate(self.provider_keys):
            prov = self.providers[key]
            cost = 0.0
            if costs:
                cost = prov.fixed_cost_gbp_per_week * self.cfg.run.scale + float(
                    (self._counts[i] * self.activities.price_gbp).sum()
                    * self.rule.cost_ratio[key])
            if w >= 0:
                prov.income_gbp += income[key]
                prov.cost_gbp += cost
                prov.paid_out_gbp += paid[key]
            self.recorder.add("provider_income_gbp", income[key], provider=key)
            self.recorder.add("provider_cost_gbp", cost, provider=key)
            self.recorder.add("provider_paid_out_gbp", paid[key], provider=key)
        self.recorder.add("commissioner_spend_gbp", spend)
        if costs and self._year is not None:
            self.recorder.add("envelope_gbp", self._year.envelope_gbp / WEEKS_PER_YEAR)

    def _end_contract_year(self, w: int) -> None:
        outcomes = self._year_outcomes.summary()
        outcomes["within_18_weeks"] = (float(np.mean(self._year_within_18))
                                       if self._year_within_18 else float("nan"))
        start = len(self.ledger.rows)
        achieved = self.rule.year_end_payments(w, outcomes, self.ledger)
        self._account(self.ledger.rows[start:], w, costs=False)
        self.year_results.append({"year": w // WEEKS_PER_YEAR, "envelope_gbp": self._year
                                  .envelope_gbp, **outcomes,
                                  **{f"score_{k}": v for k, v in achieved.items()}})

    # ==========================================================================================
    # results
    # ==========================================================================================
    def _record_waits(self, w: int) -> None:
        """RTT: incomplete pathways and how long their clocks have run."""
        p, rec = self.pop, self.recorder
        act = p.active()
        clock = p.clock_start_week[act]
        running = act[clock != NEVER]
        wait = w - p.clock_start_week[running]
        n_incomplete = len(running)
        within = int((wait <= RTT_STANDARD_WEEKS).sum())
        rec.add("n_incomplete_pathways", n_incomplete)
        rec.add("n_within_18_weeks", within)
        rec.add("n_over_52_weeks", int((wait > 52).sum()))
        if w >= 0 and n_incomplete:
            self._year_within_18.append(within / n_incomplete)
        rec.add_by("n_incomplete_pathways_by_service", p.service[running], self.pathway.names,
                   "service")

    def _record_week(self, w: int) -> None:
        p, rec = self.pop, self.recorder
        alive = p.n - int(np.count_nonzero(p.state[: p.n] == State.DEAD))
        rec.add("n_adults", alive)
        living = p.state[: p.n] != State.DEAD
        rec.add_by("n_adults_imd", p.imd_quintile[: p.n][living] - 1, ["1", "2", "3", "4", "5"],
                   "imd_quintile")
        states = np.bincount(p.state[: p.n], minlength=len(State))
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
        well_or_dead = (st == State.WELL) | (st == State.DEAD)
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
        return sum(v for k, v in model.recorder.last.items() if k[0] == metric)

    return report


def _pct_within_18(model: MSKModel) -> float:
    n = _last("n_incomplete_pathways")(model)
    return 100.0 * _last("n_within_18_weeks")(model) / n if n else 100.0


def _utilisation(model: MSKModel) -> float:
    planned = _last("sessions_planned")(model)
    return 100.0 * _last("sessions_used")(model) / planned if planned else float("nan")


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


class _YearOutcomes:
    """PROMs measured in one contract year, for the outcome incentive."""

    def __init__(self):
        self.eq5d: list[np.ndarray] = []
        self.hip: list[np.ndarray] = []
        self.knee: list[np.ndarray] = []

    def add(self, gain: np.ndarray, ox_gain: np.ndarray, joint: np.ndarray) -> None:
        self.eq5d.append(gain)
        self.hip.append(ox_gain[joint == 0])
        self.knee.append(ox_gain[joint == 1])

    def summary(self) -> dict[str, float]:
        out = {}
        for key, parts in (("eq5d_gain", self.eq5d), ("oxford_hip_gain", self.hip),
                           ("oxford_knee_gain", self.knee)):
            x = np.concatenate(parts) if parts else np.zeros(0)
            out[key] = float(x.mean()) if len(x) else float("nan")
            out[f"n_{key}"] = float(len(x))
        return out

"""Outpatient clinics' week: each clinic admits first and follow-up attendances up to its own
capacity; then every attendance in the city, at every clinic, is decided in one pass
(discharge, follow up, or list for surgery), and each provider learns from its clinics' share.

Deciding all clinics together, rather than clinic by clinic, is what makes the week cheap:
the work grows with the people seen, not with the number of clinics times a fixed cost. Each
clinic's decisions see the theatre lists as they stood when the clinics opened this week.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from .adaptation import L
from .conditions import oxford_score
from .decisions import (
    choice_probabilities,
    inclusive_value,
    logit_choice,
    net_value,
    option_uniforms,
    shift_gradient_rows,
)
from .population import NEVER, State

DISCHARGE, FOLLOW_UP, LIST = 0, 1, 2


class ClinicsMixin:
    """Outpatient clinics for `MSKModel`."""

    def _init_clinics(self) -> None:
        """Each clinic's fixed settings, by service (0 at services that are not clinics)."""
        n_svc = len(self.pathway.names)
        #: weeks to a clinic's next follow-up appointment
        self._follow_up_interval_weeks = np.zeros(n_svc, dtype=np.int32)
        #: the activities billed for a first and a follow-up attendance (indices)
        self._first_activity = np.zeros(n_svc, dtype=np.int64)
        self._follow_up_activity = np.zeros(n_svc, dtype=np.int64)
        #: share of first attendances with an X-ray or MRI requested
        self._imaging_share_at_first = np.zeros(n_svc)
        for s in self.pathway.of_kind("outpatient"):
            scfg, spec = self.cfg.services[self.pathway.names[s]], self.pathway.specialty[s]
            self._follow_up_interval_weeks[s] = scfg.follow_up_interval_weeks
            self._first_activity[s] = self._act_index[f"first:{spec}"]
            self._follow_up_activity[s] = self._act_index[f"follow_up:{spec}"]
            self._imaging_share_at_first[s] = scfg.imaging_share_at_first

    def _outpatient_clinics(self, w: int) -> None:
        """Attendances at every clinic up to its capacity, then all their outcomes at once."""
        clinics = self.pathway.of_kind("outpatient")
        if clinics:
            self._outpatient_outcomes(*self._clinic_attendances(clinics, w), w)

    def _clinic_attendances(self, clinics: list[int], w: int,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each clinic's first attendances and due follow-ups this week, up to its capacity,
        after missed ones; counted and billed; rheumatology starts biologics at first
        attendances. Returns who was seen, at which clinic, and whether first, clinic by
        clinic (firsts, then follow-ups)."""
        p, n_svc = self.pop, len(self.pathway.names)
        first = [self._admit(s, State.WAITING_FIRST, "queue_entry_week", "first", w)
                 for s in clinics]
        due = [self._admit(s, State.IN_CARE, "next_week", "follow_up", w, due_only=True)
               for s in clinics]
        f_svc = np.repeat(np.asarray(clinics, dtype=np.int64), [len(f) for f in first])
        first, f_svc = self._did_not_attend_at(np.concatenate(first), f_svc, clinics, w)
        self._activities(first, f_svc, self._first_activity[f_svc])
        # X-ray or MRI requested at a first assessment
        imaged = (self.streams["diagnostics/imaging"].uniform(first, w)
                  < self._imaging_share_at_first[f_svc])
        self._activities(first[imaged], f_svc[imaged],
                         np.full(int(imaged.sum()), self._act_index["imaging"]), contact=False)
        n_imaged = np.bincount(f_svc[imaged], minlength=n_svc)
        n_first = np.bincount(f_svc, minlength=n_svc)
        for s in clinics:
            name = self.pathway.names[s]
            self.recorder.add("new_imaging", int(n_imaged[s]), service=name)
            self.recorder.add("new_first_attendances", int(n_first[s]), service=name)
            self.recorder.add_by("new_first_attendances_by_source",
                                 p.referral_source[first[f_svc == s]] + 2, self._source_labels,
                                 "source", service=name)
        p.follow_ups[first] = 0
        c = p.condition[first]
        bio = first[self.cond.biologic_share[c] > 0]
        starts = bio[~p.on_biologic[bio] & (self.streams["rheumatology/biologic"].uniform(bio, w)
                                            < self.cond.biologic_share[p.condition[bio]])]
        p.on_biologic[starts] = True
        interval = self._follow_up_interval_weeks
        fu_svc = np.repeat(np.asarray(clinics, dtype=np.int64), [len(f) for f in due])
        due = np.concatenate(due)
        fu, fu_svc = self._did_not_attend_at(due, fu_svc, clinics, w, interval[fu_svc])
        self._activities(fu, fu_svc, self._follow_up_activity[fu_svc])
        n_fu = np.bincount(fu_svc, minlength=n_svc)
        for s in clinics:
            self.recorder.add("new_follow_up_attendances", int(n_fu[s]),
                              service=self.pathway.names[s])
        p.follow_ups[fu] += 1
        # clinic by clinic, firsts then follow-ups (the order the outcomes are decided in)
        seen = np.concatenate([first, fu])
        svc = np.concatenate([f_svc, fu_svc])
        is_first = np.r_[np.ones(len(first), bool), np.zeros(len(fu), bool)]
        order = np.argsort(svc, kind="stable")
        return seen[order], svc[order], is_first[order]

    def _outpatient_outcomes(self, seen: np.ndarray, svc: np.ndarray, is_first: np.ndarray,
                             w: int) -> None:
        """At each attendance (`seen`, at clinic `svc`, first or follow-up): discharge, follow
        up, or list for surgery, by the net-value rule.

        The clinician weighs each option within the provider's policy (its follow-up and
        listing levers); patients given a decision aid weigh an operation's expected gain as
        it is, the others with some optimism. Each provider learns how its follow-up, listing
        and decision-aid levers would pay from its own clinics' decisions.
        """
        p, beh = self.pop, self.cfg.behaviour
        dcfg, pc = beh.outpatient_outcome, beh.patients
        k = len(seen)
        clinics = np.unique(svc)
        prov = self._svc_provider[svc]  # the deciding provider of each row
        c = p.condition[seen]
        # per clinic: its theatre, the wait it quotes, its backlog, its follow-up margin
        n_svc = len(self.pathway.names)
        theatre_of = np.full(n_svc, -1, dtype=np.int64)
        wait_of = np.zeros(n_svc)
        overdue_of = np.zeros(n_svc)
        for s in clinics:
            theatre_of[s] = t = self._listing_theatre(s)
            if t >= 0:
                wait_of[s] = (beh.wait_disutility_qaly_per_week
                              * self._expected_theatre_wait_weeks(t))
            # a clinic far behind with its follow-ups sees less value in booking another
            overdue_of[s] = beh.wait_disutility_qaly_per_week * min(
                self._backlog_weeks["follow_up"][s], 104.0)
        theatre = theatre_of[svc]
        lists = theatre >= 0
        benefit = np.zeros((k, 3))
        margin = np.zeros((k, 3))
        policy = np.zeros((k, 3))
        # the value of seeing someone again falls with each follow-up already given
        fu_value = (beh.follow_up_benefit_qaly
                    * beh.follow_up_benefit_decay ** p.follow_ups[seen].astype(np.float64))
        benefit[:, FOLLOW_UP] = fu_value + self.cond.follow_up_floor[c] - overdue_of[svc]
        margin[:, FOLLOW_UP] = self._follow_up_margins(svc, clinics, self._crules["follow_up"])
        policy[:, FOLLOW_UP] = self.levers[prov, L["follow_up_shift_qaly"]]
        gain = np.where(lists, self._surgical_benefit(seen), -np.inf)  # less the threshold
        surgical = np.isfinite(gain)
        pr = np.maximum(self.cond.procedure[c], 0)
        threshold = self.proc.offer_threshold_qaly[pr]
        share = self.levers[prov, L["decision_support_share"]]
        informed = surgical & (self.streams["patient/decision_aid"].uniform(seen, 0) < share)
        opt = pc.uninformed_surgery_optimism
        with np.errstate(invalid="ignore"):
            as_informed = ((gain + threshold) / opt - threshold) * p.surgery_preference[seen]
            as_is = gain * p.surgery_preference[seen]
        wait = wait_of[svc]
        benefit[:, LIST] = np.where(surgical, np.where(informed, as_informed, as_is) - wait,
                                    -np.inf)
        margin[:, LIST] = self._listing_margins(seen, svc, theatre, clinics, theatre_of,
                                                self._crules["listing"])
        policy[:, LIST] = np.where(lists, self.levers[prov, L["listing_shift_qaly"]]
                                   - self._cream_skimming(seen, prov), 0.0)
        friction = np.array([dcfg.friction_qaly.get(o, 0.0)
                             for o in ("discharge", "follow_up", "list")])[None, :]
        value = net_value(benefit, margin, friction, beh.w_benefit, beh.w_money_qaly_per_gbp)
        value += policy
        u = option_uniforms(self.streams["decide/outpatient_outcome"], seen, w, 3)
        choice = logit_choice(value, u, dcfg.logit_scale_qaly)
        # what each organisation learns, valuing its patients' gains as they are seen in
        # clinic (and, for decision aids, as informed patients see them)
        friction_k = np.broadcast_to(friction, benefit.shape)
        org = self._org_value(benefit, friction_k, margin)
        scale = dcfg.logit_scale_qaly
        n_prov = len(self.provider_keys)
        present = np.bincount(prov, minlength=n_prov) > 0
        listing = np.bincount(prov[lists], minlength=n_prov) > 0
        for lever, option, who, rows in (
                ("follow_up_shift_qaly", FOLLOW_UP, present, slice(None)),
                ("listing_shift_qaly", LIST, listing, lists)):
            g = np.bincount(prov[rows], shift_gradient_rows(value[rows], org[rows], scale,
                                                            [option]), minlength=n_prov)
            for i in np.flatnonzero(who):
                self._evidence(int(i), lever, float(g[i]))
        # decision aids are judged through their own channel's margins (the same as the
        # decisions' unless `msksim explain` gives that channel another payment rule)
        ds = self._crules["decision_support"]
        if ds is self._crules["follow_up"] and ds is self._crules["listing"]:
            ds_value, ds_margin = value, margin
        else:
            ds_margin = np.zeros_like(margin)
            ds_margin[:, FOLLOW_UP] = self._follow_up_margins(svc, clinics, ds)
            ds_margin[:, LIST] = self._listing_margins(seen, svc, theatre, clinics, theatre_of,
                                                       ds)
            ds_value = value + beh.w_money_qaly_per_gbp * (ds_margin - margin)
        informed_benefit = benefit.copy()
        informed_benefit[:, LIST] = np.where(surgical, as_informed - wait, -np.inf)
        self._learn_decision_support(seen, prov, ds_value, benefit, as_informed - wait,
                                     self._org_value(informed_benefit, friction_k, ds_margin),
                                     surgical, informed, is_first, scale)
        self._record_outcomes(seen, svc, is_first, choice, surgical & (gain > 0) & is_first,
                              clinics)
        self._to_self_care(seen[choice == DISCHARGE], w)
        stay = choice == FOLLOW_UP
        again = seen[stay]
        p.state[again] = State.IN_CARE
        p.service[again] = svc[stay]
        p.next_week[again] = w + self._follow_up_interval_weeks[svc[stay]]
        p.clock_start_week[again] = NEVER  # treatment or active monitoring stops the clock
        listed = choice == LIST
        for s in np.unique(svc[listed]):
            who = seen[listed & (svc == s)]
            self.recorder.add_by("new_listed_by_source", p.referral_source[who] + 2,
                                 self._source_labels, "source", service=self.pathway.names[s])
            self._enqueue(who, int(theatre_of[s]), w, int(s))

    def _record_outcomes(self, seen: np.ndarray, svc: np.ndarray, is_first: np.ndarray,
                         choice: np.ndarray, eligible: np.ndarray, clinics: np.ndarray) -> None:
        """Per clinic: discharges (at first attendances: returns to the GP), and first
        attendances a surgeon would offer an operation to on benefit alone, with how many of
        them were listed (how decision aids change the choice of surgery is read from these)."""
        n = len(self.pathway.names)
        out = choice == DISCHARGE

        def per_clinic(mask: np.ndarray) -> np.ndarray:
            return np.bincount(svc[mask], minlength=n)

        discharged, discharged_first = per_clinic(out), per_clinic(out & is_first)
        eligible_n = per_clinic(eligible)
        listed_eligible = per_clinic(eligible & (choice == LIST))
        has_first = per_clinic(is_first) > 0
        for s in clinics:
            name = self.pathway.names[s]
            self.recorder.add("new_surgery_eligible", int(eligible_n[s]), service=name)
            self.recorder.add("new_listed_eligible", int(listed_eligible[s]), service=name)
            if has_first[s]:
                self.recorder.add("new_discharged_at_first", int(discharged_first[s]),
                                  service=name)
                self.recorder.add("new_returns_to_gp", int(discharged_first[s]), service=name)
            self.recorder.add("new_discharges", int(discharged[s]), service=name)

    def _follow_up_margins(self, svc: np.ndarray, clinics: np.ndarray, rule) -> np.ndarray:
        """Each clinic's provider's margin from one more follow-up there, under `rule`."""
        of = np.zeros(len(self.pathway.names))
        for s in clinics:
            decider = self.pathway.provider[s]
            of[s] = rule.unit_margin_gbp(
                decider, decider, self._act_index[f"follow_up:{self.pathway.specialty[s]}"])
        return of[svc]

    def _listing_margins(self, seen: np.ndarray, svc: np.ndarray, theatre: np.ndarray,
                         clinics: np.ndarray, theatre_of: np.ndarray, rule) -> np.ndarray:
        """Each clinic's provider's margin from listing each person: the operation under
        `rule`, plus what their expected gain would earn on the outcome measures (0 where the
        clinic lists for no theatre)."""
        p = self.pop
        c = p.condition[seen]
        pr = np.maximum(self.cond.procedure[c], 0)
        acts = [self._act_index[f"procedure:{n}"] for n in self.proc.names]
        # the operation's margin, by clinic and procedure
        unit = np.zeros((len(self.pathway.names), max(len(acts), 1)))
        for s in clinics:
            if theatre_of[s] >= 0:
                decider, performer = self.pathway.provider[s], self.pathway.provider[theatre_of[s]]
                unit[s, : len(acts)] = [rule.unit_margin_gbp(decider, performer, a)
                                        for a in acts]
        out = unit[svc, pr]
        eq_gain = np.maximum(self.proc.post_eq5d_mean[pr] - p.eq5d[seen], 0.0)
        joint = self.cond.joint[c]
        ox_gain = (oxford_score(self.proc.post_eq5d_mean[pr], joint, 0.0)
                   - oxford_score(p.eq5d[seen], joint, 0.0))
        deciders = self._svc_provider[svc]
        for i in np.unique(deciders[theatre >= 0]):
            rows = (deciders == i) & (theatre >= 0)
            d = self.provider_keys[i]
            out[rows] += (rule.outcome_value_gbp(d, "eq5d_gain", eq_gain[rows])
                          + np.where(joint[rows] == 0, rule.outcome_value_gbp(
                              d, "oxford_hip_gain", ox_gain[rows]), 0.0)
                          + np.where(joint[rows] == 1, rule.outcome_value_gbp(
                              d, "oxford_knee_gain", ox_gain[rows]), 0.0))
        return np.where(theatre >= 0, out, 0.0)

    def _cream_skimming(self, seen: np.ndarray, prov: np.ndarray) -> np.ndarray:
        """Gaming (off by default): a provider paid on outcomes holds back people whose
        expected gain falls short of the measure's current mean, in proportion to the shortfall."""
        strength = self.cfg.behaviour.gaming.cream_skimming_qaly
        out = np.zeros(len(seen))
        if strength <= 0:
            return out
        p, rule = self.pop, self._crules["listing"]
        c = p.condition[seen]
        pr = np.maximum(self.cond.procedure[c], 0)
        joint = self.cond.joint[c]
        for i in np.unique(prov):
            decider = self.provider_keys[i]
            for measure, sel in (("oxford_hip_gain", joint == 0), ("oxford_knee_gain", joint == 1),
                                 ("eq5d_gain", joint < 0)):
                sel = sel & (prov == i)
                mean = rule.outcome_baseline.get(measure, (np.nan, 0))[0]
                if not sel.any() or not np.isfinite(mean) or mean <= 0 or not np.any(
                        rule.outcome_value_gbp(decider, measure, np.array([mean + 1.0]))):
                    continue  # not paid on this measure, or nothing to compare with
                if measure == "eq5d_gain":
                    expected = self.proc.post_eq5d_mean[pr[sel]] - p.eq5d[seen[sel]]
                else:
                    expected = (oxford_score(self.proc.post_eq5d_mean[pr[sel]], joint[sel], 0.0)
                                - oxford_score(p.eq5d[seen[sel]], joint[sel], 0.0))
                out[sel] = strength * np.clip((mean - expected) / mean, 0.0, None)
        return out

    def _learn_decision_support(self, seen: np.ndarray, prov: np.ndarray, value: np.ndarray,
                                benefit: np.ndarray, informed_value: np.ndarray,
                                org: np.ndarray, surgical: np.ndarray, informed: np.ndarray,
                                is_first: np.ndarray, scale: float) -> None:
        """What one more decision aid is worth to each provider, per eligible patient: the
        expected worth of an informed patient's choice less an uninformed one's, both judged
        as informed patients would judge them plus the organisation's own interests (margin),
        less the aid's cost (paid once, at the first attendance)."""
        pc, a = self.cfg.behaviour.patients, self.cfg.behaviour.adaptation
        rows = np.flatnonzero(surgical)
        if len(rows) == 0:
            return
        w_b = self.cfg.behaviour.w_benefit
        v_inf = value[rows].copy()
        v_inf[:, LIST] += w_b * (informed_value[rows] - benefit[rows, LIST])  # all informed
        raw = (self._surgical_benefit(seen[rows])
               + self.proc.offer_threshold_qaly[np.maximum(
                   self.cond.procedure[self.pop.condition[seen[rows]]], 0)])
        v_un = v_inf.copy()
        v_un[:, LIST] += (w_b * (raw - raw / pc.uninformed_surgery_optimism)
                          * self.pop.surgery_preference[seen[rows]])
        with np.errstate(invalid="ignore"):
            wedge = np.where(np.isfinite(org[rows]), org[rows] - v_inf, 0.0)
            regret = np.where(np.isfinite(v_un), v_inf - v_un, 0.0)
        p_inf = choice_probabilities(v_inf, scale)
        p_un = choice_probabilities(v_un, scale)
        worth_inf = inclusive_value(v_inf, scale) + (p_inf * wedge).sum(axis=1)
        worth_un = (inclusive_value(v_un, scale) + (p_un * (regret + wedge)).sum(axis=1))
        n_prov = len(self.provider_keys)
        who, first = prov[rows], is_first[rows]
        worth = np.bincount(who, worth_inf - worth_un, minlength=n_prov)
        aids = np.bincount(who[first], minlength=n_prov)  # eligible first attendances
        given = np.bincount(who[first & informed[rows]], minlength=n_prov)
        for i in np.flatnonzero(np.bincount(who, minlength=n_prov)):
            cost = aids[i] * pc.decision_aid_cost_gbp
            if aids[i]:
                self._lever_cost[i] += int(given[i]) * pc.decision_aid_cost_gbp
                self.recorder.add("new_decision_aids", int(given[i]),
                                  provider=self.provider_keys[i])
            self._evidence(int(i), "decision_support_share",
                           float(worth[i]) - a.w_money_qaly_per_gbp * cost)

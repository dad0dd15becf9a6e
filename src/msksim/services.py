"""The services' week: GP consultations, hub triage, community MSK, outpatient clinics and
theatres, each admitting from its queue up to its capacity.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from .conditions import EQ5D_MIN, oxford_score
from .config import GP_NODE
from .decisions import logit_choice, net_value, option_uniforms
from .pathway import GP_INDEX, THEATRE
from .population import NEVER, State
from .theatres import book_sessions
from .timeline import WEEKS_PER_YEAR


class ServicesMixin:
    """The services' weekly work for `MSKModel`."""

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
        # how far behind the service is, in weeks of its capacity (what a clinician sees)
        rate = self._capacity[kind][s]
        self._backlog_weeks[kind][s] = ((len(q) - len(admitted)) / rate if rate > 1e-6
                                        else 104.0 * (len(q) > len(admitted)))
        return admitted

    def _activity(self, slots: np.ndarray, s: int, activity: str, contact: bool = True) -> None:
        """Count one unit of `activity` per person at service s (for payment and costs)."""
        a = self._act_index[activity]
        self._counts[self._svc_provider[s], a] += len(slots)
        self.pop.cost_gbp[slots] += self.activities.price_gbp[a]
        if contact:
            self.pop.contacts[slots] += 1

    def _see_first(self, s: int, w: int, activity: str, imaging: bool = True) -> np.ndarray:
        """First attendances at service s up to capacity, counted and billed; who was seen."""
        first = self._admit(s, State.WAITING_FIRST, "queue_entry_week", "first", w)
        self._activity(first, s, activity)
        if imaging:  # X-ray or MRI requested at a first assessment
            share = self.cfg.services[self.pathway.names[s]].imaging_share_at_first
            imaged = first[self.streams["diagnostics/imaging"].uniform(first, w) < share]
            self._activity(imaged, s, "imaging", contact=False)
            self.recorder.add("new_imaging", len(imaged), service=self.pathway.names[s])
        self.recorder.add("new_first_attendances", len(first), service=self.pathway.names[s])
        return first

    def _hub(self, s: int, w: int) -> None:
        name = self.pathway.names[s]
        seen = self._see_first(s, w, "hub_triage", imaging=False)
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
        first = self._see_first(s, w, "community_first")
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
        first = self._see_first(s, w, f"first:{spec}")
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
        # a clinic far behind with its follow-ups sees less value in booking another
        overdue = beh.wait_disutility_qaly_per_week * min(self._backlog_weeks["follow_up"][s],
                                                          104.0)
        benefit[:, 1] = fu_value + self.cond.follow_up_floor[c] - overdue
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

    def _biologics(self, act: np.ndarray) -> None:
        on = act[self.pop.on_biologic[act]]
        self.recorder.add("n_on_biologic", len(on))
        rheum = [s for s in self.pathway.of_kind("outpatient")
                 if self.pathway.specialty[s] == "rheumatology"]
        if len(on) and rheum:
            self._activity(on, rheum[0], "biologic_week", contact=False)

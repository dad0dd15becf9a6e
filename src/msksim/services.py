"""The services' week: GP consultations, hub triage, community MSK, outpatient clinics and
theatres, each admitting from its queue up to its capacity.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .adaptation import L
from .conditions import EQ5D_MIN
from .config import GP_NODE
from .pathway import GP_INDEX, THEATRE, winter_factor
from .population import NEVER, State
from .theatres import assign_sessions, run_sessions
from .timeline import RTT_STANDARD_WEEKS, WEEKS_PER_YEAR

#: assumption: years over which supported self-management's health gain counts in decisions
SELF_MANAGEMENT_YEARS = 0.5
_NO_WEEKS = np.zeros(0, dtype=np.int32)  # `_queue` ordered by slot alone


class ServicesMixin:
    """The services' weekly work for `MSKModel`."""

    def _gp_consultations(self, due: np.ndarray, w: int) -> None:
        """`due`: the self-managed whose consultation is due this week (in slot order)."""
        p = self.pop
        self._lever_cost += self._gp_support_costs_gbp()
        year = w // WEEKS_PER_YEAR
        first = p.last_consult_year[due] != year  # the person's first MSK consultation this year
        p.last_consult_year[due] = year
        p.consulted_conditions[due[first]] = 0
        bit = np.left_shift(np.int64(1), p.condition[due].astype(np.int64))
        new_for_condition = (p.consulted_conditions[due] & bit) == 0
        p.consulted_conditions[due] |= bit
        self.recorder.add("new_gp_consultations", len(due))
        self.recorder.add("new_gp_consulters", int(first.sum()))
        # people consulting about each condition this year (one person may count under two)
        self.recorder.add_by("new_gp_condition_consulters", p.condition[due[new_for_condition]],
                             self.cond.names, "condition")
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
            self._members_added[s] = True
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
        if self.pathway.kind[s] == THEATRE:
            self._on_listing(slots, s, w)
        if record:
            src = GP_NODE if source == GP_INDEX else self.pathway.names[source]
            metric = "new_listed" if self.pathway.kind[s] == THEATRE else "new_referrals"
            self.recorder.add(metric, len(slots), route=f"{src}->{self.pathway.names[s]}")

    def _take_capacity(self, kind: str, s: int, factor: float = 1.0) -> float:
        """This week's capacity: the weekly average (times this week's scenario factor and
        `factor`), released in whole slots over time."""
        acc = self._cap_acc[kind]
        acc[s] += self._capacity[kind][s] * self._scenario_factor[s] * factor
        whole = np.floor(acc[s] + 1e-9)
        acc[s] -= whole
        return float(whole)

    def _set_members(self, at: np.ndarray, bounds: np.ndarray) -> None:
        """Who is at each service this week (`at[bounds[s]:bounds[s + 1]]` at service s, from
        `kernels.week_census`), then kept up to date by `_enqueue`."""
        self._members = [at[bounds[s]:bounds[s + 1]] for s in range(len(self.pathway.names))]
        #: whether anyone joined a service since (then its members may repeat someone)
        self._members_added = np.zeros(len(self.pathway.names), dtype=bool)

    def _queue(self, s: int, state: State, by: str | None, due_week: int = NEVER) -> np.ndarray:
        """People in `state` at service s, in service order (earliest `by` week, then slot);
        with `due_week`, only those whose `by` week has come by then."""
        p = self.pop
        return kernels.queue(self._members[s], p.state, p.service, s, int(state),
                             getattr(p, by) if by is not None else _NO_WEEKS, int(due_week))

    def _queue_length(self, s: int, state: State) -> int:
        """How many people are in `state` at service s (`_queue` without putting them in
        order: a quoted wait needs only the count)."""
        p = self.pop
        return int(kernels.queue_length(self._members[s], p.state, p.service, s, int(state),
                                        bool(self._members_added[s])))

    def _admit(self, s: int, state: State, by: str, kind: str, w: int,
               due_only: bool = False) -> np.ndarray:
        q = self._queue(s, state, by, w if due_only else NEVER)  # due: whose `by` week has come
        # a referral made this week is seen next week at the earliest
        ready = q[self.pop.queue_entry_week[q] < w] if state == State.WAITING_FIRST else q
        cap = self._take_capacity(kind, s)
        admitted = ready[: int(cap)]
        name = self.pathway.names[s]
        self.recorder.add(f"capacity_{kind}", cap, service=name)
        self.recorder.add(f"admitted_{kind}", len(admitted), service=name)
        self.recorder.add(f"n_waiting_{kind}", len(q) - len(admitted), service=name)
        # how far behind the service is, in weeks of its capacity (what a clinician sees)
        rate = self._capacity[kind][s] * self._scenario_factor[s]
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

    def _activities(self, slots: np.ndarray, svc: np.ndarray, act: np.ndarray,
                    contact: bool = True) -> None:
        """`_activity` for people at several services: each person's service (`svc`) and
        activity (`act`, an index into the activities)."""
        counts = self._counts
        cell = self._svc_provider[svc] * counts.shape[1] + act
        counts += np.bincount(cell, minlength=counts.size).reshape(counts.shape)
        self.pop.cost_gbp[slots] += self.activities.price_gbp[act]
        if contact:
            self.pop.contacts[slots] += 1

    def _did_not_attend(self, booked: np.ndarray, s: int, w: int,
                        rebook_weeks: int | None = None) -> np.ndarray:
        """Some booked attendances are missed: the slot is lost and nothing is billed. A missed
        first appointment sends some people back to their GP (a 'ping-pong' return) and leaves
        the rest at the front of the list; a missed follow-up is rebooked. Who attended."""
        svc = np.full(len(booked), s, dtype=np.int64)
        rebook = None if rebook_weeks is None else np.full(len(booked), rebook_weeks)
        return self._did_not_attend_at(booked, svc, [s], w, rebook)[0]

    def _did_not_attend_at(self, booked: np.ndarray, svc: np.ndarray, services: list[int],
                           w: int, rebook_weeks: np.ndarray | None = None,
                           ) -> tuple[np.ndarray, np.ndarray]:
        """`_did_not_attend` for people booked at several services (`svc`: each one's, among
        `services`; `rebook_weeks`: each one's weeks to a rebooked follow-up, None for first
        appointments). Returns who attended and their services."""
        pc = self.cfg.behaviour.patients
        first = rebook_weeks is None
        u = self.streams["patient/did_not_attend"].uniform(booked, w, draw=0 if first else 1)
        miss = u < pc.did_not_attend_rate
        missed = booked[miss]
        n_missed = np.bincount(svc[miss], minlength=len(self.pathway.names))
        for s in services:
            self.recorder.add("new_did_not_attend", int(n_missed[s]),
                              service=self.pathway.names[s])
        if first:
            back = self.streams["patient/dna_discharge"].uniform(missed, w) \
                < pc.discharge_after_missed_first
            n_back = np.bincount(svc[miss][back], minlength=len(self.pathway.names))
            for s in services:
                self.recorder.add("new_returns_to_gp", int(n_back[s]),
                                  service=self.pathway.names[s], reason="did_not_attend")
            self._to_self_care(missed[back], w)
        else:
            self.pop.next_week[missed] = w + rebook_weeks[miss]
        return booked[~miss], svc[~miss]

    def _discharge(self, slots: np.ndarray, s: int, w: int) -> None:
        """Back to self-care from service s. Its provider gives a share supported
        self-management (activation up, a small health gain), and learns what that is worth:
        the gain, less its cost, plus the GP consultations (and what follows them) it saves."""
        if len(slots) == 0:
            return
        p, pc, a = self.pop, self.cfg.behaviour.patients, self.cfg.behaviour.adaptation
        i = int(self._svc_provider[s])
        share = self.levers[i, L["self_management_share"]]
        supported = slots[self.streams["patient/self_management"].uniform(slots, w) < share]
        if len(supported):
            p.activation[supported] = np.minimum(
                p.activation[supported] + pc.self_management_activation_gain, 1.0)
            p.eq5d[supported] = np.minimum(p.eq5d[supported] + pc.self_management_eq5d_gain,
                                           p.eq5d_norm[supported])
            self._lever_cost[i] += len(supported) * pc.self_management_cost_gbp
            self.recorder.add("new_self_management", len(supported),
                              provider=self.provider_keys[i])
        rate = self.cond.reconsult_per_year[p.condition[slots]]
        fewer = rate * (1.0 - np.exp(-pc.activation_reconsult_effect
                                     * pc.self_management_activation_gain))
        per_person = (a.w_benefit * pc.self_management_eq5d_gain * SELF_MANAGEMENT_YEARS
                      + a.w_money_qaly_per_gbp * (-pc.self_management_cost_gbp
                                                  - fewer * self._margin_per_consult[i]))
        self._evidence(i, "self_management_share", float(per_person.sum()))
        self._to_self_care(slots, w)

    def _see_first(self, s: int, w: int, activity: str, imaging: bool = True,
                   did_not_attend: bool = False) -> np.ndarray:
        """First attendances at service s up to capacity, counted and billed; who was seen."""
        first = self._admit(s, State.WAITING_FIRST, "queue_entry_week", "first", w)
        if did_not_attend:
            first = self._did_not_attend(first, s, w)
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
        self._discharge(back, s, w)
        for j, t in enumerate(succ, start=1):
            self._enqueue(seen[choice == j], t, w, s)

    def _community(self, s: int, w: int) -> None:
        p, name = self.pop, self.pathway.names[s]
        scfg = self.cfg.services[name]
        first = self._see_first(s, w, "community_first", did_not_attend=True)
        n = np.maximum(1, np.round(scfg.contacts_per_course_mean * self.streams[
            "community/course"].exponential(first, w, 1.0)))
        p.contacts_left[first] = np.minimum(n, 50) - 1
        p.state[first] = State.IN_CARE
        p.clock_start_week[first] = NEVER
        p.next_week[first] = w + scfg.contact_interval_weeks
        fu = self._admit(s, State.IN_CARE, "next_week", "follow_up", w, due_only=True)
        fu = self._did_not_attend(fu, s, w, scfg.contact_interval_weeks)
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
        self._discharge(done[choice == 0], s, w)
        for j, t in enumerate(succ, start=1):
            self._enqueue(done[choice == j], t, w, s)

    def _theatre(self, s: int, w: int) -> None:
        """A theatre's week: book the list into this week's sessions on planned minutes, then
        run them: cancellations before the day (patient, winter), no bed, late starts and real
        case lengths (a list that runs out of time cancels its last cases). Cancelled patients
        are rebooked first. Touch-time, sessions started late and finished early are counted."""
        p, name = self.pop, self.pathway.names[s]
        t = self.cfg.services[name]
        keep, extra_cancel = winter_factor(self.cfg, w)
        sessions = int(self._take_capacity("sessions", s, keep))
        q = self._booking_list(s, w)
        ct = p.case_type[q]
        planned = self.proc.case_minutes[ct]
        use = (planned + t.turnaround_minutes) / t.session_minutes
        sess = assign_sessions(use, sessions)
        self._learn_sessions(s, q[sess < 0], float(use.sum()) >= sessions)
        on = sess >= 0
        booked, sess, ct, planned = q[on], sess[on], ct[on], planned[on]
        n_b = len(booked)
        booked_minutes = np.bincount(sess, planned + t.turnaround_minutes, minlength=sessions)
        rate = min(t.on_the_day_cancellation_rate + extra_cancel, 1.0)
        patient = self.streams["theatre/cancel"].uniform(booked, w) < rate
        no_bed, bed_first, bed_days = self._beds(s, w, booked, sess, ct, sessions, ~patient)
        cv = self.proc.case_cv[ct]
        sigma = np.sqrt(np.log1p(cv * cv))
        z = self.streams["theatre/duration"].normal(booked, w)
        actual = planned * np.exp(sigma * z - 0.5 * sigma * sigma)
        late = self.streams[f"theatre/late_start/{name}"].generator(w).exponential(
            max(t.late_start_mean_minutes, 1e-12), sessions) * (t.late_start_mean_minutes > 0)
        day = run_sessions(sess, actual, late, t.session_minutes, t.turnaround_minutes,
                           t.overrun_allowance_minutes, cancelled=patient | no_bed)
        done = booked[day.done]
        self._hold_beds(s, bed_first[day.done], bed_days[day.done])
        ran = np.bincount(sess[day.done], minlength=sessions) > 0
        rec = self.recorder
        rec.add("sessions_planned", sessions, service=name)
        rec.add("sessions_run", int(ran.sum()), service=name)
        rec.add("sessions_overbooked", int((booked_minutes > t.session_minutes + 1e-6).sum()),
                service=name)
        rec.add("session_minutes_planned", sessions * t.session_minutes, service=name)
        rec.add("touch_minutes", float(day.touch_minutes.sum()), service=name)
        rec.add("touch_minutes_capped", float(day.touch_minutes_capped.sum()), service=name)
        rec.add("sessions_started_late_30", int((late[ran] >= 30).sum()), service=name)
        rec.add("sessions_finished_early_30",
                int((day.finish_minutes[ran] <= t.session_minutes - 30).sum()), service=name)
        rec.add("new_cases_booked", n_b, service=name)
        for reason, mask in (("patient_or_hospital", patient), ("no_bed", no_bed),
                             ("list_overran", day.overran)):
            rec.add("new_cancellations", int(mask.sum()), service=name, reason=reason)
        # a cancelled patient is offered the next date (NHS: within 28 days)
        cancelled = booked[~day.done]
        p.list_due_week[cancelled] = np.minimum(p.list_due_week[cancelled], w)
        self._list_exit(done, w, "treated")
        # still on the list: everyone on it but those just operated on (who were on it)
        listed = self._queue(s, State.WAITING_SURGERY, None)
        rec.add("n_waiting_surgery", len(listed) - len(done), service=name)
        rec.add("sum_list_elapsed_weeks", float((w - p.queue_entry_week[listed]).sum()
                                                - (w - p.queue_entry_week[done]).sum()),
                service=name)
        if len(done) == 0:
            return
        pr_done = self.cond.procedure[p.condition[done]]
        rec.add_by("new_procedures", pr_done, self.proc.names, "procedure",
                   service=name, provider=self.pathway.provider[s])
        rec.add_by("new_procedures_imd", p.imd_quintile[done] - 1,
                   ["1", "2", "3", "4", "5"], "imd_quintile")
        rec.add_by("new_cases_by_type", p.case_type[done], self.proc.case_names, "procedure",
                   service=name)
        rec.add("sum_travel_km", t.travel_km * len(done), service=name)
        if w < 0:
            joint = self.cond.joint[p.condition[done]]
            self._operations_by_measure["eq5d_gain"] += len(done)
            self._operations_by_measure["oxford_hip_gain"] += int((joint == 0).sum())
            self._operations_by_measure["oxford_knee_gain"] += int((joint == 1).sum())
        low = self._surgical_benefit(done) < 0  # below the gain surgeons would list for
        rec.add_by("new_low_value_procedures", pr_done[low], self.proc.names,
                   "procedure", service=name)
        rtt = w - p.clock_start_week[done]
        rec.add("sum_admitted_rtt_weeks", float(rtt.sum()), service=name)
        rec.add("new_admitted_within_18_weeks", int((rtt <= RTT_STANDARD_WEEKS).sum()),
                service=name)
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

    def _beds(self, s: int, w: int, booked: np.ndarray, sess: np.ndarray, ct: np.ndarray,
              sessions: int, going: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which booked inpatients find no ward bed (a theatre with `beds` set).

        Each inpatient's stay (its case type's length of stay, plus a delayed discharge for
        some) runs whole days from its operating day. Cases are taken in list order and each is
        admitted only if a bed is free on every day of its stay, given the beds already held;
        day cases need none. Returns (no_bed mask, first day, days) for `_hold_beds`."""
        t = self.cfg.services[self.pathway.names[s]]
        n = len(booked)
        no_bed = np.zeros(n, dtype=bool)
        first = np.floor(sess * 5.0 / max(sessions, 1)).astype(np.int64)
        days = np.zeros(n, dtype=np.int64)
        if t.beds is None or n == 0:
            return no_bed, first, days
        mean, sd = self.proc.case_los_mean[ct], self.proc.case_los_sd[ct]
        sig2 = np.log1p(np.divide(sd * sd, mean * mean, out=np.zeros_like(mean),
                                  where=mean > 0))
        los = np.where(mean > 0, mean * np.exp(
            np.sqrt(sig2) * self.streams["theatre/los"].normal(booked, w) - 0.5 * sig2), 0.0)
        delayed = (self.streams["theatre/los"].uniform(booked, w, draw=1)
                   < t.delayed_discharge_share) & (mean > 0)
        los += np.where(delayed, self.streams["theatre/los"].exponential(
            booked, w, t.delayed_discharge_mean_days, draw=2), 0.0)
        horizon = self._bed_days.shape[1]
        days = np.minimum(np.ceil(los).astype(np.int64), horizon - first)
        beds = t.beds * self.cfg.run.scale
        held = self._bed_days[s].copy()
        for j in np.argsort(sess, kind="stable"):  # inpatients only: a few dozen a week
            if going[j] and days[j] > 0:
                stay = slice(first[j], first[j] + days[j])
                if np.all(held[stay] + 1 <= beds + 1e-9):
                    held[stay] += 1
                else:
                    no_bed[j] = True
        return no_bed, first, days

    def _hold_beds(self, s: int, first: np.ndarray, days: np.ndarray) -> None:
        """Those operated occupy their beds; record the week's bed-days; roll on a week."""
        t = self.cfg.services[self.pathway.names[s]]
        if t.beds is None:
            return
        held = self._bed_days[s]
        for f, d in zip(first, days, strict=True):
            held[f:f + d] += 1
        name = self.pathway.names[s]
        self.recorder.add("bed_days_used", float(held[:7].sum()), service=name)
        self.recorder.add("bed_days_available", t.beds * self.cfg.run.scale * 7.0, service=name)
        self._bed_days[s] = np.r_[held[7:], np.zeros(7)]

    def _learn_sessions(self, s: int, unbooked: np.ndarray, full: bool) -> None:
        """What one more planned session a week is worth to the theatre's owner: when its
        sessions are full, the next cases on the list done sooner (their margin, and the health
        they gain by not waiting the list's length), less the session's cost."""
        i = int(self._svc_provider[s])
        a = self.cfg.behaviour.adaptation
        base = self._base_sessions[s]
        cost = self.cfg.services[self.pathway.names[s]].session_cost_gbp * self.cfg.run.scale
        open_ = self._scenario_factor[s]
        self._lever_cost[i] += (self._capacity["sessions"][s] - base) * open_ * cost
        if base <= 0 or open_ <= 0:
            return
        value = -a.w_money_qaly_per_gbp * cost
        nxt = unbooked[:4]
        if full and len(nxt):
            p = self.pop
            pr = self.cond.procedure[p.condition[nxt]]
            cases = 1.0 / self.proc.session_share[pr]
            rule = self._crules["capacity"]
            owner = self.pathway.provider[s]
            margin = np.array([rule.unit_margin_gbp(owner, owner,
                                                    self._act_index[f"procedure:{n}"])
                               for n in self.proc.names])[pr]
            sooner_qaly = ((self.proc.post_eq5d_mean[pr] - p.eq5d[nxt]).clip(0)
                           * self._expected_theatre_wait_weeks(s) / WEEKS_PER_YEAR)
            value += float(np.mean(cases * (a.w_money_qaly_per_gbp * margin
                                            + a.w_benefit * sooner_qaly)))
        self._evidence(i, "theatre_sessions_factor", base * value)

    def _biologics(self, act: np.ndarray) -> None:
        on = act[self.pop.on_biologic[act]]
        self.recorder.add("n_on_biologic", len(on))
        rheum = [s for s in self.pathway.of_kind("outpatient")
                 if self.pathway.specialty[s] == "rheumatology"]
        if len(on) and rheum:
            self._activity(on, rheum[0], "biologic_week", contact=False)

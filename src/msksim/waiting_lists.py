"""Theatre waiting lists that behave like RTT lists.

A listed patient gets a case type (primary or revision, ...), an FSSA clinical priority and a
due date to be booked by; some ask to defer; some are validated off the list before treatment
("removals other than treatment"); those waiting beyond 18 weeks, and everyone on a closed
theatre's list, are offered another provider with a shorter wait, and take the offer when the
weeks saved outweigh the travel (a logit choice). Every departure from a list is counted with
its time on that list, so Little's law can be checked on each list.
"""

from __future__ import annotations

import numpy as np

from .decisions import logit_choice, option_uniforms
from .pathway import THEATRE
from .population import NEVER, State

#: a list's length in weeks beyond which a patient is told "over two years"
MAX_WAIT_WEEKS = 104.0


class WaitingListsMixin:
    """Listing, booking order, validation and offers for `MSKModel`'s theatre lists."""

    # ------------------------------------------------------------------------------------------
    # joining a list
    # ------------------------------------------------------------------------------------------
    def _on_listing(self, slots: np.ndarray, s: int, w: int) -> None:
        """New listings at theatre s: case type, priority, due date, deferral, removal date."""
        p, wl = self.pop, self.cfg.waiting_list
        pr = self.cond.procedure[p.condition[slots]]
        u = self.streams["list/case_type"].uniform(slots, w)
        ct = np.zeros(len(slots), dtype=np.int16)
        for j in np.unique(pr):
            rows = np.flatnonzero(self.proc.case_procedure == j)
            sel = pr == j
            k = np.searchsorted(self.proc.case_cum_share[rows], u[sel] * self.proc.case_cum_share[
                rows[-1]], side="right")
            ct[sel] = rows[np.minimum(k, len(rows) - 1)]
        p.case_type[slots] = ct
        prio = np.searchsorted(np.cumsum(wl.priority_shares),
                               self.streams["list/priority"].uniform(slots, w), side="right")
        p.list_priority[slots] = np.minimum(prio, 2)
        self._set_due_week(slots)
        defer = self.streams["list/defer"].uniform(slots, w) < wl.deferral_share
        hold = np.where(defer, np.ceil(self.streams["list/defer"].exponential(
            slots, w, wl.deferral_weeks_mean, draw=1)), 0).astype(np.int32)
        p.list_hold_week[slots] = w + hold
        if wl.clock_pauses_for_deferral:
            running = slots[p.clock_start_week[slots] != NEVER]
            p.clock_start_week[running] += hold[p.clock_start_week[slots] != NEVER]
        if wl.removal_rate_per_year > 0:
            gap = self.streams["list/removal"].exponential(
                slots, w, 52.0 / wl.removal_rate_per_year)
            p.list_removal_week[slots] = w + 1 + np.minimum(gap, 5200).astype(np.int32)
        else:
            p.list_removal_week[slots] = NEVER
        self.recorder.add("new_list_entries", len(slots), service=self.pathway.names[s])

    def _set_due_week(self, slots: np.ndarray) -> None:
        due = np.asarray(self.cfg.waiting_list.priority_due_weeks, dtype=np.int32)
        p = self.pop
        p.list_due_week[slots] = p.queue_entry_week[slots] + due[p.list_priority[slots]]

    def _listing_theatre(self, s: int) -> int:
        """The theatre an outpatient clinic lists onto: its own provider's, unless that is
        closed; then the open theatre (among those it lists for, else the city's) with the
        shortest list; -1 if it lists for none."""
        name = self.pathway.names[s]
        theatres = [t for t in self.pathway.successors(name) if self.pathway.kind[t] == THEATRE]
        if not theatres:
            return -1
        own = [t for t in theatres if self.pathway.provider[t] == self.pathway.provider[s]]
        first = (own or theatres)[0]
        if self._theatre_open(first):
            return first
        open_ = [t for t in theatres if self._theatre_open(t)] or [
            t for t in self.pathway.of_kind("theatre") if self._theatre_open(t)]
        if not open_:
            return first
        return min(open_, key=lambda t: (self._expected_theatre_wait_weeks(t), t))

    def _theatre_open(self, t: int) -> bool:
        return self._capacity["sessions"][t] * self._scenario_factor[t] > 1e-9

    # ------------------------------------------------------------------------------------------
    # the booking order and leaving a list
    # ------------------------------------------------------------------------------------------
    def _booking_list(self, s: int, w: int) -> np.ndarray:
        """Who can be booked this week, in booking order: listed before this week, not
        deferring; by due date (priority rule) or listing date (first come, first served)."""
        p = self.pop
        q = self._queue(s, State.WAITING_SURGERY, None)
        q = q[(p.queue_entry_week[q] < w) & (p.list_hold_week[q] <= w)]
        if self.cfg.services[self.pathway.names[s]].booking_rule == "fcfs":
            return q[np.lexsort((q, p.queue_entry_week[q]))]
        return q[np.lexsort((q, p.queue_entry_week[q], p.list_due_week[q]))]

    def _list_exit(self, slots: np.ndarray, w: int, reason: str) -> None:
        """Count departures from theatre lists (any reason) with their weeks on the list."""
        p = self.pop
        on = slots[p.state[slots] == State.WAITING_SURGERY]
        if len(on) == 0:
            return
        svc = p.service[on]
        waited = (w - p.queue_entry_week[on]).astype(np.float64)
        names = self.pathway.names
        for s in np.unique(svc):
            sel = svc == s
            self.recorder.add("new_list_exits", int(sel.sum()), service=names[s], reason=reason)
            self.recorder.add("sum_list_exit_wait_weeks", float(waited[sel].sum()),
                              service=names[s])

    # ------------------------------------------------------------------------------------------
    # validation and offers of another provider
    # ------------------------------------------------------------------------------------------
    def _validate_lists(self, w: int) -> None:
        """Before the week's operating: validation removals, then (every few weeks) offers of a
        shorter wait elsewhere to long waiters and to everyone on a closed theatre's list."""
        p, wl = self.pop, self.cfg.waiting_list
        theatres = self.pathway.of_kind("theatre")
        for s in theatres:
            q = self._queue(s, State.WAITING_SURGERY, None)
            gone = q[p.list_removal_week[q] <= w]
            if len(gone):
                self._list_exit(gone, w, "validation")
                self.recorder.add("new_removals_other_than_treatment", len(gone),
                                  service=self.pathway.names[s], reason="validation")
                self._to_self_care(gone, w)
        if not wl.offer_other_provider or w % wl.offer_interval_weeks or len(theatres) < 2:
            return
        waits = {t: self._expected_theatre_wait_weeks(t) for t in theatres}
        for s in theatres:
            self._offer_elsewhere(s, w, waits)

    def _offer_elsewhere(self, s: int, w: int, waits: dict[int, float]) -> None:
        """Offer list s's long waiters (everyone, if s is closed) a place on a list with a
        shorter wait; each accepts or not by the net-value rule (weeks saved against travel).
        Moves stop where the two waits meet. A closed theatre's list has no end: its patients
        weigh the longest wait there is against the other list's; those still there after every
        list's offer are offered the list that is shortest by then, whatever its room, so nobody
        is left on a closed list for want of room (only those deferring or declining)."""
        p, wl, beh = self.pop, self.cfg.waiting_list, self.cfg.behaviour
        names = self.pathway.names
        closed = not self._theatre_open(s)
        alternatives = [t for t in waits if t != s and self._theatre_open(t)
                        and (closed or waits[s] - waits[t] >= wl.offer_min_saving_weeks)]
        if not alternatives:
            return
        q = self._queue(s, State.WAITING_SURGERY, None)
        if not closed:
            clock = p.clock_start_week[q]
            q = q[(clock != NEVER) & (w - clock > wl.offer_after_weeks)]
        q = q[p.list_hold_week[q] <= w]
        if len(q) == 0:
            return
        q = q[np.lexsort((q, p.queue_entry_week[q]))]  # longest waiters first
        friction = {t: self.cfg.services[names[t]].travel_friction_qaly for t in waits}
        use = self._case_use(q, s)
        order = sorted(alternatives, key=lambda t: (waits[t], t))
        last = len(order)  # a closed list's extra round: the list shortest by then, any room
        for r in range(last + 1 if closed else last):
            if len(q) == 0:
                break
            t = order[r] if r < last else min(alternatives, key=lambda t: (waits[t], t))
            saving = (MAX_WAIT_WEEKS if closed else waits[s]) - waits[t]
            value = (beh.wait_disutility_qaly_per_week * saving
                     - (friction[t] - friction[s]))
            values = np.zeros((len(q), 2))
            values[:, 1] = value
            stream = f"list/offer/{names[t]}" if r < last else "list/offer_from_closed"
            u = option_uniforms(self.streams[stream], q, w, 2)
            accept = logit_choice(values, u, wl.offer_logit_scale_qaly) == 1
            # the sessions' worth of cases that can move before the gap between the two waits
            # closes to the minimum saving (t's wait rises as s's falls)
            cap_t = self._capacity["sessions"][t] * self._scenario_factor[t]
            cap_s = self._capacity["sessions"][s] * self._scenario_factor[s]
            gap = saving - wl.offer_min_saving_weeks
            if not closed:
                room = gap / (1.0 / cap_t + 1.0 / cap_s)
            else:
                room = np.inf if r == last else max(gap, 0.0) * cap_t
            take = accept & (np.cumsum(np.where(accept, use, 0.0)) <= room + 1e-9)
            moved = q[take]
            if len(moved):
                self._transfer(moved, s, t, w)
                waits[t] = self._expected_theatre_wait_weeks(t)
                waits[s] = self._expected_theatre_wait_weeks(s)
            q, use = q[~take], use[~take]

    def _transfer(self, slots: np.ndarray, s: int, t: int, w: int) -> None:
        """Move people from list s to list t, keeping their RTT clock, priority and due date."""
        p, names = self.pop, self.pathway.names
        self._list_exit(slots, w, "transfer")
        p.service[slots] = t
        p.queue_entry_week[slots] = w
        self._members[t] = np.concatenate([self._members[t], slots])
        self._members_added[t] = True
        self.recorder.add("new_list_entries", len(slots), service=names[t])
        self.recorder.add("new_transfers", len(slots), route=f"{names[s]}->{names[t]}")

    def _case_use(self, slots: np.ndarray, t: int) -> np.ndarray:
        """Share of one of theatre t's sessions each listed case will take (planned)."""
        tc = self.cfg.services[self.pathway.names[t]]
        return ((self.proc.case_minutes[self.pop.case_type[slots]] + tc.turnaround_minutes)
                / tc.session_minutes)

    def _expected_theatre_wait_weeks(self, t: int) -> float:
        """A theatre list's length in weeks of its sessions (what a patient would be told)."""
        if self._members is None:  # before the first week
            return 0.0
        q = self._queue(t, State.WAITING_SURGERY, None)
        if len(q) == 0:
            return 0.0
        cap = self._capacity["sessions"][t] * self._scenario_factor[t]
        if cap < 1e-6:
            return MAX_WAIT_WEEKS
        return float(min(self._case_use(q, t).sum() / cap, MAX_WAIT_WEEKS))

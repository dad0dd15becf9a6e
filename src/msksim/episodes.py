"""MSK episodes: onset by age and sex, natural history (recover, persist, worsen),
health and QALYs lost, and the return to the GP's care.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from . import population as popmod
from .conditions import EQ5D_MIN
from .population import NEVER, State
from .timeline import WEEKS_PER_YEAR


class EpisodesMixin:
    """Episodes and their natural history for `MSKModel`."""

    def _seed_prevalent_episodes(self, slots: np.ndarray, w: int) -> None:
        """Episodes already under way at the start, by condition, age band and sex."""
        p = self.pop
        # cumulative over conditions once per age band and sex, then looked up per person
        cum = np.cumsum(self.cond.prevalence_per_person, axis=0)
        band, female = p.age_band[slots], p.female[slots].astype(int)
        u = self.streams["setup/prevalence"].uniform(slots, w)
        has = u < cum[-1][band, female]
        c = (cum[:, band[has], female[has]] < u[has]).sum(axis=0)
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

    def _schedule_onset(self, slots: np.ndarray, w: int) -> None:
        """Draw each well person's next episode onset from their age/sex hazard."""
        p = self.pop
        hazard = self.cond.onset_per_week.sum(axis=0)[p.age_band[slots],
                                                      p.female[slots].astype(int)]
        t = self.streams["onset/time"].exponential(slots, w, 1.0 / np.maximum(hazard, 1e-12))
        p.onset_week[slots] = np.minimum(w + 1 + np.floor(t), NEVER).astype(np.int32)
        self._onset_calendar.file(slots, p.onset_week[slots])

    def _onset(self, w: int) -> None:
        p = self.pop
        if self._onset_calendar.covers(w):
            # those filed under this week whose onset still stands (not dead, not rescheduled)
            due = self._onset_calendar.take(w)
            due = due[(p.onset_week[due] == w) & (p.state[due] == State.WELL)]
        else:  # stepped on past the run's end: look at everyone
            due = np.flatnonzero((p.onset_week[: p.n] == w) & (p.state[: p.n] == State.WELL))
        if len(due):
            cum = np.cumsum(self.cond.onset_per_week, axis=0)[:, p.age_band[due],
                                                              p.female[due].astype(int)]
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
        """Self-managed episodes come back to the GP at their condition's rate (if any);
        activated patients (more able to manage themselves) come back less often."""
        c = self.pop.condition[slots]
        k = self.cfg.behaviour.patients.activation_reconsult_effect
        rate = self.cond.reconsult_per_year[c] * np.exp(-k * (self.pop.activation[slots] - 0.5))
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

    def _natural_history(self, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The week's natural history, in one pass over everyone: self-limiting episodes end
        (self-managed or waiting; not while in care or recovering from surgery); chronic
        conditions drift (not while recovering); QALYs lost below the norm are counted. The
        same pass finds who is at each service this week (`_set_members`).

        Returns everyone still in an episode, those of them whose GP consultation is due, and
        those whose surgical outcome is due (measured after the week's operations)."""
        p = self.pop
        act, ends, loss, due, recovered, at, bounds = kernels.week_census(
            p.state[: p.n], p.recover_week, p.condition, p.eq5d, p.eq5d_norm, p.qaly_loss,
            self.cond.eq5d_drift_per_week, EQ5D_MIN, p.next_week, p.service, w,
            len(self.pathway.names), p.scratch)
        es = p.state[ends]
        waiting = ends[(es == State.WAITING_FIRST) | (es == State.WAITING_SURGERY)]
        self.recorder.add_by("new_removals_other_than_treatment", p.service[waiting],
                             self.pathway.names, "service", reason="recovered")
        self._list_exit(waiting, w, "recovered")
        self._end_episode(ends, w)
        self.recorder.add("qaly_loss_msk", float(loss.sum()))
        self.recorder.add("n_active_episodes", len(loss))
        self._set_members(at, bounds)
        return act, due, recovered

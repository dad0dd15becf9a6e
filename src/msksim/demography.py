"""Ageing, deaths and growth of the adult population, once a year.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from . import population as popmod
from .population import NEVER, State
from .timeline import WEEKS_PER_YEAR


class DemographyMixin:
    """Yearly demography for `MSKModel`."""

    def _move_away(self, alive: np.ndarray, by_band: np.ndarray, w: int) -> None:
        """`by_band[b]` people of band b, at random, leave the city this week."""
        if not by_band.any():
            return
        p = self.pop
        staying = alive[~np.isin(alive, self._deaths_slot)]  # the year's deaths stay deaths
        u = self.streams["demography/move_away"].uniform(staying, w)
        band = p.age_band[staying]
        leaving = [np.zeros(0, dtype=staying.dtype)]
        for b in np.flatnonzero(by_band):  # each band's smallest draws, in order of draw
            rows = np.flatnonzero(band == b)
            k = min(int(by_band[b]), len(rows))
            if k < len(rows):
                rows = np.sort(rows[np.argpartition(u[rows], k - 1)[:k]])
            leaving.append(staying[rows[np.argsort(u[rows], kind="stable")]])
        leaving = np.concatenate(leaving)
        self._leave(leaving, "moved_away")
        self.recorder.add("new_moved_away", len(leaving))

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
        due = due[self.pop.state[due] != State.GONE]
        self._leave(due, "death")
        self.recorder.add("new_deaths", len(due))

    def _leave(self, slots: np.ndarray, reason: str) -> None:
        """People who die or move away leave every list, and the city's registers."""
        if len(slots) == 0:
            return
        p = self.pop
        waiting = np.isin(p.state[slots], (State.WAITING_FIRST, State.WAITING_SURGERY))
        self._list_exit(slots, self.week, reason)
        self.recorder.add("new_removals_other_than_treatment", int(waiting.sum()), reason=reason)
        p.state[slots] = State.GONE
        p.condition[slots] = popmod.NO_CONDITION
        p.service[slots] = popmod.NO_SERVICE
        for a in ("next_week", "recover_week", "onset_week", "clock_start_week",
                  "queue_entry_week"):
            getattr(p, a)[slots] = NEVER
        p.on_biologic[slots] = False
        self._adults_by_imd -= np.bincount(p.imd_quintile[slots] - 1, minlength=5)

    def _demography_year(self, w: int) -> None:
        """Ageing, next year's deaths and growth by age band (over-65s grow fastest)."""
        p = self.pop
        alive = p.alive()
        p.age_years[alive] += 1.0
        old_band = p.age_band[alive].copy()
        p.age_band[alive] = popmod.band_of(p.age_years[alive])
        norm = np.asarray(self.cfg.population.eq5d_norm_by_age_band, dtype=np.float32)
        p.eq5d_norm[alive] = norm[p.age_band[alive]]
        is_well = p.state[alive] == State.WELL
        well = alive[is_well]
        changed = well[p.age_band[well] != old_band[is_well]]  # new hazards for these
        p.eq5d[well] = p.eq5d_norm[well]
        p.eq5d[alive] = np.minimum(p.eq5d[alive], p.eq5d_norm[alive])
        growth = np.asarray(self.cfg.population.growth_per_year_by_age_band)
        self._band_target *= 1.0 + growth
        self._schedule_deaths(alive, w)
        # arrivals (16th birthdays, moving in) and departures (moving away, e.g. students who
        # graduate) keep each band on its projected path, making up for this year's deaths too
        counts = np.bincount(p.age_band[alive], minlength=len(growth))
        dying = np.bincount(p.age_band[self._deaths_slot], minlength=len(growth))
        change = np.round(self._band_target - counts + dying).astype(np.int64)
        self._move_away(alive, np.maximum(-change, 0), w)
        need = np.maximum(change, 0)
        new = p.add(int(need.sum()))
        bands = np.repeat(np.arange(len(need)), need).astype(np.int8)
        popmod.fill_new_people(p, new, self.cfg.population, bands, self._practice_weights,
                               self.streams, w, self.cfg.behaviour.surgery_preference_sd_log)
        self._adults_by_imd += np.bincount(p.imd_quintile[new] - 1, minlength=5)
        self._schedule_deaths(new, w, keep_scheduled=True)
        changed = changed[p.state[changed] == State.WELL]
        self._schedule_onset(np.concatenate([changed, new]), w)

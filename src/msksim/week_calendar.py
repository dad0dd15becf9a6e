"""People filed by the week something is next due to them, so that a week finds its own
without a pass over everyone (an event calendar with one row of slots per simulated week).

Filing someone again does not take them off the week they were filed under before: whoever
takes a week checks that what it finds still stands (someone who died, or whose plans changed,
stays filed until then). A week's row is one contiguous block, so taking it reads only the
people filed under it.
"""

from __future__ import annotations

import numpy as np

from . import kernels


class WeekCalendar:
    """Week rows for weeks `first_week` to `end_week - 1`, of population slots."""

    def __init__(self, first_week: int, end_week: int, room: int = 64):
        self.first_week = int(first_week)
        n_weeks = max(int(end_week) - self.first_week, 0)
        # int32 slots (as `population.Population` has them: fewer than 2**31 people)
        self._table = np.zeros((n_weeks, max(int(room), 1)), dtype=np.int32)
        self._count = np.zeros(n_weeks, dtype=np.int64)

    def file(self, slots: np.ndarray, weeks: np.ndarray) -> None:
        """File each slot under its week (a week outside the calendar: not filed)."""
        slots = np.asarray(slots, dtype=np.int64)
        weeks = np.asarray(weeks)
        done = 0
        while done < len(slots):
            done = kernels.file_by_week(self._table, self._count, slots, weeks,
                                        self.first_week, done)
            if done < len(slots):  # a week's row is full: twice the room for every week
                table = np.zeros((self._table.shape[0], 2 * self._table.shape[1]),
                                 dtype=self._table.dtype)
                table[:, : self._table.shape[1]] = self._table
                self._table = table

    def covers(self, week: int) -> bool:
        """Whether `week` has a row (the run's weeks, warm-up included)."""
        return 0 <= int(week) - self.first_week < len(self._count)

    def take(self, week: int) -> np.ndarray:
        """Everyone filed under `week`, once each, in slot order; the week's row is emptied."""
        if not self.covers(week):
            raise ValueError(f"week {week} is outside the calendar (weeks {self.first_week} "
                             f"to {self.first_week + len(self._count) - 1})")
        k = int(week) - self.first_week
        row = np.sort(self._table[k, : self._count[k]])  # (numpy's sort: faster than numba's)
        self._count[k] = 0
        once = np.ones(len(row), dtype=bool)
        once[1:] = row[1:] != row[:-1]  # someone filed twice under the week is there twice
        return row[once].astype(np.int64)

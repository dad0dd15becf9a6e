"""Booking a theatre list into the week's 4-hour sessions.

Cases are taken in waiting order and fitted session by session: each session takes the longest
run of cases from the front of the list that fits, then, in waiting order, later cases short
enough for the time left, for as long as their running total fits (so one long case does not
block shorter ones behind it). No case spans two sessions. The loop is over sessions, never over
patients.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9


def book_sessions(use: np.ndarray, sessions: int, max_cases_per_session: int = 12) -> np.ndarray:
    """Which cases (in waiting order, each using `use` of a session) fit into `sessions`.

    Returns a boolean mask over the cases. Only the front of the list is considered (enough
    cases to fill every session several times over), which keeps the cost per week small.
    """
    n = len(use)
    booked = np.zeros(n, dtype=bool)
    if n == 0 or sessions <= 0:
        return booked
    horizon = min(n, int(sessions) * max_cases_per_session * 2 + 16)
    free = np.arange(horizon)
    for _ in range(int(sessions)):
        if len(free) == 0:
            break
        u = use[free]
        cum = np.cumsum(u)
        n_front = int(np.searchsorted(cum, 1.0 + _EPS, side="right"))
        take = [free[:n_front]]
        room = 1.0 - (cum[n_front - 1] if n_front else 0.0)
        rest, ur = free[n_front:], u[n_front:]
        fits = ur <= room + _EPS
        if fits.any():
            later = rest[fits]
            take.append(later[np.cumsum(ur[fits]) <= room + _EPS])
        chosen = np.concatenate(take)
        if len(chosen) == 0:
            break  # the next case is longer than a whole session
        booked[chosen] = True
        free = free[~booked[free]]
    return booked

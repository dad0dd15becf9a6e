"""A theatre's week: booking the list into 4-hour sessions, then what happens on the day.

Booking (`assign_sessions`): cases are taken in booking order and fitted session by session on
their *planned* minutes (operation plus turnaround): each session takes the longest run of cases
from the front of the list that fits, then, in order, later cases short enough for the time
left, for as long as their running total fits (so one long case does not block shorter ones
behind it). No case spans two sessions. The loop is over sessions, never over patients.

On the day (`run_sessions`): each session starts late by its own delay; cases run in booked
order for their *actual* minutes, with a turnaround between them; a case that would finish
beyond the session end plus the overrun allowance is cancelled, and so is every case after it in
that session. Touch-time (anaesthetic start to leaving theatre) is what planners divide by
session time: *capped* counts only minutes inside the planned session, *uncapped* counts
overruns too (NHS Model Hospital / GIRFT definitions, domain_facts §5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels

_EPS = 1e-9
UNBOOKED = -1


def assign_sessions(use: np.ndarray, sessions: int, max_cases_per_session: int = 12) -> np.ndarray:
    """The session (0..sessions-1) each case (in booking order, each using `use` of a session)
    is booked into, or -1 (`UNBOOKED`).

    Only the front of the list is considered (enough cases to fill every session several times
    over), which keeps the cost per week small.
    """
    if len(use) == 0 or sessions <= 0:
        return np.full(len(use), UNBOOKED, dtype=np.int64)
    return kernels.assign_sessions(np.asarray(use, dtype=np.float64), int(sessions),
                                   int(sessions) * max_cases_per_session * 2 + 16)


def assign_sessions_reference(use: np.ndarray, sessions: int,
                              max_cases_per_session: int = 12) -> np.ndarray:
    """`assign_sessions` in plain numpy (the compiled kernel's reference, kept for the tests)."""
    n = len(use)
    session = np.full(n, UNBOOKED, dtype=np.int64)
    if n == 0 or sessions <= 0:
        return session
    use = np.asarray(use, dtype=np.float64)
    horizon = min(n, int(sessions) * max_cases_per_session * 2 + 16)
    free = np.arange(horizon)
    for k in range(int(sessions)):
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
        session[chosen] = k
        free = free[session[free] == UNBOOKED]
    return session


def book_sessions(use: np.ndarray, sessions: int, max_cases_per_session: int = 12) -> np.ndarray:
    """Which cases (in booking order) fit into `sessions`: a boolean mask over the cases."""
    return assign_sessions(use, sessions, max_cases_per_session) != UNBOOKED


@dataclass
class SessionDay:
    """What happened in one week's sessions (arrays over booked cases or over sessions)."""

    done: np.ndarray  # per booked case: operated on
    overran: np.ndarray  # per booked case: cancelled because the list ran out of time
    touch_minutes: np.ndarray  # per session: operating (touch) minutes, uncapped
    touch_minutes_capped: np.ndarray  # per session: touch minutes inside the planned session
    finish_minutes: np.ndarray  # per session: when the last case ended (0 if none ran)


def run_sessions(session: np.ndarray, actual_minutes: np.ndarray, late_start_minutes: np.ndarray,
                 session_minutes: float, turnaround_minutes: float,
                 overrun_allowance_minutes: float, cancelled: np.ndarray | None = None
                 ) -> SessionDay:
    """Run the booked cases through their sessions.

    `session` gives each booked case its session (cases of one session in running order),
    `actual_minutes` its touch time on the day, `late_start_minutes` each session's delay, and
    `cancelled` the cases cancelled before the day starts (patient unwell or did not come),
    whose time is freed for the rest of the list.
    """
    n_sessions = len(late_start_minutes)
    n = len(session)
    cancelled = np.zeros(n, dtype=bool) if cancelled is None else np.asarray(cancelled, bool)
    done = np.zeros(n, dtype=bool)
    overran = np.zeros(n, dtype=bool)
    touch = np.zeros(n_sessions)
    touch_capped = np.zeros(n_sessions)
    finish = np.zeros(n_sessions)
    go = np.flatnonzero(~cancelled)
    if len(go) == 0:
        return SessionDay(done, overran, touch, touch_capped, finish)
    order = go[np.argsort(session[go], kind="stable")]
    s = session[order]
    dur = np.asarray(actual_minutes, dtype=np.float64)[order]
    step = dur + turnaround_minutes
    cum = np.cumsum(step)
    first = np.r_[True, s[1:] != s[:-1]]
    # running time within each session: cumulative sum restarted at each session's first case
    offset = np.maximum.accumulate(np.where(first, cum - step, 0.0))
    end = late_start_minutes[s] + (cum - offset) - turnaround_minutes
    start = end - dur
    # ends rise within a session, so once a case would overrun, so would the rest of the list
    ok = end <= session_minutes + overrun_allowance_minutes + _EPS
    done[order[ok]] = True
    overran[order[~ok]] = True
    ran = ok
    np.add.at(touch, s[ran], dur[ran])
    inside = np.clip(np.minimum(end, session_minutes) - np.clip(start, 0, None), 0, None)
    np.add.at(touch_capped, s[ran], inside[ran])
    np.maximum.at(finish, s[ran], end[ran])
    return SessionDay(done, overran, touch, touch_capped, finish)

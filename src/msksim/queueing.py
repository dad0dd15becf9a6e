"""Exact results for the simplest theatre list, to check the model's booking code against.

Strip a theatre list down to Poisson listings, A(t) ~ Poisson(lam) a week, exactly `c` cases
operated a week whenever that many are waiting, first come first served, no cancellations. Count
the list at the end of each week, after that week's operations and after that week's listings
(who cannot be operated until the next week). Then the list size is a Markov chain,

    X(t+1) = max(X(t) - c, 0) + A(t+1),

a discrete-time bulk-service queue. Its stationary distribution is found numerically on a
truncated state space (`stationary_distribution`). The wait of one customer, in weeks from the
listing week to the operation week, follows from it without Little's law
(`wait_distribution`): a customer listed in week t finds Y = max(X(t-1) - c, 0) earlier
listings still waiting after week t's operations, plus J customers of its own week's batch
ahead of it (batch in random order, P(J = j) = P(A > j) / E[A]), so it is operated in week
t + floor((Y + J) / c) + 1 and waits W = floor((Y + J) / c) + 1 weeks.

Each customer is on the list at exactly W end-of-week counts (its listing week up to the week
before its operation), so Little's law E[X] = lam * E[W] holds exactly for this embedding; the
tests use it to check `mean_list_size` and `mean_wait_weeks` against each other.

`simulate_list` and `replay_list` run the same list through the model's own booking and
on-the-day code (`theatres.assign_sessions`, `theatres.run_sessions`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import brentq
from scipy.sparse.linalg import spsolve
from scipy.stats import poisson

from .theatres import UNBOOKED, assign_sessions, run_sessions

NOT_OPERATED = -1


def _check(lam: float, c: int) -> None:
    if not (isinstance(c, int | np.integer) and c >= 1):
        raise ValueError(f"c (cases operated a week) must be a whole number >= 1, got {c!r}")
    if not lam > 0:
        raise ValueError(f"lam (mean listings a week) must be > 0, got {lam!r}")
    if lam >= c:
        raise ValueError(f"the list grows without limit: utilisation rho = lam / c = {lam}/{c} "
                         f"= {lam / c:.4g} must be < 1")


def _poisson_cap(lam: float, eps: float) -> int:
    """The smallest a with P(A > a) < eps for A ~ Poisson(lam)."""
    a = np.arange(int(lam + 12 * np.sqrt(lam) + 40) + 1)
    while poisson.sf(a[-1], lam) >= eps:
        a = np.arange(2 * len(a))
    return int(a[np.argmax(poisson.sf(a, lam) < eps)])


def tail_decay_rate(lam: float, c: int) -> float:
    """The geometric rate r at which P(X > n) falls for large n: r = 1/z0, where z0 > 1 solves
    z**c = exp(lam * (z - 1)) (the arrival generating function)."""
    _check(lam, c)

    def f(z: float) -> float:
        return c * np.log(z) - lam * (z - 1.0)

    lo = 1.0 + (1.0 - lam / c)  # f(lo) >= c (1 - rho)**2 / 2 > 0
    hi = 2.0 * lo
    while f(hi) > 0:
        hi *= 2.0
    return 1.0 / brentq(f, lo, hi, xtol=1e-15, rtol=1e-15)


def _solve_truncated(lam: float, c: int, n_max: int, a_hi: int) -> np.ndarray:
    """Stationary pmf of the chain on 0..n_max, any jump above n_max landing on n_max."""
    states = np.arange(n_max + 1)
    base = np.maximum(states - c, 0)
    a = np.arange(a_hi + 1)
    pa = poisson.pmf(a, lam)
    rows = np.repeat(states, a_hi + 2)
    cols = np.minimum(base[:, None] + np.r_[a, a_hi + 1][None, :], n_max).ravel()
    probs = np.tile(np.r_[pa, poisson.sf(a_hi, lam)], n_max + 1)
    p = sparse.coo_matrix((probs, (rows, cols)), shape=(n_max + 1, n_max + 1)).tocsr()
    m = (p.T - sparse.identity(n_max + 1, format="csr")).tolil()
    m[0, :] = np.ones(n_max + 1)  # replace one balance equation by sum(pi) = 1
    rhs = np.zeros(n_max + 1)
    rhs[0] = 1.0
    pi = spsolve(m.tocsc(), rhs)
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def stationary_distribution(lam: float, c: int, tol: float = 1e-12) -> np.ndarray:
    """Stationary pmf of the end-of-week list size X (index = list size).

    Solved as a sparse linear system on 0..N, with N grown until the mass the truncation loses,
    estimated from the tail's geometric decay (`tail_decay_rate`), is below `tol`. Raises
    ValueError unless rho = lam / c < 1.
    """
    _check(lam, c)
    r = tail_decay_rate(lam, c)
    a_hi = _poisson_cap(lam, tol * 1e-3)
    margin = a_hi + c  # states this close to N feel the truncation
    n_max = margin + max(4 * c, int(np.ceil(np.log(tol * (1 - r)) / np.log(r))))
    for _ in range(20):
        pi = _solve_truncated(lam, c, n_max, a_hi)
        m = n_max - margin
        lost = pi[m] * r ** (n_max + 1 - m) / (1.0 - r)
        if lost < tol:
            return pi
        n_max += int(np.ceil(np.log(tol / lost) / np.log(r))) + margin
    raise RuntimeError(f"could not truncate the list-size chain (lam={lam}, c={c}, tol={tol})")


def mean_list_size(lam: float, c: int, tol: float = 1e-12) -> float:
    """E[X]: mean list size at the end of a week, in the stationary state."""
    pi = stationary_distribution(lam, c, tol)
    return float(np.arange(len(pi)) @ pi)


def wait_distribution(lam: float, c: int, tol: float = 1e-12) -> np.ndarray:
    """pmf of a customer's wait W in whole weeks, listing week to operation week (index = W;
    W >= 1), under FCFS with the customer's own batch in random order."""
    pi = stationary_distribution(lam, c, tol)
    y = np.r_[pi[: c + 1].sum(), pi[c + 1:]]  # Y = max(X - c, 0)
    j_hi = _poisson_cap(lam, tol * 1e-3)
    j = poisson.sf(np.arange(j_hi + 1), lam) / lam  # P(J = j) = P(A > j) / E[A]
    s = np.convolve(y, j / j.sum())  # Y + J (independent: J is this week's batch)
    return np.bincount(np.arange(len(s)) // c + 1, weights=s)


def mean_wait_weeks(lam: float, c: int, tol: float = 1e-12) -> float:
    """E[W]: a customer's mean wait in weeks (from `wait_distribution`, not Little's law)."""
    w = wait_distribution(lam, c, tol)
    return float(np.arange(len(w)) @ w)


@dataclass
class ListRun:
    """What happened to a theatre list replayed week by week (`replay_list`)."""

    operated_week: np.ndarray  # per case: the week it was operated in, or -1
    list_size: np.ndarray  # per week: cases on the list at the end of the week
    booked: int  # case-bookings made (a case cancelled and rebooked counts again)
    cancelled: int  # bookings cancelled before the day
    overran: int  # bookings cancelled on the day because the session ran out of time


def replay_list(listed_week: np.ndarray, use: np.ndarray, sessions: int, weeks: int, *,
                cancel: Callable[[np.ndarray, int], np.ndarray] | None = None,
                session_minutes: float = 240.0, max_cases_per_session: int = 12,
                require_fcfs: bool = False) -> ListRun:
    """Run a theatre list through the model's booking and on-the-day code for `weeks` weeks.

    Case i is listed in week `listed_week[i]` (non-decreasing: cases are in booking order) and
    takes `use[i]` of a session, both planned and on the day (no late starts, no turnaround,
    no overrun allowance). Each week w the cases listed before w are booked in list order into
    `sessions` sessions (`theatres.assign_sessions`); `cancel(cases, w)` says which booked cases
    are cancelled before the day (they stay on the list, in place); the rest are run
    (`theatres.run_sessions`) and leave the list. Then week w's listings join the end.
    `require_fcfs` raises RuntimeError if the booked cases are not the front of the list.
    """
    listed_week = np.asarray(listed_week, dtype=np.int64)
    use = np.asarray(use, dtype=np.float64)
    if np.any(np.diff(listed_week) < 0):
        raise ValueError("listed_week must be non-decreasing (cases in booking order)")
    first_of_week = np.searchsorted(listed_week, np.arange(weeks + 1))
    operated_week = np.full(len(listed_week), NOT_OPERATED, dtype=np.int64)
    list_size = np.zeros(weeks, dtype=np.int64)
    waiting = np.arange(first_of_week[0])  # listed before week 0
    late = np.zeros(sessions)
    booked_n = cancelled_n = overran_n = 0
    for w in range(weeks):
        if len(waiting) and sessions > 0:
            session = assign_sessions(use[waiting], sessions, max_cases_per_session)
            idx = np.flatnonzero(session != UNBOOKED)
            if require_fcfs and len(idx) and idx[-1] != len(idx) - 1:
                raise RuntimeError(f"week {w}: booking skipped a case at the front of the list")
            if len(idx):
                cases = waiting[idx]
                off = (np.zeros(len(cases), dtype=bool) if cancel is None
                       else np.asarray(cancel(cases, w), dtype=bool))
                day = run_sessions(session[idx], use[cases] * session_minutes, late,
                                   session_minutes, 0.0, 0.0, cancelled=off)
                operated_week[cases[day.done]] = w
                booked_n += len(cases)
                cancelled_n += int(off.sum())
                overran_n += int(day.overran.sum())
                keep = np.ones(len(waiting), dtype=bool)
                keep[idx[day.done]] = False
                waiting = waiting[keep]
        waiting = np.r_[waiting, np.arange(first_of_week[w], first_of_week[w + 1])]
        list_size[w] = len(waiting)
    return ListRun(operated_week, list_size, booked_n, cancelled_n, overran_n)


def simulate_list(lam: float, c: int, weeks: int, seed: int, *, warmup_weeks: int = 200,
                  use: float | None = None) -> dict:
    """Simulate the degenerate list of the module docstring with the model's theatre code.

    Poisson(lam) listings a week (numpy Generator seeded from `seed`), each case taking `use`
    of a session, booked FCFS into c * use sessions a week, so exactly c cases are operated a
    week when there are c waiting. `use` defaults to 1/c (one session of c cases); it must
    divide a session into k whole cases with k dividing c (use=1.0: c one-case sessions).
    Statistics cover the `weeks` weeks after `warmup_weeks` weeks from an empty list:
    `mean_list_size` (time average of the end-of-week list), `mean_wait_weeks` (mean over the
    cases operated then), `n_operated`, `list_size` (the end-of-week list sizes).
    """
    _check(lam, c)
    use = 1.0 / c if use is None else float(use)
    per_session = round(1.0 / use) if use > 0 else 0
    if per_session < 1 or abs(per_session * use - 1.0) > 1e-9 or c % per_session:
        raise ValueError(f"use={use} must be 1/k of a session with k dividing c={c}")
    sessions = c // per_session
    total = warmup_weeks + weeks
    rng = np.random.default_rng(seed)
    arrivals = rng.poisson(lam, size=total)
    listed = np.repeat(np.arange(total), arrivals)
    run = replay_list(listed, np.full(len(listed), use), sessions, total,
                      max_cases_per_session=max(12, per_session), require_fcfs=True)
    if run.overran:
        raise RuntimeError(f"{run.overran} cases overran a session that they were booked into")
    op = run.operated_week
    counted = op >= warmup_weeks
    return {
        "mean_list_size": float(run.list_size[warmup_weeks:].mean()),
        "mean_wait_weeks": float((op[counted] - listed[counted]).mean()),
        "n_operated": int(counted.sum()),
        "list_size": run.list_size[warmup_weeks:],
    }

"""The theatre list against exact queueing results, and what adding sessions guarantees.

The degenerate list (Poisson listings, c cases a week, FCFS, no cancellations) run through the
model's own booking and on-the-day code must match the exact bulk-service queue of
`msksim.queueing`; the exact results must agree with each other (Little's law) and with hand
results. Then properties of adding sessions with common random numbers: what is guaranteed,
and pinned counterexamples for what is not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.stats import poisson

from msksim.queueing import (
    NOT_OPERATED,
    mean_list_size,
    mean_wait_weeks,
    replay_list,
    simulate_list,
    stationary_distribution,
    wait_distribution,
)
from msksim.theatres import UNBOOKED, assign_sessions, run_sessions

SHARES = [1 / 5, 1 / 3, 1 / 2, 2 / 3, 1.0]  # hand ... revision: share of a 4-hour session
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None)


# ---- simulation vs exact -------------------------------------------------------------------

def _ci(x: np.ndarray) -> tuple[float, float]:
    """Mean and 95% t half-width over independent replications."""
    n = len(x)
    return float(x.mean()), float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n))


@pytest.mark.parametrize(("lam", "reps", "weeks"), [(8.0, 10, 1500), (9.0, 12, 3000)])
def test_simulated_list_matches_the_exact_queue(lam, reps, weeks):
    c = 10  # rho = 0.8 and 0.9
    runs = [simulate_list(lam, c, weeks, seed=int(100 * lam) + r, warmup_weeks=200)
            for r in range(reps)]
    for key, exact in (("mean_list_size", mean_list_size(lam, c)),
                       ("mean_wait_weeks", mean_wait_weeks(lam, c))):
        mean, half = _ci(np.array([run[key] for run in runs]))
        assert half < 0.05 * exact, (key, half, exact)  # precise enough to mean something
        assert abs(mean - exact) < 0.05 * exact, (key, mean, half, exact)


def test_one_session_of_c_and_c_sessions_of_one_book_the_same_list():
    a = simulate_list(6.0, 8, 300, seed=3, warmup_weeks=20)
    b = simulate_list(6.0, 8, 300, seed=3, warmup_weeks=20, use=1.0)
    c = simulate_list(6.0, 8, 300, seed=3, warmup_weeks=20, use=0.5)
    for other in (b, c):
        assert np.array_equal(a["list_size"], other["list_size"])
        assert a["mean_wait_weeks"] == other["mean_wait_weeks"]
    with pytest.raises(ValueError, match="use=0.3"):
        simulate_list(6.0, 8, 10, seed=3, use=0.3)


# ---- the exact results ---------------------------------------------------------------------

@pytest.mark.parametrize(("lam", "c"), [(0.5, 1), (0.95, 1), (2.5, 3), (8.0, 10), (9.0, 10),
                                        (9.8, 10), (30.0, 40)])
def test_exact_list_and_wait_obey_littles_law(lam, c):
    assert mean_list_size(lam, c) == pytest.approx(lam * mean_wait_weeks(lam, c), abs=1e-6)


@pytest.mark.parametrize("lam", [0.1, 0.5, 0.9])
def test_one_case_a_week_matches_the_closed_form(lam):
    # c = 1: X' = X - 1{X>0} + A gives P(X=0) = 1 - lam and E[X] = lam (2 - lam) / (2 (1 - lam))
    # (second moments of the recursion); X = 0 needs X <= 1 and no listings, so
    # P(X <= 1) = (1 - lam) e^lam; a customer waits Y + J + 1 weeks, E[W] = E[X] / lam.
    pi = stationary_distribution(lam, 1)
    assert pi[0] == pytest.approx(1 - lam, abs=1e-10)
    assert pi[0] + pi[1] == pytest.approx((1 - lam) * math.exp(lam), abs=1e-10)
    ex = lam * (2 - lam) / (2 * (1 - lam))
    assert mean_list_size(lam, 1) == pytest.approx(ex, abs=1e-9)
    assert mean_wait_weeks(lam, 1) == pytest.approx(ex / lam, abs=1e-9)


def test_a_trickle_of_listings_waits_one_week():
    # lam tiny, c = 3: the list is almost always this week's batch, operated next week
    lam = 1e-4
    assert mean_list_size(lam, 3) == pytest.approx(lam, rel=1e-9)
    assert mean_wait_weeks(lam, 3) == pytest.approx(1.0, abs=1e-12)
    assert wait_distribution(lam, 3)[0] == 0.0


@pytest.mark.parametrize(("lam", "c"), [(2.5, 3), (9.0, 10), (9.8, 10)])
def test_stationary_distribution_is_stationary(lam, c):
    pi = stationary_distribution(lam, c)
    assert pi.min() >= 0 and pi.sum() == pytest.approx(1.0, abs=1e-12)
    # one step of the recursion by convolution: max(X - c, 0) + A must have the law of X
    y = np.r_[pi[: c + 1].sum(), pi[c + 1:]]
    nxt = np.convolve(y, poisson.pmf(np.arange(len(pi)), lam))[: len(pi)]
    assert np.abs(nxt - pi).max() < 1e-11
    # a tighter truncation moves nothing that matters
    assert mean_list_size(lam, c, tol=1e-15) == pytest.approx(mean_list_size(lam, c), abs=1e-9)
    w = wait_distribution(lam, c)
    assert w[0] == 0.0 and w.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("lam", "c"), [(10.0, 10), (12.0, 10), (0.0, 3), (1.0, 0)])
def test_no_stationary_list_without_spare_capacity(lam, c):
    with pytest.raises(ValueError):
        stationary_distribution(lam, c)
    if lam >= c > 0:
        with pytest.raises(ValueError, match="rho"):
            mean_wait_weeks(lam, c)


# ---- adding sessions, common random numbers ------------------------------------------------

@st.composite
def lists(draw, shares):
    """Listings per week, each case's share of a session, cancellation draws keyed by
    (case, week) and a cancellation rate, sessions s and extra sessions."""
    arrivals = draw(st.lists(st.integers(0, 8), min_size=1, max_size=12))
    n = sum(arrivals)
    use = np.array(draw(shares(n)), dtype=float)
    return (np.repeat(np.arange(len(arrivals)), arrivals), use, draw(st.integers(0, 2**32 - 1)),
            draw(st.sampled_from([0.0, 0.1, 0.3, 0.6])), draw(st.integers(1, 4)),
            draw(st.integers(1, 3)))


def _equal_cases(n):
    return st.sampled_from(SHARES).map(lambda u: [u] * n)


def _mixed_cases(n):
    return st.lists(st.sampled_from(SHARES), min_size=n, max_size=n)


def _replay(listed, use, seed, p, sessions, weeks):
    """Replay with pre-day cancellations drawn once per (case, week): the same case in the same
    week gets the same draw whatever the number of sessions."""
    draws = np.random.default_rng(seed).random((len(listed), weeks))
    return replay_list(listed, use, sessions, weeks, cancel=lambda cases, w: draws[cases, w] < p)


def _when(run):
    return np.where(run.operated_week == NOT_OPERATED, np.iinfo(np.int64).max, run.operated_week)


@PROPERTY
@given(lists(_equal_cases))
def test_more_sessions_never_delay_anyone_when_cases_are_alike(case):
    """Cases of one size, FCFS: every case is operated no later with more sessions (the list
    with more sessions is always a subset of the list with fewer), so the list is never longer
    in any week and the mean wait of any fixed set of cases never rises."""
    listed, use, seed, p, s, extra = case
    weeks = int(listed.max(initial=0)) + 40
    few = _replay(listed, use, seed, p, s, weeks)
    more = _replay(listed, use, seed, p, s + extra, weeks)
    assert (_when(more) <= _when(few)).all()
    assert (more.list_size <= few.list_size).all()
    ops = few.operated_week != NOT_OPERATED  # the cases operated with fewer sessions
    if ops.any():
        assert ((more.operated_week - listed)[ops].mean()
                <= (few.operated_week - listed)[ops].mean())
    if ops.any() and ops.all():  # everyone operated: the mean wait of all
        assert (more.operated_week - listed).mean() <= (few.operated_week - listed).mean()


@PROPERTY
@given(lists(_mixed_cases))
def test_more_sessions_book_everything_fewer_would_in_the_same_week(case):
    """Any case lengths: on the same list in the same week, s + k sessions make exactly the
    bookings s sessions make (plus more), so with the same pre-day cancellations they operate
    everyone s sessions would. (Across weeks this is not guaranteed: see below.)"""
    _, use, seed, p, s, extra = case
    few = assign_sessions(use, s)
    more = assign_sessions(use, s + extra)
    assert np.array_equal(np.where(more < s, more, UNBOOKED), few)
    off = np.random.default_rng(seed).random(len(use)) < p
    done = []
    for booking in (few, more):
        b = np.flatnonzero(booking != UNBOOKED)
        day = run_sessions(booking[b], use[b] * 240.0, np.zeros(s + extra), 240.0, 0.0, 0.0,
                           cancelled=off[b])
        assert not day.overran.any()
        mask = np.zeros(len(use), dtype=bool)
        mask[b[day.done]] = True
        done.append(mask)
    assert not (done[0] & ~done[1]).any()
    assert np.array_equal(done[1], (more != UNBOOKED) & ~off)


def test_more_sessions_can_raise_the_mean_wait_of_cases_operated_by_a_horizon():
    # cases alike, no cancellations: 1 listed in week 0, 6 in week 1, operations in weeks 1-3.
    # One session operates A (wait 1), B (1), C (2); two operate A, B, C (1, 1) and D, E
    # (2, 2): more people treated, each no later, but the mean over those treated rises
    listed = np.array([0, 1, 1, 1, 1, 1, 1])
    use = np.ones(len(listed))
    waits = []
    for s in (1, 2):
        op = replay_list(listed, use, s, 4).operated_week
        waits.append((op - listed)[op != NOT_OPERATED].mean())
    assert waits == pytest.approx([4 / 3, 7 / 5])


def test_more_sessions_can_operate_a_short_case_later():
    # no cancellations: with two sessions both 2/3 cases go in week 1, so in week 2 the two
    # whole-session cases fill both sessions and the 1/5 case (listed week 1) waits; with one
    # session the 1/5 case fills the gap beside the second 2/3 case in week 2
    listed = np.array([0, 0, 0, 0, 1])
    use = np.array([2 / 3, 2 / 3, 1.0, 1.0, 1 / 5])
    assert replay_list(listed, use, 1, 8).operated_week.tolist() == [1, 2, 3, 4, 2]
    assert replay_list(listed, use, 2, 8).operated_week.tolist() == [1, 1, 2, 2, 3]


def test_more_sessions_can_raise_the_mean_wait_of_everyone_with_cancellations():
    # the same list, with the two whole-session cases (2 and 3) cancelled before the day
    # whenever booked in weeks 2 and 3: two sessions book (and lose) both of them each week,
    # so the 1/5 case is crowded out until week 5; one session slipped it in beside case 1 in
    # week 2. Everyone is operated in both runs, yet the total wait rises from 13 to 14 weeks
    listed = np.array([0, 0, 0, 0, 1])
    use = np.array([2 / 3, 2 / 3, 1.0, 1.0, 1 / 5])
    off = {(2, 2), (3, 2), (2, 3), (3, 3)}

    def cancel(cases, w):
        return np.array([(int(i), w) in off for i in cases], dtype=bool)

    one = replay_list(listed, use, 1, 10, cancel=cancel).operated_week
    two = replay_list(listed, use, 2, 10, cancel=cancel).operated_week
    assert one.tolist() == [1, 2, 4, 5, 2]
    assert two.tolist() == [1, 1, 4, 4, 5]
    assert (one - listed).sum() == 13 and (two - listed).sum() == 14

"""Theatre booking: no session over-booked, no case across two sessions, waiting order kept."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from msksim.theatres import (
    assign_sessions,
    assign_sessions_reference,
    book_sessions,
    run_sessions,
)

SHARES = [1 / 5, 1 / 3, 1 / 2, 2 / 3, 1.0]  # hand ... revision: share of a 4-hour session


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SHARES), max_size=60), st.integers(0, 12))
def test_never_books_more_than_the_sessions(shares, sessions):
    use = np.array(shares, dtype=float)
    booked = book_sessions(use, sessions)
    assert use[booked].sum() <= sessions + 1e-9
    # every booked case could be placed: at most `sessions` cases of a whole session
    assert (use[booked] >= 1.0 - 1e-9).sum() <= sessions


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SHARES), st.floats(0.0, 1.3)), max_size=400),
       st.integers(-1, 30), st.integers(1, 12))
def test_compiled_booking_equals_the_numpy_reference(shares, sessions, max_cases):
    """The compiled booking (msksim.kernels) books every case into the same session as the
    plain-numpy version, including lists longer than the horizon it looks at."""
    use = np.array(shares, dtype=float)
    assert np.array_equal(assign_sessions(use, sessions, max_cases),
                          assign_sessions_reference(use, sessions, max_cases))


def test_cases_do_not_span_sessions():
    # three 2/3-session cases: only one fits per session, so two sessions take two of them
    use = np.array([2 / 3, 2 / 3, 2 / 3])
    assert book_sessions(use, 2).sum() == 2


def test_a_long_case_does_not_block_shorter_ones():
    # one session: the whole-session case cannot join the first half, the second half can
    use = np.array([0.5, 1.0, 0.5])
    booked = book_sessions(use, 1)
    assert booked.tolist() == [True, False, True]


def test_waiting_order_is_kept_when_everything_fits_equally():
    use = np.full(10, 0.5)
    booked = book_sessions(use, 3)
    assert booked.tolist() == [True] * 6 + [False] * 4


def test_no_sessions_no_cases():
    assert not book_sessions(np.full(5, 0.2), 0).any()


# ---- on the day (run_sessions) -------------------------------------------------------------

def _day(session, minutes, late, *, turnaround=0.0, allowance=0.0, cancelled=None):
    return run_sessions(np.array(session), np.array(minutes, dtype=float),
                        np.array(late, dtype=float), 240.0, turnaround, allowance,
                        cancelled=None if cancelled is None else np.array(cancelled))


def test_a_late_start_cancels_the_case_that_would_overrun_and_the_rest_of_its_list():
    # session 0 starts 30 min late: 30-130, then 130-280 ends past 240 + 30 (the allowance),
    # so it is cancelled and so is the 10-minute case after it, though that one alone would
    # fit; session 1 (on time) is untouched
    day = _day([0, 0, 0, 1], [100, 150, 10, 200], [30, 0], allowance=30)
    assert day.done.tolist() == [True, False, False, True]
    assert day.overran.tolist() == [False, True, True, False]
    assert day.touch_minutes.tolist() == [100, 200]
    assert day.finish_minutes.tolist() == [130, 200]
    # on time, the same list runs 0-100, 100-250 (inside the allowance), 250-260
    on_time = _day([0, 0, 0, 1], [100, 150, 10, 200], [0, 0], allowance=30)
    assert on_time.done.all() and not on_time.overran.any()


def test_touch_time_capped_at_the_session_end_and_uncapped():
    # 20 min late, 10 min turnaround: cases run 20-140 and 150-270 (30 min past the end,
    # inside a 60 min allowance). Uncapped: 120 + 120; capped: 120 + (240 - 150) = 210
    day = _day([0, 0], [120, 120], [20], turnaround=10, allowance=60)
    assert day.done.all()
    assert day.touch_minutes.tolist() == [240]
    assert day.touch_minutes_capped.tolist() == [210]
    assert day.finish_minutes.tolist() == [270]


def test_cancellations_before_the_day_free_time_for_later_cases():
    full = _day([0, 0, 0], [150, 150, 80], [0])
    assert full.done.tolist() == [True, False, False]  # 150-300 overruns, so does the rest
    freed = _day([0, 0, 0], [150, 150, 80], [0], cancelled=[False, True, False])
    assert freed.done.tolist() == [True, False, True]  # 0-150, then 150-230
    assert not freed.overran.any()  # the cancelled case is not counted as an overrun
    assert freed.touch_minutes.tolist() == [230] and freed.finish_minutes.tolist() == [230]


def test_each_session_runs_its_own_cases_in_booked_order_and_finishes_on_its_own():
    # cases of two sessions interleaved in booking order; a third session booked nothing and
    # a fourth lost its only case before the day
    day = _day([1, 0, 1, 0, 3], [30, 50, 40, 60, 90], [0, 10, 0, 0], turnaround=15,
               cancelled=[False, False, False, False, True])
    assert day.done.tolist() == [True, True, True, True, False]
    # session 0: 0-50, 65-125; session 1: 10-40, 55-95
    assert day.finish_minutes.tolist() == [125, 95, 0, 0]
    assert day.touch_minutes.tolist() == [110, 70, 0, 0]
    assert day.touch_minutes_capped.tolist() == [110, 70, 0, 0]


def test_nothing_booked_nothing_run():
    day = _day(np.zeros(0, dtype=int), [], [0, 0])
    assert len(day.done) == 0 and day.finish_minutes.tolist() == [0, 0]

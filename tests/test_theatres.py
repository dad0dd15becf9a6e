"""Theatre booking: no session over-booked, no case across two sessions, waiting order kept."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from msksim.theatres import book_sessions

SHARES = [1 / 5, 1 / 3, 1 / 2, 2 / 3, 1.0]  # hand ... revision: share of a 4-hour session


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SHARES), max_size=60), st.integers(0, 12))
def test_never_books_more_than_the_sessions(shares, sessions):
    use = np.array(shares, dtype=float)
    booked = book_sessions(use, sessions)
    assert use[booked].sum() <= sessions + 1e-9
    # every booked case could be placed: at most `sessions` cases of a whole session
    assert (use[booked] >= 1.0 - 1e-9).sum() <= sessions


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

"""Time in msksim: one step is one week; a year is 52 weeks."""

WEEKS_PER_YEAR = 52
RTT_STANDARD_WEEKS = 18  # referral to treatment within 18 weeks (NHS Constitution)
EXPECTED_FOLLOW_UPS_PER_FIRST = 1.8  # NHS England T&O 2019/20: used only to price a referral

"""Little's law on every theatre waiting list of the default city, and list conservation.

Little's law (L = λW) holds for any queue in steady state, whatever its arrival pattern,
booking rule or exits (Little 1961): here L is the mean number waiting for surgery at a
theatre (end of each week), λ the listings per week joining that list (new listings and
transfers in), and W the mean weeks spent on the list by everyone who left it in the window,
whatever the reason (operated, transferred, validated off, recovered, died). Nothing here is
computed by the model's own formulas: the three quantities come from separate counts, so a
person who leaves a list uncounted, or a list size recorded at the wrong point of the week,
breaks the law.

The window starts two years into the contract, once today's backlog (the lists the city
starts with) has been worked down, so the lists are near steady state.
"""

from __future__ import annotations

import numpy as np
import pytest

from msksim.config import load_config
from msksim.model import MSKModel
from msksim.pathway import THEATRE

WINDOW_START_WEEK = 104


@pytest.fixture(scope="module")
def long_run():
    cfg = load_config(None, overlays=[{"run": {"scale": 0.25, "years": 10, "seed": 3}}])
    model = MSKModel(cfg)
    start: dict[str, float] = {}
    while model.running:
        model.step()
        if model.week == WINDOW_START_WEEK:  # the week just run (103) is the eve of the window
            start = {k[1]: v for k, v in model.recorder.last.items()
                     if k[0] == "n_waiting_surgery"}
    theatres = [n for i, n in enumerate(model.pathway.names) if model.pathway.kind[i] == THEATRE]
    return model.recorder.frame(), theatres, start


def _sum(frame, metric, service):
    return float(frame.loc[(frame["metric"] == metric) & (frame["service"] == service),
                           "value"].sum())


def test_littles_law_on_every_theatre_list(long_run):
    weekly, theatres, _ = long_run
    window = weekly[weekly["week"] >= WINDOW_START_WEEK]
    weeks = int(window["week"].max()) + 1 - WINDOW_START_WEEK
    checked = 0
    for t in theatres:
        mean_list = _sum(window, "n_waiting_surgery", t) / weeks
        arrivals_per_week = _sum(window, "new_list_entries", t) / weeks
        exits = _sum(window, "new_list_exits", t)
        mean_wait = _sum(window, "sum_list_exit_wait_weeks", t) / exits
        assert mean_list > 2 and exits > 300, (t, mean_list, exits)  # a real list, not empty
        assert arrivals_per_week * mean_wait == pytest.approx(mean_list, rel=0.02), (
            t, mean_list, arrivals_per_week, mean_wait)
        checked += 1
    assert checked == len(theatres) >= 4


def test_every_list_is_conserved(long_run):
    """List at the end = list on the window's eve + everyone who joined − everyone who left."""
    weekly, theatres, start = long_run
    window = weekly[weekly["week"] >= WINDOW_START_WEEK]
    last = window[window["week"] == window["week"].max()]
    for t in theatres:
        joined = _sum(window, "new_list_entries", t)
        left = _sum(window, "new_list_exits", t)
        assert _sum(last, "n_waiting_surgery", t) == start[t] + joined - left, t
    assert np.isfinite(list(start.values())).all()

"""The compiled kernels (kernels.py) against plain numpy versions of the same steps, written
here as the reference: equal bit for bit on random populations; and the onset week calendar
against a plain record and a scan of everyone. (The random draws, theatre booking and the
decision rule's kernels are tested in test_rng, test_theatres and test_decisions.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msksim import kernels
from msksim.population import NEVER, State
from msksim.week_calendar import WeekCalendar

N_SERVICES = 5
F32 = np.float32


def _population(seed: int, n: int, week: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    near = lambda: (week + rng.integers(-3, 4, n)).astype(np.int32)  # noqa: E731
    state = rng.integers(0, len(State), n).astype(np.int8)
    condition = np.where((state == State.WELL) | (state == State.GONE), -1,
                         rng.integers(0, 4, n)).astype(np.int8)
    norm = rng.uniform(0.6, 1.0, n).astype(F32)
    return {
        "state": state,
        "recover_week": np.where(rng.uniform(size=n) < 0.3, NEVER, near()).astype(np.int32),
        "condition": condition,
        "eq5d": (norm - rng.uniform(-0.05, 0.8, n)).astype(F32),  # a few above the norm
        "eq5d_norm": norm,
        "qaly_loss": rng.uniform(0, 2, n).astype(F32),
        "next_week": np.where(rng.uniform(size=n) < 0.3, NEVER, near()).astype(np.int32),
        "service": np.where(rng.uniform(size=n) < 0.4, -1,
                            rng.integers(0, N_SERVICES, n)).astype(np.int16),
        "clock_start_week": np.where(rng.uniform(size=n) < 0.4, NEVER,
                                     week - rng.integers(0, 80, n)).astype(np.int32),
    }


def _census_reference(pop: dict[str, np.ndarray], drift: np.ndarray, eq5d_min: float,
                      week: int):
    """The week's steps one at a time, as the model did them before they were fused."""
    state, eq5d, norm = pop["state"], pop["eq5d"], pop["eq5d_norm"]
    act = np.flatnonzero((state != State.WELL) & (state != State.GONE))
    s = state[act]
    end = ((pop["recover_week"][act] <= week) & (s >= State.SELF_CARE)
           & (s <= State.WAITING_SURGERY))
    ends, act, s = act[end], act[~end], s[~end]
    d = drift[pop["condition"][act]]
    moved = np.minimum(np.maximum(eq5d[act].astype(np.float64) + d, eq5d_min),
                       norm[act].astype(np.float64)).astype(F32)
    eq5d[act] = np.where((d != 0) & (s <= State.WAITING_SURGERY), moved, eq5d[act])
    loss = np.maximum(norm[act] - eq5d[act], F32(0)) / F32(52)
    pop["qaly_loss"][act] += loss
    due = act[(s == State.SELF_CARE) & (pop["next_week"][act] <= week)]
    recovered = act[(s == State.RECOVERING) & (pop["next_week"][act] <= week)]
    svc = pop["service"][act]
    at = act[svc >= 0][np.argsort(svc[svc >= 0], kind="stable")]
    bounds = np.r_[0, np.cumsum(np.bincount(svc[svc >= 0], minlength=N_SERVICES))]
    return act, ends, loss, due, recovered, at, bounds


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3000), week=st.integers(-60, 300))
def test_week_census_equals_the_steps_one_at_a_time(seed, n, week):
    drift = np.array([0.0, -0.001, 0.0, -0.004])
    ours, ref = _population(seed, n, week), _population(seed, n, week)
    got = kernels.week_census(ours["state"], ours["recover_week"], ours["condition"],
                              ours["eq5d"], ours["eq5d_norm"], ours["qaly_loss"], drift, -0.59,
                              ours["next_week"], ours["service"], week, N_SERVICES,
                              np.empty(n, dtype=np.int64))
    want = _census_reference(ref, drift, -0.59, week)
    for name, a, b in zip(("act", "ends", "loss", "due", "recovered", "at", "bounds"), got, want,
                          strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    np.testing.assert_array_equal(ours["eq5d"], ref["eq5d"])
    np.testing.assert_array_equal(ours["qaly_loss"], ref["qaly_loss"])


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 2000), week=st.integers(-60, 300),
       repeats=st.integers(0, 50))
def test_queues_equal_numpy(seed, n, week, repeats):
    """A service's queue: its members in one state, each once, by week then slot; with a due
    week, only those whose week has come. Members may list someone twice (referred again)."""
    pop = _population(seed, n, week)
    rng = np.random.default_rng(seed + 1)
    members = np.flatnonzero(pop["service"] >= 0)
    if n:
        members = np.concatenate([members, rng.integers(0, n, repeats)])
    state, service, by = pop["state"], pop["service"], pop["next_week"]
    for s in range(N_SERVICES):
        for st_ in (State.WAITING_FIRST, State.IN_CARE):
            here = np.unique(members[(state[members] == st_) & (service[members] == s)])
            for due in (week, int(NEVER)):
                q = here[by[here] <= due]
                want = q[np.lexsort((q, by[q]))]
                got = kernels.queue(members, state, service, s, int(st_), by, due)
                np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(
                kernels.queue(members, state, service, s, int(st_), np.zeros(0, np.int32),
                              int(NEVER)), here)
            assert kernels.queue_length(members, state, service, s, int(st_),
                                        repeats > 0) == len(here)


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3000), week=st.integers(-60, 300))
def test_rtt_census_and_active_equal_numpy(seed, n, week):
    pop = _population(seed, n, week)
    state = pop["state"]
    act = np.flatnonzero((state != State.WELL) & (state != State.GONE))
    np.testing.assert_array_equal(kernels.active(state), act)
    sub = np.sort(np.random.default_rng(seed).choice(n, n // 2, replace=False)) if n else act
    np.testing.assert_array_equal(kernels.still_active(sub, state),
                                  sub[(state[sub] != State.WELL) & (state[sub] != State.GONE)])
    totals, by_service, by_state = kernels.rtt_census(
        act, pop["clock_start_week"], pop["service"], state, week, 18, N_SERVICES, len(State))
    clock = pop["clock_start_week"][act]
    running = clock != NEVER
    wait = week - clock[running]
    svc = pop["service"][act][running]
    flags = (np.ones(len(wait), bool), wait <= 18, wait > 52)
    np.testing.assert_array_equal(totals, [f.sum() for f in flags])
    for row, f in zip(by_service, flags, strict=True):
        np.testing.assert_array_equal(
            row, np.bincount(svc[f & (svc >= 0)], minlength=N_SERVICES))
    np.testing.assert_array_equal(by_state, np.bincount(state[act], minlength=len(State)))


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), rounds=st.integers(1, 30))
def test_week_calendar_gives_each_week_everyone_filed_under_it(seed, n, rounds):
    """Filing (some slots again, under the same week or another) and taking weeks, against a
    plain record: a week taken gives every slot filed under it since it was last taken, once
    each, in slot order; rows outgrow their first room."""
    rng = np.random.default_rng(seed)
    first, end = -5, 40
    cal = WeekCalendar(first, end, room=2)
    filed = {wk: set() for wk in range(first, end)}
    for _ in range(rounds):
        slots = rng.choice(n, rng.integers(0, n + 1), replace=False)
        weeks = rng.integers(first - 3, end + 3, len(slots))  # some outside the calendar
        cal.file(slots, weeks)
        for j, wk in zip(slots.tolist(), weeks.tolist(), strict=True):
            if wk in filed:
                filed[wk].add(j)
        wk = int(rng.integers(first, end))
        np.testing.assert_array_equal(cal.take(wk), sorted(filed[wk]))
        filed[wk] = set()
    for wk in range(first, end):
        got = cal.take(wk)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, sorted(filed[wk]))
    with pytest.raises(ValueError, match="outside the calendar"):
        cal.take(end)


def test_the_onset_calendar_starts_the_episodes_a_scan_would(small_cfg):
    """In a run over two years (deaths, moves, yearly rescheduling) and three weeks past its
    end (where the calendar stops and a scan takes over), the episodes starting each week are
    exactly those of the well whose onset week it is."""
    from msksim.model import MSKModel

    class Checked(MSKModel):
        def _onset(self, w):
            p = self.pop
            scan = np.flatnonzero((p.onset_week[: p.n] == w) & (p.state[: p.n] == State.WELL))
            before = p.episode_start_week[: p.n] == w  # (episodes under way at the start)
            super()._onset(w)
            started = np.flatnonzero((p.episode_start_week[: p.n] == w) & ~before)
            np.testing.assert_array_equal(started, scan)
            self.onsets.append(len(scan))

    m = Checked(small_cfg(years=2, scale=0.02))
    m.onsets = []
    m.run()
    for _ in range(3):
        m.step()
    assert len(m.onsets) == m.cfg.run.warmup_weeks + 2 * 52 + 3
    assert min(m.onsets[-3:]) > 0 and sum(m.onsets) > 1000

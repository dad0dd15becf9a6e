"""Property tests: for many random valid configs, every week keeps the model's books straight.

Each example is the built-in city with an overlay drawn by hypothesis (scale, seed, contract,
capacities, behaviour, the hub, cancellations, warm-up). The model is stepped week by week and
after EVERY step: the state invariants hold, every person is in exactly one state, no service
admits more than its capacity, stocks are non-negative, RTT clocks never run backwards, and the
money recorded agrees with the ledger.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from msksim.config import load_config
from msksim.contracts import COMMISSIONER
from msksim.model import MSKModel
from msksim.population import NEVER, State
from msksim.results import GROUPS

BASE = load_config(None)
CAPACITY_FIELDS = {
    "hub": ("triage_slots_per_week",),
    "community": ("new_patient_slots_per_week", "follow_up_contacts_per_week"),
    "outpatient": ("first_slots_per_week", "follow_up_slots_per_week"),
    "theatre": ("sessions_per_week",),
}
THEATRES = [n for n, s in BASE.services.items() if s.kind == "theatre"]

# more examples on demand: MSKSIM_PROPERTY_EXAMPLES=200 make test
EXAMPLES = int(os.environ.get("MSKSIM_PROPERTY_EXAMPLES", "15"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate),
                    suppress_health_check=[HealthCheck.too_slow])

factor = st.one_of(st.just(0.0), st.floats(0.0, 3.0), st.just(1.0))


@st.composite
def overlays(draw) -> tuple[dict, str]:
    services: dict[str, dict] = {}
    for name, svc in BASE.services.items():
        o: dict = {}
        for fld in CAPACITY_FIELDS[svc.kind]:
            o[fld] = getattr(svc, fld) * draw(factor)
        if svc.kind == "theatre":
            o["on_the_day_cancellation_rate"] = draw(st.floats(0.0, 1.0))
            o["theatres"] = None  # sessions may go beyond today's rooms
            o["beds"] = draw(st.one_of(st.none(), st.floats(0.0, 120.0)))
            o["booking_rule"] = draw(st.sampled_from(["priority", "fcfs"]))
            o["late_start_mean_minutes"] = draw(st.floats(0.0, 90.0))
        services[name] = o
    overlay: dict = {
        "run": {"scale": draw(st.floats(0.01, 0.04)), "seed": draw(st.integers(0, 2**31)),
                "years": 1, "warmup_weeks": draw(st.integers(0, 8)),
                "warmup_rule": draw(st.sampled_from(["pbr", "cobic"]))},
        "services": services,
        "behaviour": {"w_money_qaly_per_gbp": draw(st.floats(0.0, 1e-4)),
                      "w_benefit": draw(st.floats(0.2, 2.0))},
        "capacity": {
            "changes": [{"service": draw(st.sampled_from(THEATRES)),
                         "from_week": draw(st.integers(-8, 52)),
                         "factor": draw(st.sampled_from([0.0, 0.5, 2.0]))}],
            "winter": {"session_factor": draw(st.floats(0.5, 1.0)),
                       "extra_cancellation_rate": draw(st.floats(0.0, 0.2))}},
    }
    if draw(st.booleans()):
        services["hub"]["enabled"] = True
        overlay["pathway"] = {"single_point_of_access": "hub"}
    return overlay, draw(st.sampled_from(["pbr", "cobic"]))


def _by(last: dict, metric: str, group: str) -> dict[str, float]:
    """{group value: value} for one metric in recorder.last."""
    gi = 1 + GROUPS.index(group)
    out: dict[str, float] = defaultdict(float)
    for key, v in last.items():
        if key[0] == metric and key[gi] is not None:
            out[key[gi]] += v
    return out


def _total(last: dict, metric: str) -> float:
    return sum(v for k, v in last.items() if k[0] == metric)


def check_week(model: MSKModel, ledger_rows: list) -> None:
    """Everything that must hold after a step (`ledger_rows`: rows written this week)."""
    model.check_invariants()
    last = model.recorder.last
    w = model.week - 1
    p = model.pop

    # every person ever created is in exactly one state
    people = _by(last, "n_people", "state")
    assert set(people) == {s.name.lower() for s in State}
    assert sum(people.values()) == p.n
    states = p.state[: p.n]
    for s in State:
        assert people[s.name.lower()] == int(np.count_nonzero(states == s))

    # capacity is never exceeded
    for kind in ("first", "follow_up"):
        cap = _by(last, f"capacity_{kind}", "service")
        admitted = _by(last, f"admitted_{kind}", "service")
        for svc, n in admitted.items():
            assert 0 <= n <= cap.get(svc, 0.0) + 1e-9, (kind, svc, n, cap.get(svc))
            assert n == int(n)
    # no theatre session is booked beyond its length; touch-time inside sessions fits them
    planned = _by(last, "sessions_planned", "service")
    minutes = _by(last, "session_minutes_planned", "service")
    for svc, n in planned.items():
        assert _by(last, "sessions_overbooked", "service").get(svc, 0.0) == 0.0, svc
        assert 0 <= _by(last, "sessions_run", "service").get(svc, 0.0) <= n
        capped = _by(last, "touch_minutes_capped", "service").get(svc, 0.0)
        assert 0.0 <= capped <= minutes.get(svc, 0.0) + 1e-6, (svc, capped)

    # stocks are never negative
    for key, v in last.items():
        if key[0].startswith("n_"):
            assert v >= 0, (key, v)
    assert _total(last, "n_waiting_first") >= 0 and _total(last, "n_waiting_surgery") >= 0

    # RTT clocks: the wait of a running clock is non-negative
    clocks = p.clock_start_week[: p.n]
    running = clocks != NEVER
    assert np.all(w - clocks[running] >= 0)
    assert not np.any(running & ((states == State.WELL) | (states == State.GONE)))
    assert _total(last, "n_incomplete_pathways") == int(np.count_nonzero(running))

    # money: the recorder agrees with this week's ledger rows, and nobody pays a negative sum
    assert all(r[5] > 0 for r in ledger_rows), [r for r in ledger_rows if r[5] <= 0]
    assert all(r[0] == w for r in ledger_rows)
    spend = sum(r[5] for r in ledger_rows if r[1] == COMMISSIONER)
    np.testing.assert_allclose(_total(last, "commissioner_spend_gbp"), spend, rtol=1e-9,
                               atol=1e-6)
    income = _by(last, "provider_income_gbp", "provider")
    assert set(income) == set(model.provider_keys)
    for key in model.provider_keys:
        received = sum(r[5] for r in ledger_rows if r[2] == key)
        np.testing.assert_allclose(income[key], received, rtol=1e-9, atol=1e-6)
        paid = sum(r[5] for r in ledger_rows if r[1] == key)
        np.testing.assert_allclose(_by(last, "provider_paid_out_gbp", "provider")[key], paid,
                                   rtol=1e-9, atol=1e-6)


def step_and_check(model: MSKModel) -> None:
    while model.running:
        w = model.week
        ledger = model.ledger if w >= 0 else model._warmup_ledger
        start = len(ledger.rows)
        model.step()
        assert model.week == w + 1
        check_week(model, ledger.rows[start:])
    # contract weeks only in the kept ledger; warm-up rows only in the warm-up ledger
    assert all(r[0] >= 0 for r in model.ledger.rows)
    assert all(r[0] < 0 for r in model._warmup_ledger.rows)


@SETTINGS
@given(overlays())
def test_invariants_every_week(case):
    overlay, contract = case
    cfg = load_config(None, overlays=[overlay])
    model = MSKModel(cfg, contract=contract)
    model.check_invariants()
    step_and_check(model)
    assert model.week == 52
    weekly = model.recorder.frame()
    assert weekly["week"].min() == 0 and weekly["week"].max() == 51


@settings(max_examples=6, deadline=None, database=None,
          phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(theatre=st.sampled_from(THEATRES), seed=st.integers(0, 2**31),
       contract=st.sampled_from(["pbr", "cobic"]), scale=st.floats(0.01, 0.04))
def test_theatre_without_sessions_does_no_procedures(theatre, seed, contract, scale):
    cfg = load_config(None, overlays=[{
        "run": {"scale": scale, "seed": seed, "years": 1, "warmup_weeks": 4},
        "services": {theatre: {"sessions_per_week": 0}}}])
    model = MSKModel(cfg, contract=contract)
    t = model.pathway.index(theatre)
    while model.running:
        model.step()
        last = model.recorder.last
        assert _by(last, "sessions_planned", "service").get(theatre, 0.0) == 0.0
        assert _by(last, "touch_minutes", "service").get(theatre, 0.0) == 0.0
        assert _by(last, "new_procedures", "service").get(theatre, 0.0) == 0.0
        # nobody operated on here: no one recovering from this theatre
        p = model.pop
        assert not np.any((p.state[: p.n] == State.RECOVERING) & (p.service[: p.n] == t))
    weekly = model.recorder.frame()
    if "service" in weekly:
        ops = weekly[(weekly["metric"] == "new_procedures") & (weekly["service"] == theatre)]
        assert ops["value"].sum() == 0


def test_zero_capacity_everywhere_admits_nobody():
    overlay = {"run": {"scale": 0.02, "years": 1, "warmup_weeks": 2},
               "services": {n: {f: 0.0 for f in CAPACITY_FIELDS[s.kind]}
                            for n, s in BASE.services.items()}}
    model = MSKModel(load_config(None, overlays=[overlay]), "pbr")
    step_and_check(model)
    weekly = model.recorder.frame()
    for metric in ("admitted_first", "admitted_follow_up", "new_procedures",
                   "new_first_attendances", "new_follow_up_attendances"):
        assert weekly.loc[weekly["metric"] == metric, "value"].sum() == 0, metric
    # with no clinic or theatre activity, PbR pays for nothing but drugs already prescribed
    assert {r[3] for r in model.ledger.rows} <= {"biologic_week"}

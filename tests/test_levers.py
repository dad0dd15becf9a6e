"""Provider levers are outputs: recorded every week, moved by the contract, within bounds,
one step a quarter at most, and frozen when adaptation is off."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msksim.adaptation import LEVERS, L
from msksim.config import load_config
from msksim.model import MSKModel

RUN = {"scale": 0.05, "years": 1, "warmup_weeks": 13, "seed": 1}
FROZEN = {"behaviour": {"adaptation": {"enabled": False}}}
PRIME = "sth"


def _run(contract: str, *overlays: dict) -> tuple[MSKModel, pd.DataFrame]:
    cfg = load_config(None, overlays=[*overlays, {"run": RUN}])
    model = MSKModel(cfg, contract=contract)
    model.run()
    w = model.recorder.frame()
    return model, w[w["metric"] == "lever_value"]


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[MSKModel, pd.DataFrame]]:
    return {"pbr": _run("pbr"), "cobic": _run("cobic"), "frozen": _run("cobic", FROZEN)}


def _specs(model: MSKModel) -> dict:
    lc = model.cfg.behaviour.adaptation.levers
    return {name: getattr(lc, name) for name in LEVERS}


def _series(levers: pd.DataFrame) -> pd.DataFrame:
    """One column per (provider, lever), one row per contract week."""
    return levers.pivot(index="week", columns=["provider", "lever"], values="value").sort_index()


@pytest.mark.parametrize("which", ["pbr", "cobic", "frozen"])
def test_a_row_for_every_provider_lever_and_week(runs, which):
    model, levers = runs[which]
    weeks = range(model.end_week)
    assert not levers.duplicated(["week", "provider", "lever"]).any()
    got = set(zip(levers["week"], levers["provider"], levers["lever"], strict=True))
    want = {(w, p, n) for w in weeks for p in model.provider_keys for n in LEVERS}
    assert got == want


def test_cobic_lowers_the_primes_listing_and_sessions(runs):
    """Under a capitated budget each operation the prime lists or does is a cost to it; under
    PbR it earns a tariff. So the prime raises its bar for listing and runs fewer sessions."""
    pbr, cobic = runs["pbr"][0], runs["cobic"][0]
    for lever in ("listing_shift_qaly", "theatre_sessions_factor"):
        assert cobic.lever(PRIME, lever) < pbr.lever(PRIME, lever), lever
    # and the weekly rows say the same at the last week
    last = {c: runs[c][1][runs[c][1]["week"] == runs[c][0].end_week - 1]
            .set_index(["provider", "lever"])["value"] for c in ("pbr", "cobic")}
    for lever in ("listing_shift_qaly", "theatre_sessions_factor"):
        assert last["cobic"][(PRIME, lever)] == cobic.lever(PRIME, lever)
        assert last["cobic"][(PRIME, lever)] < last["pbr"][(PRIME, lever)]


@pytest.mark.parametrize("which", ["pbr", "cobic"])
def test_levers_stay_within_bounds(runs, which):
    model, levers = runs[which]
    specs = _specs(model)
    low = levers["lever"].map({n: s.low for n, s in specs.items()})
    high = levers["lever"].map({n: s.high for n, s in specs.items()})
    out = levers[(levers["value"] < low - 1e-12) | (levers["value"] > high + 1e-12)]
    assert out.empty, out


@pytest.mark.parametrize("which", ["pbr", "cobic"])
def test_at_most_one_step_a_quarter(runs, which):
    """Levers move only at a quarter's end, and by one step at most."""
    model, levers = runs[which]
    specs = _specs(model)
    interval = model.cfg.behaviour.adaptation.interval_weeks
    series = _series(levers)
    moves = series.diff().iloc[1:]
    moved_weeks = moves.index[(moves.abs() > 1e-12).any(axis=1)]
    assert len(moved_weeks) > 0  # adaptation is on: something moves in a year
    assert all((w + 1) % interval == 0 for w in moved_weeks), list(moved_weeks)
    for (provider, lever), col in moves.items():
        assert col.abs().max() <= specs[lever].step + 1e-9, (provider, lever)
    # the quarterly snapshots agree: one step at most between consecutive quarters
    hist = pd.DataFrame(model.lever_history).set_index("week").sort_index()
    assert np.all(np.diff(hist.index) == interval)
    for col in hist:
        lever = col.split(".", 1)[1]
        assert hist[col].diff().abs().max() <= specs[lever].step + 1e-9, col


def test_history_matches_weekly_rows(runs):
    model, levers = runs["cobic"]
    series = _series(levers)
    for row in model.lever_history:
        if row["week"] < 0:
            continue
        for key, value in row.items():
            if key == "week":
                continue
            provider, lever = key.split(".", 1)
            assert series.loc[row["week"], (provider, lever)] == value, (row["week"], key)


def test_levers_never_move_when_adaptation_is_off(runs):
    model, levers = runs["frozen"]
    initial = levers["lever"].map({n: s.initial for n, s in _specs(model).items()})
    assert (levers["value"] == initial).all()
    start = np.array([s.initial for s in _specs(model).values()])
    assert np.array_equal(model.levers, np.tile(start, (len(model.provider_keys), 1)))
    assert all(row[f"{p}.{n}"] == _specs(model)[n].initial
               for row in model.lever_history for p in model.provider_keys for n in LEVERS)


def test_gp_support_is_paid_for_by_the_providers_that_fund_it():
    """Each provider funding GP support pays for its share of the city's practices, week by
    week, in its own costs; shares adding up to more than every practice pay for every
    practice once, split in proportion."""
    cfg = load_config(None, overlays=[{
        "run": {"scale": 0.05, "years": 1, "warmup_weeks": 4, "seed": 2},
        "behaviour": {"adaptation": {"enabled": False, "levers": {
            "gp_support_share": {"initial": 0.2, "low": 0.0, "high": 1.0, "step": 0.05}}}}}])
    m = MSKModel(cfg, contract="pbr")
    week = m._gp_support_week_gbp()
    assert week > 0
    np.testing.assert_allclose(m._gp_support_costs_gbp(), 0.2 * week)  # 4 × 0.2 < 1
    m.run()
    w = m.recorder.frame()
    lever_cost = w[w.metric == "provider_lever_cost_gbp"].groupby("provider")["value"].sum()
    for key in m.provider_keys:  # at least its GP support, every contract week
        assert lever_cost.get(key, 0.0) >= 52 * 0.2 * week * (1 - 1e-9), key
    m.levers[:, L["gp_support_share"]] = [1.0, 0.5, 0.5, 0.0]  # twice every practice
    costs = m._gp_support_costs_gbp()
    assert costs.sum() == pytest.approx(week)
    np.testing.assert_allclose(costs, np.array([0.5, 0.25, 0.25, 0.0]) * week)

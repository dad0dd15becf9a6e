"""Payment by Results vs the capitated outcome-based contract, same city, same seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msksim.config import load_config
from msksim.contracts import COMMISSIONER
from msksim.model import MSKModel
from msksim.population import FIELDS

YEARS, WARMUP = 2, 26


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, overlays=[{"run": {"scale": 0.05, "years": YEARS,
                                                "warmup_weeks": WARMUP, "seed": 1}}])


@pytest.fixture(scope="module")
def runs(cfg):
    """Both models stepped to week 0 (snapshots kept), then run to the end."""
    models = {c: MSKModel(cfg, contract=c) for c in ("pbr", "cobic")}
    at_week0 = {}
    for c, m in models.items():
        while m.week < 0:
            m.step()
        at_week0[c] = {
            "n": m.pop.n,
            "arrays": {f: getattr(m.pop, f)[: m.pop.n].copy() for f in FIELDS},
            "last": dict(m.recorder.last),
            "warmup_ledger": list(m._warmup_ledger.rows),
            "rule": m.rule.name,
        }
    for m in models.values():
        m.run()
    weekly = {c: m.recorder.frame() for c, m in models.items()}
    ledger = {c: m.ledger.frame() for c, m in models.items()}
    return {"models": models, "week0": at_week0, "weekly": weekly, "ledger": ledger}


def test_warm_up_identical(runs):
    a, b = runs["week0"]["pbr"], runs["week0"]["cobic"]
    assert a["rule"] == b["rule"] == "pbr"  # the warm-up runs the status quo under both
    assert a["n"] == b["n"] > 0
    for f in FIELDS:
        np.testing.assert_array_equal(a["arrays"][f], b["arrays"][f], err_msg=f)
    assert a["last"] == b["last"]
    assert a["warmup_ledger"] == b["warmup_ledger"]
    assert len(a["warmup_ledger"]) > 0


def test_contract_weeks_then_differ(runs):
    wa, wb = runs["weekly"]["pbr"], runs["weekly"]["cobic"]
    assert wa["week"].min() == 0 and wa["week"].max() == 52 * YEARS - 1
    assert not wa.equals(wb)


def _outpatient_follow_ups(weekly: pd.DataFrame, models: dict, contract: str) -> float:
    pathway = models[contract].pathway
    outpatient = [pathway.names[i] for i in pathway.of_kind("outpatient")]
    assert outpatient
    sel = (weekly["metric"] == "new_follow_up_attendances") & weekly["service"].isin(outpatient)
    return float(weekly.loc[sel, "value"].sum())


def test_cobic_fewer_outpatient_follow_ups(runs):
    """Fee-for-service raises contacts (Gosden 2000; Hickson 1987): PbR pays per follow-up,
    COBIC makes each follow-up a cost to the prime, so follow-ups fall under COBIC."""
    pbr = _outpatient_follow_ups(runs["weekly"]["pbr"], runs["models"], "pbr")
    cobic = _outpatient_follow_ups(runs["weekly"]["cobic"], runs["models"], "cobic")
    assert pbr > 0
    assert cobic < pbr, (cobic, pbr)


def test_follow_ups_per_first_lower_under_cobic(runs):
    """At the prime's own orthopaedic clinics, where follow-up slots are not all taken, paying
    per attendance (PbR) brings more follow-ups than a capitated budget (Gosden 2000, Hickson
    1987). Full clinics (rheumatology, pain, the independent sector) fill their slots either
    way, so they are left out."""
    ratio = {}
    for c in ("pbr", "cobic"):
        w = runs["weekly"][c]
        at = w["service"] == "sth_orthopaedics"
        fu = w.loc[at & (w["metric"] == "new_follow_up_attendances"), "value"].sum()
        first = w.loc[at & (w["metric"] == "new_first_attendances"), "value"].sum()
        ratio[c] = fu / first
    assert ratio["cobic"] < ratio["pbr"]


def test_cobic_ledger_capitation_and_incentive(runs, cfg):
    led = runs["ledger"]["cobic"]
    prime = cfg.contract.cobic.prime_provider
    cap = led[led["activity"] == "capitation"]
    assert sorted(cap["week"]) == list(range(52 * YEARS))
    assert (cap["payer"] == COMMISSIONER).all() and (cap["payee"] == prime).all()
    assert (cap["amount_gbp"] > 0).all()
    inc = led[led["activity"] == "outcome_incentive"]
    assert sorted(inc["week"]) == [52 * y + 51 for y in range(YEARS)]
    assert (inc["payee"] == prime).all() and (inc["amount_gbp"] > 0).all()
    # the incentive never exceeds the year's pool
    for y, res in enumerate(runs["models"]["cobic"].year_results):
        paid = inc.loc[inc["week"] == 52 * y + 51, "amount_gbp"].sum()
        assert paid <= res["score_pool_gbp"] + 1e-6
        assert paid == pytest.approx(res["score_earned_gbp"])


def test_pbr_ledger_has_no_capitation(runs):
    led = runs["ledger"]["pbr"]
    assert len(led) > 0
    assert not led["activity"].isin(["capitation", "outcome_incentive"]).any()
    assert (led["payer"] == COMMISSIONER).all()
    assert (led["amount_gbp"] > 0).all()


def test_cobic_commissioner_pays_only_the_prime(runs, cfg):
    led = runs["ledger"]["cobic"]
    prime = cfg.contract.cobic.prime_provider
    assert (led.loc[led["payer"] == COMMISSIONER, "payee"] == prime).all()
    assert (led["amount_gbp"] > 0).all()
    assert set(led.loc[led["payer"] != COMMISSIONER, "payer"]) <= {prime}


@pytest.mark.parametrize("contract", ["pbr", "cobic"])
def test_weekly_money_matches_ledger(runs, contract):
    """The weekly results file must agree with the ledger file, week by week, including the
    year-end outcome incentive."""
    w, led = runs["weekly"][contract], runs["ledger"][contract]
    rec = w[w["metric"] == "commissioner_spend_gbp"].set_index("week")["value"]
    paid = (led[led["payer"] == COMMISSIONER].groupby("week")["amount_gbp"].sum()
            .reindex(rec.index, fill_value=0.0))
    bad = (rec - paid).abs() > 1e-6
    assert not bad.any(), pd.DataFrame({"weekly": rec[bad], "ledger": paid[bad]})
    for prov in runs["models"][contract].provider_keys:
        inc = w[(w["metric"] == "provider_income_gbp") & (w["provider"] == prov)]
        inc = inc.set_index("week")["value"]
        got = (led[led["payee"] == prov].groupby("week")["amount_gbp"].sum()
               .reindex(inc.index, fill_value=0.0))
        assert np.allclose(inc, got, atol=1e-6), prov

"""Payment rules: margins seen by deciders, who pays whom, outcome scores, the ledger."""

from __future__ import annotations

import math

import numpy as np
import pytest

from msksim.config import OutcomeMeasure, load_config
from msksim.contracts import (
    COMMISSIONER,
    Activities,
    ActivityTariff,
    Cobic,
    ContractYearState,
    Ledger,
    make_rule,
    measure_score,
)


@pytest.fixture(scope="module")
def cfg():
    # a non-trivial local price factor and cost ratio for one provider
    return load_config(None, overlays=[{
        "providers": {"claremont": {"local_price_factor": 0.9, "marginal_cost_to_tariff": 0.6}},
        "contract": {"cobic": {"subcontract_price_share": 0.85}},
    }])


@pytest.fixture(scope="module")
def acts(cfg):
    return Activities.from_config(cfg)


def _providers_by_kind(cfg, kind):
    return [k for k, p in cfg.providers.items() if p.kind == kind]


def test_activities_prices(cfg, acts):
    t = cfg.contract.tariff
    for spec, price in t.outpatient_follow_up_gbp.items():
        assert acts.price_gbp[acts.index(f"follow_up:{spec}")] == pytest.approx(price)
    for proc, pc in cfg.procedures.items():
        assert acts.price_gbp[acts.index(f"procedure:{proc}")] == pytest.approx(pc.tariff_gbp)
    assert len(set(acts.names)) == len(acts.names)


def test_pbr_own_follow_up_margin(cfg, acts):
    rule = ActivityTariff(cfg, acts, list(cfg.providers))
    a = acts.index("follow_up:orthopaedics")
    price = float(acts.price_gbp[a])
    for key, pc in cfg.providers.items():
        expected = price * pc.local_price_factor - pc.marginal_cost_to_tariff * price
        assert rule.unit_margin_gbp(key, key, a) == pytest.approx(expected)
        assert rule.revenue_gbp(key, key, a) == pytest.approx(price * pc.local_price_factor)
    # claremont has factor 0.9 and cost ratio 0.6: margin 0.3 x price
    assert rule.unit_margin_gbp("claremont", "claremont", a) == pytest.approx(0.3 * price)


def test_pbr_nothing_from_another_providers_activity(cfg, acts):
    rule = ActivityTariff(cfg, acts, list(cfg.providers))
    keys = list(cfg.providers)
    for a in range(len(acts.names)):
        for d in keys:
            for p in keys:
                if d != p:
                    assert rule.revenue_gbp(d, p, a) == 0.0
                    assert rule.unit_margin_gbp(d, p, a) == 0.0
    # and a GP (not a provider) earns nothing from anyone's activity
    assert rule.unit_margin_gbp("gp", keys[0], 0) == 0.0


def test_pbr_weekly_payments(cfg, acts):
    keys = list(cfg.providers)
    rule = ActivityTariff(cfg, acts, keys)
    counts = np.zeros((len(keys), len(acts.names)))
    i, a = keys.index("claremont"), acts.index("first:orthopaedics")
    counts[i, a] = 3
    ledger = Ledger()
    rule.weekly_payments(5, counts, 0, ledger)
    assert ledger.rows == [(5, COMMISSIONER, "claremont", "first:orthopaedics", 3.0,
                            pytest.approx(3 * 0.9 * acts.price_gbp[a]))]


@pytest.fixture(scope="module")
def cobic(cfg, acts):
    rule = Cobic(cfg, acts, list(cfg.providers))
    rule.start_year(ContractYearState(year=0, envelope_gbp=1_000_000.0, adults_at_start=1000))
    return rule


def test_cobic_prime_own_activity_costs_only(cfg, acts, cobic):
    prime = cfg.contract.cobic.prime_provider
    ratio = cfg.providers[prime].marginal_cost_to_tariff
    for a, price in enumerate(acts.price_gbp):
        assert cobic.unit_margin_gbp(prime, prime, a) == pytest.approx(-ratio * price)


def test_cobic_prime_pays_subcontractor_share(cfg, acts, cobic):
    prime = cfg.contract.cobic.prime_provider
    share = cfg.contract.cobic.subcontract_price_share
    subs = [k for k in _providers_by_kind(cfg, "independent") if k != prime]
    assert subs
    for sub in subs:
        for a, price in enumerate(acts.price_gbp):
            assert cobic.unit_margin_gbp(prime, sub, a) == pytest.approx(-share * price)
            # ...and the subcontractor is paid that price, less its own cost
            ratio = cfg.providers[sub].marginal_cost_to_tariff
            assert cobic.unit_margin_gbp(sub, sub, a) == pytest.approx((share - ratio) * price)


def test_cobic_prime_pays_out_of_area_full_price(cfg, acts, cobic):
    prime = cfg.contract.cobic.prime_provider
    ooa = _providers_by_kind(cfg, "out_of_area")
    assert ooa
    for key in ooa:
        assert cfg.providers[key].local_price_factor == 1.0
        for a, price in enumerate(acts.price_gbp):
            assert cobic.unit_margin_gbp(prime, key, a) == pytest.approx(-price)


def test_cobic_payments(cfg, acts, cobic):
    keys = list(cfg.providers)
    prime = cfg.contract.cobic.prime_provider
    sub = "claremont"
    counts = np.zeros((len(keys), len(acts.names)))
    a = acts.index("first:orthopaedics")
    counts[keys.index(sub), a] = 2
    counts[keys.index(prime), a] = 7
    ledger = Ledger()
    cobic.weekly_payments(3, counts, 1000, ledger)
    by = {(r[1], r[2], r[3]): r for r in ledger.rows}
    cap = by[(COMMISSIONER, prime, "capitation")]
    share = (1 - cfg.contract.cobic.commissioner_retained_share - cobic.incentive_share(0))
    assert cap[5] == pytest.approx(1_000_000.0 * share / 52.0)
    sub_row = by[(prime, sub, "first:orthopaedics")]
    assert sub_row[5] == pytest.approx(2 * 0.85 * acts.price_gbp[a])
    # the prime's own activity is never paid per item, the commissioner pays nothing per item
    assert not any(r[2] == prime and r[3] != "capitation" for r in ledger.rows)
    assert all(r[1] != COMMISSIONER or r[3] == "capitation" for r in ledger.rows)


def test_make_rule():
    cfg = load_config(None)
    acts = Activities.from_config(cfg)
    assert isinstance(make_rule("pbr", cfg, acts, list(cfg.providers)), ActivityTariff)
    assert isinstance(make_rule("cobic", cfg, acts, list(cfg.providers)), Cobic)
    with pytest.raises(ValueError, match="fee_for_service"):
        make_rule("fee_for_service", cfg, acts, list(cfg.providers))


M = OutcomeMeasure(measure="eq5d_gain", floor=0.1, target=0.3, weight=1.0)


@pytest.mark.parametrize("value,expected", [
    (-5.0, 0.0), (0.0, 0.0), (0.1, 0.0), (0.15, 0.25), (0.2, 0.5), (0.25, 0.75), (0.3, 1.0),
    (0.31, 1.0), (10.0, 1.0), (math.nan, 0.0)])
def test_measure_score(value, expected):
    assert measure_score(M, value) == pytest.approx(expected)


def test_measure_score_linear_between_floor_and_target():
    xs = np.linspace(0.1, 0.3, 41)
    ys = [measure_score(M, x) for x in xs]
    np.testing.assert_allclose(ys, (xs - 0.1) / 0.2, atol=1e-12)
    assert all(b >= a for a, b in zip(ys, ys[1:], strict=False))


def test_ledger_refuses_negative_payments():
    ledger = Ledger()
    with pytest.raises(ValueError):
        ledger.pay(0, COMMISSIONER, "sth", "capitation", 1, -0.01)
    assert ledger.rows == []
    ledger.pay(0, COMMISSIONER, "sth", "capitation", 1, 0.0)  # nothing to record
    ledger.pay(1, COMMISSIONER, "sth", "capitation", 1, 10.0)
    assert ledger.rows == [(1, COMMISSIONER, "sth", "capitation", 1.0, 10.0)]
    df = ledger.frame()
    assert list(df.columns) == ["week", "payer", "payee", "activity", "count", "amount_gbp"]
    assert df["amount_gbp"].tolist() == [10.0]

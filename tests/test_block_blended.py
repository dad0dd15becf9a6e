"""Block and blended payment rules: fixed sums, variable prices, outcome pools, margins."""

from __future__ import annotations

import numpy as np
import pytest

from msksim.config import load_config
from msksim.contracts import (
    COMMISSIONER,
    RULES,
    Activities,
    ActivityTariff,
    Blended,
    Block,
    Cobic,
    ContractYearState,
    Ledger,
    make_rule,
)

#: annual status-quo income per provider (already at the run's scale); none for out of area
STATUS_QUO = {"sth": 5_200_000.0, "claremont": 1_040_000.0, "thornbury": 520_000.0,
              "out_of_area": 0.0}
SCALE = 0.25
BLOCK_UPLIFT = 0.03


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, overlays=[{
        "providers": {"claremont": {"local_price_factor": 0.9, "marginal_cost_to_tariff": 0.6}},
        "contract": {
            "block": {"uplift_per_year": BLOCK_UPLIFT},
            "blended": {"fixed_share": 0.6, "variable_price_share": 0.4, "outcome_share": 0.02,
                        "uplift_per_year": 0.05},
        },
        "run": {"scale": SCALE},
    }])


@pytest.fixture(scope="module")
def acts(cfg):
    return Activities.from_config(cfg)


def _year(rule, year: int) -> None:
    rule.start_year(ContractYearState(year=year, envelope_gbp=1e7, adults_at_start=1000))


def _pay_weeks(rule, counts_by_week: list[np.ndarray]) -> Ledger:
    ledger = Ledger()
    for w, counts in enumerate(counts_by_week):
        rule.weekly_payments(w, counts, 1000, ledger)
    return ledger


def _income(ledger: Ledger) -> dict[str, float]:
    out: dict[str, float] = {}
    for _, _, payee, _, _, amount in ledger.rows:
        out[payee] = out.get(payee, 0.0) + amount
    return out


def _random_counts(cfg, acts, weeks: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.poisson(3.0, (len(cfg.providers), len(acts.names))).astype(float)
            for _ in range(weeks)]


# --- block --------------------------------------------------------------------------------------
@pytest.mark.parametrize("year", [0, 1, 3])
def test_block_pays_uplifted_status_quo_whatever_the_activity(cfg, acts, year):
    rule = Block(cfg, acts, list(cfg.providers))
    rule.set_status_quo_income(STATUS_QUO)
    _year(rule, year)
    busy = _pay_weeks(rule, _random_counts(cfg, acts, 52, seed=year))
    idle = _pay_weeks(rule, [np.zeros((len(cfg.providers), len(acts.names)))] * 52)
    assert busy.rows == idle.rows
    income = _income(busy)
    uplift = (1.0 + BLOCK_UPLIFT) ** year
    # the status-quo income is already at the run's scale: not multiplied by it again
    for p in ("sth", "claremont", "thornbury"):
        assert income[p] == pytest.approx(STATUS_QUO[p] * uplift, rel=1e-12)
    assert "out_of_area" not in income  # a zero sum writes no rows
    assert all(r[1] == COMMISSIONER and r[3] == "block" and r[5] > 0 for r in busy.rows)


def test_block_margin_is_minus_marginal_cost(cfg, acts):
    rule = Block(cfg, acts, list(cfg.providers))
    rule.set_status_quo_income(STATUS_QUO)
    _year(rule, 0)
    for a, price in enumerate(acts.price_gbp):
        for d, pc in cfg.providers.items():
            assert rule.revenue_gbp(d, d, a) == 0.0
            assert rule.unit_margin_gbp(d, d, a) == pytest.approx(
                -pc.marginal_cost_to_tariff * price)
            for p in cfg.providers:
                if p != d:
                    assert rule.unit_margin_gbp(d, p, a) == 0.0
    assert rule.unit_margin_gbp("claremont", "claremont", 0) < 0


def test_block_explicit_sum_overrides_status_quo_and_is_scaled(cfg, acts):
    over = cfg.model_copy(deep=True)
    over.contract.block.annual_gbp = {"claremont": 2_000_000.0}
    rule = Block(over, acts, list(over.providers))
    rule.set_status_quo_income(STATUS_QUO)
    _year(rule, 1)
    income = _income(_pay_weeks(rule, [np.zeros((4, len(acts.names)))] * 52))
    uplift = 1.0 + BLOCK_UPLIFT
    assert income["claremont"] == pytest.approx(2_000_000.0 * SCALE * uplift)
    assert income["sth"] == pytest.approx(STATUS_QUO["sth"] * uplift)


def test_block_without_status_quo_raises(cfg, acts):
    rule = Block(cfg, acts, list(cfg.providers))
    _year(rule, 0)
    with pytest.raises(ValueError, match=r"contract\.block\.annual_gbp.*'sth'"):
        rule.weekly_payments(0, np.zeros((4, len(acts.names))), 1000, Ledger())
    # with some sums given, the error names a provider still without one
    over = cfg.model_copy(deep=True)
    over.contract.block.annual_gbp = {"sth": 1e6, "claremont": 1e5, "out_of_area": 0.0}
    rule = Block(over, acts, list(over.providers))
    with pytest.raises(ValueError, match="'thornbury'"):
        rule.weekly_payments(0, np.zeros((4, len(acts.names))), 1000, Ledger())
    # ...and with a sum for every provider no status quo is needed
    over.contract.block.annual_gbp["thornbury"] = 5e4
    ledger = Ledger()
    rule.weekly_payments(0, np.zeros((4, len(acts.names))), 1000, ledger)
    assert _income(ledger)["thornbury"] == pytest.approx(5e4 * SCALE / 52)


def test_status_quo_income_must_be_a_non_negative_sum(cfg, acts):
    rule = Block(cfg, acts, list(cfg.providers))
    with pytest.raises(ValueError, match="sth"):
        rule.set_status_quo_income({"sth": -1.0})
    with pytest.raises(ValueError, match="sth"):
        rule.set_status_quo_income({"sth": float("nan")})
    assert rule.status_quo_income == {}


# --- blended ------------------------------------------------------------------------------------
@pytest.fixture
def blended(cfg, acts):
    rule = Blended(cfg, acts, list(cfg.providers))
    rule.set_status_quo_income(STATUS_QUO)
    return rule


def test_blended_weekly_is_fixed_plus_variable(cfg, acts, blended):
    keys = list(cfg.providers)
    _year(blended, 1)
    counts = np.zeros((len(keys), len(acts.names)))
    first, hip = acts.index("first:orthopaedics"), acts.index("procedure:hip_replacement")
    counts[keys.index("claremont"), first] = 3
    counts[keys.index("sth"), hip] = 5
    ledger = Ledger()
    blended.weekly_payments(7, counts, 1000, ledger)
    by = {(r[2], r[3]): r for r in ledger.rows}
    for p in ("sth", "claremont", "thornbury"):
        assert by[(p, "fixed")][5] == pytest.approx(0.6 * STATUS_QUO[p] * 1.05 / 52)
    assert ("out_of_area", "fixed") not in by
    assert by[("claremont", "first:orthopaedics")][5] == pytest.approx(
        3 * 0.4 * 0.9 * acts.price_gbp[first])
    assert by[("sth", "procedure:hip_replacement")][5] == pytest.approx(
        5 * 0.4 * 1.0 * acts.price_gbp[hip])
    assert len(ledger.rows) == 5
    assert all(r[0] == 7 and r[1] == COMMISSIONER and r[5] > 0 for r in ledger.rows)
    expected_total = (0.6 * sum(STATUS_QUO.values()) * 1.05 / 52
                      + 0.4 * (3 * 0.9 * acts.price_gbp[first] + 5 * acts.price_gbp[hip]))
    assert sum(r[5] for r in ledger.rows) == pytest.approx(expected_total)


def test_blended_margin_is_variable_price_less_cost(cfg, acts, blended):
    for a, price in enumerate(acts.price_gbp):
        for d, pc in cfg.providers.items():
            revenue = 0.4 * pc.local_price_factor * price
            assert blended.revenue_gbp(d, d, a) == pytest.approx(revenue)
            assert blended.unit_margin_gbp(d, d, a) == pytest.approx(
                revenue - pc.marginal_cost_to_tariff * price)
            assert blended.revenue_gbp("gp", d, a) == 0.0
            for p in cfg.providers:
                if p != d:
                    assert blended.revenue_gbp(d, p, a) == 0.0


#: hip at its floor (score 0), knee midway (0.5), 18 weeks at its target (1): 0.3·0 + 0.3·0.5 + 0.4
OUTCOMES = {"oxford_hip_gain": 16.0, "n_oxford_hip_gain": 30.0,
            "oxford_knee_gain": 15.5, "n_oxford_knee_gain": 40.0,
            "within_18_weeks": 0.92}
WEIGHTED_SCORE = 0.55


def test_blended_year_end_pays_each_pool_on_weighted_scores(cfg, acts, blended):
    _year(blended, 2)
    blended.set_outcome_baseline({"within_18_weeks": (0.85, 500.0)})
    ledger = Ledger()
    res = blended.year_end_payments(103, OUTCOMES, ledger)
    assert res["oxford_hip_gain"] == 0.0
    assert res["oxford_knee_gain"] == pytest.approx(0.5)
    assert res["within_18_weeks"] == pytest.approx(1.0)
    pools = {p: 0.02 * STATUS_QUO[p] * 1.05**2 for p in STATUS_QUO}
    # sth by hand: 0.02 × 5.2m × 1.1025 = 114,660; × 0.55 = 63,063
    assert pools["sth"] * WEIGHTED_SCORE == pytest.approx(63_063.0)
    paid = {r[2]: r[5] for r in ledger.rows}
    assert set(paid) == {"sth", "claremont", "thornbury"}
    for p in paid:
        assert paid[p] == pytest.approx(pools[p] * WEIGHTED_SCORE)
    assert all(r[0] == 103 and r[1] == COMMISSIONER and r[3] == "outcome_incentive"
               for r in ledger.rows)
    assert res["pool_gbp"] == pytest.approx(sum(pools.values()))
    assert res["earned_gbp"] == pytest.approx(sum(paid.values()))
    # the year's means become the baseline where patients were counted; the rest stay
    assert blended.outcome_baseline["oxford_knee_gain"] == (15.5, 40.0)
    assert blended.outcome_baseline["oxford_hip_gain"] == (16.0, 30.0)
    assert blended.outcome_baseline["within_18_weeks"] == (0.85, 500.0)


def test_cobic_year_end_unchanged_by_shared_scoring(cfg, acts):
    rule = Cobic(cfg, acts, list(cfg.providers))
    _year(rule, 0)
    ledger = Ledger()
    res = rule.year_end_payments(51, OUTCOMES, ledger)
    pool = 1e7 * rule.incentive_share(0)
    assert res["pool_gbp"] == pytest.approx(pool)
    assert res["earned_gbp"] == pytest.approx(pool * WEIGHTED_SCORE)
    assert ledger.rows == [(51, COMMISSIONER, cfg.contract.cobic.prime_provider,
                            "outcome_incentive", 1.0, pytest.approx(pool * WEIGHTED_SCORE))]
    assert rule.outcome_baseline["oxford_knee_gain"] == (15.5, 40.0)


def test_blended_outcome_value(cfg, acts, blended):
    _year(blended, 0)
    blended.set_outcome_baseline({"oxford_knee_gain": (15.5, 100.0),
                                  "oxford_hip_gain": (22.0, 100.0)})
    gain = np.array([10.0, 15.5, 20.0])
    # no status-quo income (out of area), or not a provider: no pool, no value
    for d in ("out_of_area", "gp"):
        np.testing.assert_array_equal(blended.outcome_value_gbp(d, "oxford_knee_gain", gain), 0.0)
    value = blended.outcome_value_gbp("claremont", "oxford_knee_gain", gain)
    pool = 0.02 * STATUS_QUO["claremont"]
    np.testing.assert_allclose(value, pool * 0.3 / 5.0 * (gain - 15.5) / 100.0)
    assert value[0] < 0.0 and value[1] == 0.0 and value[2] > 0.0
    # a measure already at its target, or not in the baseline, pays nothing at the margin
    np.testing.assert_array_equal(blended.outcome_value_gbp("sth", "oxford_hip_gain", gain), 0.0)
    np.testing.assert_array_equal(blended.outcome_value_gbp("sth", "eq5d_gain", gain), 0.0)


def test_blended_without_status_quo_raises(cfg, acts):
    rule = Blended(cfg, acts, list(cfg.providers))
    _year(rule, 0)
    with pytest.raises(ValueError, match="contract.blended"):
        rule.weekly_payments(0, np.zeros((4, len(acts.names))), 1000, Ledger())


def test_make_rule_builds_all_four(cfg, acts):
    expected = {"pbr": ActivityTariff, "cobic": Cobic, "block": Block, "blended": Blended}
    assert set(RULES) == set(expected)
    for name, cls in expected.items():
        rule = make_rule(name, cfg, acts, list(cfg.providers))
        assert type(rule) is cls
        assert rule.name == name

"""Patient decision aids: more uptake, fewer eligible patients choosing surgery, by about as
much as the trials found.

Stacey et al. (Cochrane 2017): decision aids for major elective surgery, relative risk of
choosing surgery 0.86 (95% CI 0.75-1.00). `behaviour.patients.uninformed_surgery_optimism` is
calibrated so that full uptake gives RR ~0.86. Providers' levers are frozen (adaptation off) and
the decision-aid share is fixed (initial = low = high), so uptake is the only difference between
runs with the same seed. Shares are pooled over seeds (sum of listed / sum of eligible).
"""

from __future__ import annotations

import pytest

from msksim.config import load_config
from msksim.model import MSKModel

SEEDS = (1, 2, 3)
RUN = {"scale": 0.08, "years": 1, "warmup_weeks": 13}
UPTAKES = (0.0, 0.5, 1.0)
#: Stacey et al. 2017, 95% confidence interval of the relative risk
PUBLISHED_RR = (0.75, 1.00)


def _fixed_uptake(share: float) -> dict:
    return {"behaviour": {"adaptation": {"enabled": False, "levers": {
        "decision_support_share": {"initial": share, "low": share, "high": share,
                                   "step": 0.05}}}}}


@pytest.fixture(scope="module")
def counts() -> dict[float, list[tuple[float, float, float]]]:
    """uptake -> per seed (eligible first attendances, of whom listed, decision aids given)."""
    out: dict[float, list[tuple[float, float, float]]] = {}
    for share in UPTAKES:
        out[share] = []
        for seed in SEEDS:
            cfg = load_config(None, overlays=[_fixed_uptake(share),
                                              {"run": {**RUN, "seed": seed}}])
            model = MSKModel(cfg, contract="pbr")
            model.run()
            w = model.recorder.frame()
            total = {m: float(w.loc[w["metric"] == m, "value"].sum())
                     for m in ("new_surgery_eligible", "new_listed_eligible",
                               "new_decision_aids")}
            lever = w[(w["metric"] == "lever_value") & (w["lever"] == "decision_support_share")]
            assert (lever["value"] == share).all()  # the lever stayed where it was set
            out[share].append((total["new_surgery_eligible"], total["new_listed_eligible"],
                               total["new_decision_aids"]))
    return out


def _pooled_share(rows: list[tuple[float, float, float]]) -> float:
    eligible = sum(r[0] for r in rows)
    assert eligible > 100, "too few eligible patients to read a share from"
    return sum(r[1] for r in rows) / eligible


def test_uptake_sets_how_many_aids_are_given(counts):
    assert all(r[2] == 0 for r in counts[0.0])
    assert all(r[2] > 0 for r in counts[0.5])
    assert sum(r[2] for r in counts[1.0]) > sum(r[2] for r in counts[0.5])


def test_more_decision_aids_fewer_choose_surgery(counts):
    shares = {u: _pooled_share(counts[u]) for u in UPTAKES}
    assert shares[1.0] < shares[0.5] < shares[0.0], shares
    for none, full in zip(counts[0.0], counts[1.0], strict=True):  # and seed by seed
        assert full[1] / full[0] < none[1] / none[0], (none, full)


def test_relative_risk_in_published_range(counts):
    """Full uptake vs none: RR of choosing surgery within Stacey 2017's 95% CI (0.75-1.00)."""
    rr = _pooled_share(counts[1.0]) / _pooled_share(counts[0.0])
    low, high = PUBLISHED_RR
    assert low <= rr <= high, rr


def test_half_uptake_gives_a_relative_risk_between(counts):
    base = _pooled_share(counts[0.0])
    rr_half = _pooled_share(counts[0.5]) / base
    rr_full = _pooled_share(counts[1.0]) / base
    assert rr_full < rr_half < 1.0, (rr_full, rr_half)

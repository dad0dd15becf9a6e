"""The seed papers' other cities: Bedfordshire (Circle's prime contract) and Oldham (Pennine
MSK Partnership's Integrating Pathway Hub) validate and run."""

from __future__ import annotations

from pathlib import Path

import pytest

from msksim.config import load_config
from msksim.pathway import build_pathway
from msksim.run import run_once

REPO = Path(__file__).resolve().parents[1]
CITIES = {"bedford": REPO / "configs" / "bedford.yaml", "oldham": REPO / "configs" / "oldham.yaml"}
SHORT = {"run": {"scale": 0.03, "years": 1, "warmup_weeks": 13}}


@pytest.mark.parametrize("city", sorted(CITIES))
def test_config_validates(city):
    cfg = load_config(CITIES[city])
    pathway = build_pathway(cfg)
    hub = cfg.pathway.single_point_of_access
    assert hub is not None and cfg.services[hub].kind == "hub"
    # every GP referral goes through the hub
    assert [pathway.names[s] for s in pathway.successors("gp")] == [hub]
    # the prime contractor (COBIC, for comparison in Oldham) is the hub's provider
    assert cfg.contract.cobic is not None
    assert cfg.contract.cobic.prime_provider == cfg.services[hub].provider


def test_contract_rules():
    assert load_config(CITIES["bedford"]).contract.rule == "cobic"
    oldham = load_config(CITIES["oldham"])
    assert oldham.contract.rule == "blended"
    # PbR at 90% of tariff for the IPH's own elements, full tariff for the rest (seed 003)
    assert oldham.providers["pennine_msk"].local_price_factor == 0.9
    assert oldham.providers["pennine_acute"].local_price_factor == 1.0
    assert oldham.contract.blended.outcome_share == 0.015


@pytest.mark.parametrize("contract", ["pbr", "cobic"])
@pytest.mark.parametrize("city", sorted(CITIES))
def test_one_short_year_runs(city, contract):
    cfg = load_config(CITIES[city], overlays=[SHORT])
    result = run_once(cfg, contract)
    s = result.summary().set_index("measure")["value"]
    assert s["Commissioner spend"] > 0
    assert s["all operations"] > 0
    hub = cfg.services[cfg.pathway.single_point_of_access].label
    assert s[f"{hub}: first attendances"] > 0
    if contract == "cobic":
        assert (result.ledger["activity"] == "capitation").any()

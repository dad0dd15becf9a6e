"""The default city under Payment by Results lands near published figures (within ±25%).

Targets are figures nobody here wrote (../shared/reference/domain_facts.md):
- ~21% of everyone registered (about 25% of adults) consults a GP for an MSK problem in a year
  (Keele 2009; Jordan 2014)
- MSK spend ~£40m a year (Sheffield CCG Governing Body, 2013)
- ~1.8 follow-ups per first orthopaedic attendance (NHS England, T&O 2019/20)
- ~1,000 hip and ~900 knee replacements a year (HES 2013/14 per head, scaled to Sheffield)
"""

import pytest

from msksim.config import load_config
from msksim.run import run_once

TOLERANCE = 0.25


@pytest.fixture(scope="module")
def pbr_summary():
    cfg = load_config(None, overlays=[{"run": {"scale": 0.25, "years": 5}}])
    table = run_once(cfg, "pbr").summary()
    return {(r.section, r.measure): r.value for r in table.itertuples()}


def _near(value: float, target: float) -> bool:
    return abs(value - target) <= TOLERANCE * target


@pytest.mark.parametrize("key,target", [
    # 21% of everyone registered (Keele 2009) is about 25% of adults, the model's denominator
    (("Primary care", "GP MSK consulters"), 25.0),
    (("Money", "Commissioner spend"), 40.0),
    (("Outpatients and community", "STH orthopaedic clinics: follow-ups per first"), 1.8),
    (("Surgery", "hip replacement"), 1000.0),
    (("Surgery", "knee replacement"), 900.0),
])
def test_default_city_near_published_figures(pbr_summary, key, target):
    value = pbr_summary[key]
    assert _near(value, target), f"{key[1]}: simulated {value:.2f}, published ~{target}"

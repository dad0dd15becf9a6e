"""Common random numbers: the contract changes only the decisions it touches.

PbR and COBIC runs with the same seed share the warm-up (tests/test_cobic_vs_pbr.py). In the
first contract week they must still agree on everything the contract cannot move: who falls
ill, who consults their GP and whom the GP refers where (GP practices are paid the same under
both rules). Only the providers' own decisions may differ, and then only for some patients.
"""

from __future__ import annotations

import numpy as np
import pytest

from msksim.config import load_config
from msksim.model import MSKModel


def _first_contract_week(contract: str) -> tuple[MSKModel, dict]:
    cfg = load_config(None, overlays=[{"run": {"scale": 0.2, "years": 1, "warmup_weeks": 20,
                                                "seed": 11}}])
    m = MSKModel(cfg, contract=contract)
    while m.week < 0:
        m.step()
    decisions: dict[str, np.ndarray] = {}
    original = m._outpatient_outcomes

    def spy(seen, svc, is_first, w):
        before = seen.copy()
        original(seen, svc, is_first, w)
        for s in np.unique(svc):
            for first in (True, False):
                rows = (svc == s) & (is_first == first)
                if rows.any():
                    decisions[f"{s}/{first}"] = np.stack([before[rows],
                                                          m.pop.state[before[rows]]])

    m._outpatient_outcomes = spy
    m.step()  # week 0: the contract's first week
    return m, decisions


@pytest.fixture(scope="module")
def week0():
    return {c: _first_contract_week(c) for c in ("pbr", "cobic")}


def test_same_onsets_consultations_and_gp_referrals(week0):
    (a, _), (b, _) = week0["pbr"], week0["cobic"]
    started_a = np.flatnonzero(a.pop.episode_start_week[: a.pop.n] == 0)
    started_b = np.flatnonzero(b.pop.episode_start_week[: b.pop.n] == 0)
    assert len(started_a) > 0
    np.testing.assert_array_equal(started_a, started_b)
    for key in a.recorder.last:
        metric, route = key[0], key[4]
        if metric in ("new_gp_consultations", "new_gp_consulters", "new_onsets") or (
                metric == "new_referrals" and route and route.startswith("gp->")):
            assert a.recorder.last[key] == b.recorder.last.get(key), key


def test_provider_decisions_differ_only_for_some_patients(week0):
    (_, da), (_, db) = week0["pbr"], week0["cobic"]
    assert da.keys() == db.keys() and da
    seen = changed = 0
    for key in da:
        # the same people attend in the first contract week (the queues were identical)
        np.testing.assert_array_equal(da[key][0], db[key][0])
        seen += da[key].shape[1]
        changed += int((da[key][1] != db[key][1]).sum())
    assert seen > 50
    assert 0 < changed < 0.5 * seen, (changed, seen)

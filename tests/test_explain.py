"""Explaining PbR -> COBIC by mechanism: the parts add up, and money alone moves only money.

A tiny city for one year keeps the 2^M runs quick: three mechanisms by Shapley (8 runs plus the
all-switched run) and all six sequentially (7 runs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msksim.cli import main
from msksim.config import load_config
from msksim.explain import KEYS, MECHANISMS, explain
from msksim.run import run_once

RUN = {"scale": 0.02, "years": 1, "warmup_weeks": 13, "seed": 1}
CLI_RUN = ["--scale", "0.02", "--years", "1", "--warmup-weeks", "13"]
THREE = ("listing", "follow_up", "payment")
#: sections whose figures are money: the only ones the `payment` mechanism may move
MONEY_SECTIONS = {"Money", "Providers"}


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, overlays=[{"run": RUN}])


@pytest.fixture(scope="module")
def shapley3(cfg) -> pd.DataFrame:
    return explain(cfg, "pbr", "cobic", mechanisms=THREE, method="shapley")


@pytest.fixture(scope="module")
def sequential6(cfg) -> pd.DataFrame:
    return explain(cfg, "pbr", "cobic", mechanisms=MECHANISMS, method="sequential")


def _finite(table: pd.DataFrame) -> pd.DataFrame:
    """Figures present (and defined) under both rules; a figure absent from one run (e.g. no
    spinal surgery that year) has no difference to split."""
    return table[np.isfinite(table["difference"].to_numpy(dtype=float))]


def test_shapley_parts_plus_unexplained_equal_the_difference(shapley3):
    t = _finite(shapley3)
    assert len(t) > 50
    parts = t[list(THREE) + ["unexplained"]].to_numpy(dtype=float)
    assert np.isfinite(parts).all()
    assert np.allclose(parts.sum(axis=1), t["difference"], rtol=1e-9, atol=1e-9)
    assert np.allclose(t["cobic"] - t["pbr"], t["difference"])
    assert shapley3.attrs["runs"] == 2 ** len(THREE) + 1
    assert shapley3.attrs["mechanisms"] == list(THREE)
    assert shapley3.attrs["method"] == "shapley"


def test_left_out_mechanisms_are_reported_as_unexplained(shapley3):
    """Triage, decision support and theatre capacity are left out: what they carry is
    reported as `unexplained` rather than pinned on the three mechanisms included."""
    t = _finite(shapley3)
    assert (t["unexplained"].abs() > 1e-9).any()
    left_out = set(MECHANISMS) - set(THREE)
    assert left_out and not left_out & set(t.columns)


def test_sequential_with_all_six_explains_everything(sequential6):
    t = sequential6
    assert t.attrs["runs"] == len(MECHANISMS) + 1
    assert (t["unexplained"] == 0.0).all()
    f = _finite(t)
    parts = f[list(MECHANISMS)].to_numpy(dtype=float)
    assert np.isfinite(parts).all()
    assert np.allclose(parts.sum(axis=1), f["difference"], rtol=1e-9, atol=1e-9)


def test_both_methods_split_the_same_difference(shapley3, sequential6):
    """Same seed, same two end runs (all at pbr, all at cobic): the same totals."""
    both = shapley3[KEYS + ["pbr", "cobic"]].merge(sequential6[KEYS + ["pbr", "cobic"]],
                                                   on=KEYS, suffixes=("_a", "_b"))
    assert len(both) > 50
    for rule in ("pbr", "cobic"):
        np.testing.assert_array_equal(both[f"{rule}_a"], both[f"{rule}_b"])


@pytest.mark.parametrize("which", ["shapley3", "sequential6"])
def test_payment_moves_only_money(which, request):
    """The contract reaches behaviour only through the margins deciders see (the channels);
    switching who is paid what, alone, changes no activity, wait or outcome."""
    t = request.getfixturevalue(which)
    ops = t.set_index("measure").loc["all operations"]
    assert ops["difference"] != 0  # the rules do differ in operations...
    assert ops["payment"] == 0.0  # ...but not because of the money itself
    other = t[~t["section"].isin(MONEY_SECTIONS)]
    moved = other[np.isfinite(other["payment"].to_numpy(dtype=float))
                  & (other["payment"] != 0.0)]
    assert moved.empty, moved[KEYS + ["payment"]]
    money = t[t["section"].isin(MONEY_SECTIONS)]
    assert (money["payment"].abs() > 0).any()


def test_cli_explain_writes_the_table(tmp_path):
    out = tmp_path / "explained"
    code = main(["explain", *CLI_RUN, "--mechanisms", "listing,payment", "--quiet",
                 "--out", str(out)])
    assert code == 0
    table = pd.read_parquet(out / "explanation.parquet")
    assert {"pbr", "cobic", "difference", "listing", "payment", "unexplained"} <= set(table)
    assert set(KEYS) <= set(table)
    assert len(table) > 50
    assert (out / "explanation_meta.json").is_file()


def test_cli_explain_rejects_an_unknown_mechanism(tmp_path, capsys):
    code = main(["explain", *CLI_RUN, "--mechanisms", "listing,bribery", "--quiet",
                 "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--mechanisms" in err and "bribery" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_the_decision_support_channel_reaches_the_decision_aid_lever():
    """Seeing decision aids through COBIC's margins, with everything else under PbR, changes
    how many aids providers give (and nothing before the contract starts)."""
    cfg = load_config(None, overlays=[{"run": {"scale": 0.05, "years": 2, "warmup_weeks": 20,
                                                "seed": 3}}])
    base = run_once(cfg, "pbr").weekly
    mixed = run_once(cfg, "pbr", channels={"decision_support": "cobic"}).weekly

    def aids(w):
        return w[w.metric == "new_decision_aids"]["value"].sum()

    assert aids(mixed) != aids(base)
    first = base[base.week == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, mixed[mixed.week == 0].reset_index(drop=True))

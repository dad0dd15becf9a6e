"""`msksim capacity`: the theatre-sessions search for the 18-week standard.

Runs are tiny (3% of the city, two contract years, a 26-week warm-up, a coarse tolerance) so
the file runs in well under a minute.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from msksim.capacity import (
    CapacitySpec,
    find_sessions,
    load_spec,
    prepare,
    searched_config,
)
from msksim.cli import main
from msksim.config import TheatreService
from msksim.run import run_once

REPO = Path(__file__).resolve().parents[1]
SPEC_FILE = REPO / "experiments" / "theatre_sessions_18wk.yaml"

#: tiny settings: 2 replications, the target held in year 2 of 2, ~8 sessions a week tolerance,
#: a narrow starting bracket (0.75-2 × today's sessions). The warm-up is half a year because the
#: starting backlog of first appointments (rheumatology's most) takes most of a year to clear,
#: and no number of theatre sessions would meet the 18-week standard while it lasts
TINY = {"scale": 0.03, "years": 2, "warmup_weeks": 26, "replications": 2, "workers": 1,
        "hold_from_year": 1, "tolerance_sessions": 8.0, "factor_low": 0.75, "curve_points": 0}


@pytest.fixture(scope="module")
def searched():
    return find_sessions(load_spec(None, TINY))


def _theatres(cfg) -> dict[str, TheatreService]:
    return {n: s for n, s in cfg.services.items() if isinstance(s, TheatreService) and s.enabled}


# ----------------------------------------------------------------------------------------------
# the bisection
# ----------------------------------------------------------------------------------------------
def test_threshold_meets_target_and_a_tolerance_below_does_not(searched):
    spec = searched.spec
    tol_factor = spec.tolerance_sessions / searched.planned_sessions
    assert [rep.seed for rep in searched.replications] == [1, 2]
    for rep in searched.replications:
        assert rep.status == "found", rep
        at, below = rep.at(rep.threshold_factor), rep.at(rep.below_factor)
        assert at is not None and below is not None, rep.evaluations
        # the run at the threshold held the target in every month; the run just below did not
        assert at.met and at.min_monthly_share >= spec.target_18wk
        assert not below.met and below.min_monthly_share < spec.target_18wk
        assert 0 < rep.threshold_factor - rep.below_factor <= tol_factor + 1e-9
        assert at.sessions - below.sessions <= spec.tolerance_sessions + 1e-6
        # each run's worst month lies in the hold period (contract year 2: months 13-25)
        for e in rep.evaluations:
            assert 13 <= e.worst_month <= 25, e
            assert e.met == (e.min_monthly_share >= spec.target_18wk)
    table = searched.thresholds()
    assert len(table) == 2
    assert (table["threshold_sessions"]
            == table["threshold_factor"] * searched.planned_sessions).all()


def test_evaluation_matches_the_weekly_results(searched):
    """Recompute one replication's worst month at its threshold straight from a model run."""
    rep = searched.replications[0]
    prep = searched.prepared
    cfg = searched_config(prep.config, rep.threshold_factor, prep.services, seed=rep.seed)
    weekly = run_once(cfg, prep.contract).weekly
    city = weekly[weekly["metric"].isin(["n_within_18_weeks", "n_incomplete_pathways"])]
    wide = city.pivot_table(index="week", columns="metric", values="value", aggfunc="sum")
    wide = wide[wide.index >= 52]
    share = wide["n_within_18_weeks"] / wide["n_incomplete_pathways"]
    months = [share.iloc[i:i + 4].mean() for i in range(0, len(share), 4)]
    assert len(months) == 13
    assert rep.at(rep.threshold_factor).min_monthly_share == pytest.approx(min(months))


def test_theatre_room_is_reported(searched):
    # today's plan fits every site; at twice today's sessions STH's 4 theatres (40 a week) do not
    assert searched.site_limits(1.0) == []
    over = {t.service: need for t, need in searched.site_limits(2.0)}
    assert over["sth_theatres"] == pytest.approx(62.0)


# ----------------------------------------------------------------------------------------------
# the configs searched
# ----------------------------------------------------------------------------------------------
def test_provider_scales_only_its_theatres():
    prep = prepare(load_spec(None, {**TINY, "provider": "claremont"}))
    assert prep.services == ["claremont_theatres"]
    today = _theatres(prep.config)
    assert prep.planned_sessions == today["claremont_theatres"].sessions_per_week
    cfg = searched_config(prep.config, 2.5, prep.services)
    after = _theatres(cfg)
    assert after["claremont_theatres"].sessions_per_week == pytest.approx(
        2.5 * today["claremont_theatres"].sessions_per_week)
    assert after["claremont_theatres"].theatres is None  # the site limit is lifted
    for name in today:
        if name != "claremont_theatres":
            assert after[name].sessions_per_week == today[name].sessions_per_week, name
            assert after[name].theatres == today[name].theatres, name
    lever = cfg.behaviour.adaptation.levers.theatre_sessions_factor
    assert (lever.initial, lever.low, lever.high) == (1.0, 1.0, 1.0)


def test_city_wide_scales_every_theatre():
    prep = prepare(load_spec(None, TINY))
    today = _theatres(prep.config)
    assert sorted(prep.services) == sorted(today)
    after = _theatres(searched_config(prep.config, 0.5, prep.services))
    for name, svc in today.items():
        assert after[name].sessions_per_week == pytest.approx(0.5 * svc.sessions_per_week)
    assert prep.planned_sessions == pytest.approx(sum(s.sessions_per_week
                                                      for s in today.values()))


# ----------------------------------------------------------------------------------------------
# the spec file and the command line
# ----------------------------------------------------------------------------------------------
def test_spec_file_loads_and_flags_override():
    spec = load_spec(SPEC_FILE)
    assert isinstance(spec, CapacitySpec)
    assert (spec.target_18wk, spec.years, spec.replications, spec.scale, spec.contract,
            spec.hold_from_year, spec.config) == (0.92, 5, 5, 0.25, "pbr", 1, None)
    assert "18 weeks" in spec.question
    spec = load_spec(SPEC_FILE, {"replications": 2, "provider": None})
    assert spec.replications == 2 and spec.years == 5
    assert spec.label("replications") == "--replications"
    assert spec.label("years") == "theatre_sessions_18wk.yaml: years"


@pytest.mark.parametrize("args, words", [
    (["--provider", "xyz"], ["--provider", "'xyz'", "allowed", "sth"]),
    (["--target-18wk", "1.5"], ["--target-18wk", "1.5", "at most 1"]),
    (["--replications", "0"], ["--replications", "0", "1 or more"]),
])
def test_bad_flags_exit_2_with_one_line(args, words, capsys):
    assert main(["capacity", str(SPEC_FILE), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_unknown_spec_key_exits_2(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("target_18wk: 0.9\nsessions: 40\n", encoding="utf-8")
    assert main(["capacity", str(spec)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "spec.yaml: sessions: unknown setting" in err and "target_18wk" in err


def test_cli_writes_outputs(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "replications": 1, "tolerance_sessions": 25.0,
                                    "curve_points": 3, "question": "A tiny test."}),
                    encoding="utf-8")
    out = tmp_path / "cap"
    assert main(["capacity", str(spec), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "within 18 weeks" in printed and "sessions a week" in printed
    for name in ("capacity.png", "thresholds.csv", "curve.csv", "summary.md", "meta.json"):
        assert (out / name).is_file(), name
    assert (out / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    thresholds = pd.read_csv(out / "thresholds.csv")
    assert len(thresholds) == 1 and thresholds["seed"].tolist() == [1]
    curve = pd.read_csv(out / "curve.csv")
    assert 1 <= len(curve) <= 3 and (curve["factor"] == 1.0).any()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seeds"] == [1] and meta["spec"]["scale"] == 0.03
    assert meta["config_at_today"]["behaviour"]["adaptation"]["levers"][
        "theatre_sessions_factor"]["high"] == 1.0
    assert {"git_sha", "msksim_version"} <= set(meta)
    assert (out / "summary.md").read_text(encoding="utf-8").startswith("# ")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

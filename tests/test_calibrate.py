"""`msksim calibrate`: targets as data, one-line errors, an end-to-end fit whose overlay
reproduces its reported figures, and an optimiser that recovers a known setting."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from msksim.calibrate import (
    DERIVED,
    Calibration,
    fit,
    load_targets,
    measure_run,
    objective,
    resolve_parameters,
)
from msksim.cli import main
from msksim.config import BUILTIN_CONFIG, ConfigError, deep_merge, load_config, read_yaml
from msksim.run import run_once

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "configs" / "targets" / "sheffield.yaml"
TINY = ["--scale", "0.02", "--years", "1", "--replications", "1", "--workers", "1"]


def test_targets_file_loads_and_every_target_is_sourced():
    targets = load_targets(TARGETS)
    assert len(targets) >= 15
    for t in targets:
        assert t.name and t.source and math.isfinite(t.value) and t.band > 0
        if t.measure is None:
            assert t.note, f"{t.name}: a target the model cannot produce needs a note"
        elif "derived" in t.measure:
            assert t.measure["derived"] in DERIVED


@pytest.mark.parametrize("param,field", [
    ("behaviour.no_such_setting=0:1", "behaviour.no_such_setting"),
    ("behaviour.gp_refer=0:1", "behaviour.gp_refer"),
    ("behaviour.follow_up_benefit_qaly=0.1:0.05", "behaviour.follow_up_benefit_qaly"),
    ("behaviour.follow_up_benefit_qaly", "--param"),
])
def test_bad_param_is_a_one_line_config_error(param, field, tmp_path, capsys):
    code = main(["calibrate", "--param", param, "--out", str(tmp_path / "c"), *TINY])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and field in err


def test_calibration_section_is_validated():
    for ov, field in (({"parameters": [{"path": "behaviour.nope", "low": 0, "high": 1}]},
                       "calibration.parameters.0.path"),
                      ({"parameters": [{"path": "behaviour.follow_up_benefit_qaly", "low": 1,
                                        "high": 1}]}, "calibration.parameters.0.high")):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            load_config(None, overlays=[{"calibration": ov}])


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("calib")
    code = main(["calibrate", "--out", str(out), "--budget", "10", "--quiet", *TINY,
                 "--param", "behaviour.follow_up_benefit_qaly=0.02:0.1"])
    assert code == 0
    return out


def test_tiny_calibration_writes_every_output(tiny_fit):
    for name in ("fit.csv", "fit.png", "calibrated.yaml", "calibration.json"):
        assert (tiny_fit / name).stat().st_size > 0
    table = pd.read_csv(tiny_fit / "fit.csv")
    targets = load_targets(TARGETS)
    assert list(table["target"]) == [t.name for t in targets]
    produced = {t.name for t in targets if t.produced}
    for r in table.itertuples():
        if r.target in produced:
            assert r.within_after in ("yes", "no")
        else:
            assert r.within_after == "not produced by the model"
    meta = json.loads((tiny_fit / "calibration.json").read_text())
    assert meta["evaluations"] <= meta["budget"] == 10
    assert meta["objective_after"] <= meta["objective_before"]
    # differential evolution ran past its starting population (5 of the 10 evaluations)
    assert len(meta["trace"]) > 5
    assert meta["git_sha"] and meta["trace"]


def test_calibrated_overlay_reproduces_the_reported_figures(tiny_fit):
    overlay = read_yaml(tiny_fit / "calibrated.yaml")
    assert set(overlay) == {"behaviour"}
    cfg = load_config(None, overlays=[overlay, {"run": {"scale": 0.02, "years": 1,
                                                        "seed": 1}}])
    figures = measure_run(run_once(cfg, "pbr"), load_targets(TARGETS))
    after = json.loads((tiny_fit / "calibration.json").read_text())["figures_after"]
    for name, value in after.items():
        if math.isfinite(value):
            assert figures[name] == pytest.approx(value, rel=1e-9), name


def test_optimiser_recovers_a_known_setting():
    """Targets made by the model itself at follow_up_benefit_qaly = 0.026: the fit, started
    at the config's value (0.034), must land near 0.026 and fit those targets better than the
    start did. (Above ~0.05 the clinics' follow-up capacity binds and follow-ups per first no
    longer tell values apart, so the made-up truth lies below the start.)"""
    targets = [t for t in load_targets(TARGETS)
               if t.name == "Follow-ups per first orthopaedic attendance"]
    data = deep_merge(read_yaml(BUILTIN_CONFIG), {"run": {"scale": 0.02, "years": 1}})
    truth = 0.026
    cfg = load_config(None, overlays=[{"run": {"scale": 0.02, "years": 1, "seed": 1},
                                       "behaviour": {"follow_up_benefit_qaly": truth}}])
    made = measure_run(run_once(cfg, "pbr"), targets)
    targets[0].value = made[targets[0].name]
    targets[0].tolerance, targets[0].tolerance_type = 0.02, "relative"
    params = resolve_parameters(load_config(), [("behaviour.follow_up_benefit_qaly", 0.015,
                                                 0.06)])
    cal = Calibration(data, params, targets, replications=1, workers=1)
    res = fit(cal, budget=15, seed=3)
    best = res["best"][0]
    assert cal.cache[res["best"]][0] < cal.cache[res["start"]][0]
    assert cal.cache[res["best"]][0] <= 1.0  # within tolerance of the made-up target
    assert abs(best - truth) < 0.015, best
    assert len(cal.cache) <= 15


def test_objective_counts_tolerances():
    t = load_targets(TARGETS)[0]  # 25% ± 15% relative
    assert objective({t.name: t.value}, [t]) == 0
    assert objective({t.name: t.value + t.band}, [t]) == pytest.approx(1.0)
    assert objective({}, [t]) == 25.0


def test_targets_file_errors_name_the_field(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text(yaml.safe_dump({"targets": [{"name": "x", "value": 1, "tolerance": 0.1}]}))
    with pytest.raises(ConfigError, match=r"targets\.0\.source"):
        load_targets(bad)


def test_same_seed_same_fit_with_one_worker_or_two(tmp_path):
    """A calibration is a function of its settings and seed, whatever runs it."""
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        assert main(["calibrate", "--out", str(out), "--budget", "5", "--quiet", *TINY,
                     "--workers", workers,
                     "--param", "behaviour.follow_up_benefit_qaly=0.02:0.1"]) == 0
        meta = json.loads((out / "calibration.json").read_text())
        outs.append(([t["objective"] for t in meta["trace"]], meta["figures_after"]))
    assert outs[0] == outs[1]


def test_people_treated_beyond_primary_care_are_counted_once():
    """Someone seen in community MSK and then in a clinic is one person treated beyond primary
    care; a referral that is never attended is no one."""
    meta = {"config": {"services": {
        "community_msk": {"kind": "community"}, "hub": {"kind": "hub", "enabled": False},
        "sth_orthopaedics": {"kind": "outpatient", "specialty": "orthopaedics"},
        "sth_rheumatology": {"kind": "outpatient", "specialty": "rheumatology"}}}}
    rows = [("new_gp_consulters", 300, None, None, None),
            ("new_referrals", 500, None, None, "gp->community_msk"),  # not all attended
            ("new_first_attendances", 100, "community_msk", None, None),
            ("new_first_attendances", 50, "sth_orthopaedics", None, None),
            ("new_first_attendances_by_source", 30, "sth_orthopaedics", "gp", None),
            ("new_first_attendances_by_source", 20, "sth_orthopaedics", "community_msk", None),
            ("new_first_attendances", 10, "sth_rheumatology", None, None),
            ("new_first_attendances_by_source", 10, "sth_rheumatology", "gp", None)]
    weekly = pd.DataFrame([{"week": 0, "metric": m, "value": v, "service": s, "source": src,
                            "route": r} for m, v, s, src, r in rows])
    people = 100 + 50 - 20 + 10
    assert DERIVED["beyond_primary_care_pct"](weekly, pd.DataFrame(), meta) == \
        pytest.approx(100 * people / 300)


def test_consulters_by_condition_per_10k_adults():
    """Consulters for back or knee problems a year per 10,000 adults, from the GP consulters
    recorded by condition (knee: knee OA and other knee pain added)."""
    rows = [(w, m, v, c) for w in range(104) for m, v, c in (
        ("n_adults", 20_000, None), ("new_gp_condition_consulters", 20, "back_pain"),
        ("new_gp_condition_consulters", 5, "knee_oa"),
        ("new_gp_condition_consulters", 3, "knee_pain"),
        ("new_gp_condition_consulters", 40, "shoulder_pain"))]
    weekly = pd.DataFrame(rows, columns=["week", "metric", "value", "condition"])
    back = DERIVED["back_pain_consulters_per_10k_adults"](weekly, pd.DataFrame(), {})
    knee = DERIVED["knee_consulters_per_10k_adults"](weekly, pd.DataFrame(), {})
    assert back == pytest.approx(20 * 52 / 20_000 * 10_000)  # 520 a year per 10,000 adults
    assert knee == pytest.approx(8 * 52 / 20_000 * 10_000)

"""Sensitivity screening (Morris): the SALib wiring against known answers, the spec's errors,
paired runs with compare_with, and one small model run through the CLI."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import msksim.experiment
from msksim.cli import main
from msksim.config import ConfigError, load_config
from msksim.sensitivity import COLUMNS, lookup, morris_sample, overlay_for, screen

REPO = Path(__file__).resolve().parents[1]
SHEFFIELD = REPO / "configs" / "sheffield.yaml"
TINY_RUN = {"scale": 0.02, "years": 1, "warmup_weeks": 8}
NULL = "contract.blended.outcome_share"  # only the blended rule reads it
STRONG = "services.sth_theatres.sessions_per_week"


def _spec(**changes) -> dict:
    data = {
        "name": "test",
        "question": "Do theatre sessions matter more than a rule that is not simulated?",
        "base": str(SHEFFIELD),
        "contract": "pbr",
        "kpi": "all operations",
        "trajectories": 2,
        "levels": 4,
        "seed": 3,
        "run": dict(TINY_RUN),
        "parameters": {NULL: [0.0, 0.1], STRONG: [10, 40]},
    }
    data.update(changes)
    return data


@pytest.fixture
def write_spec(tmp_path):
    def write(data: dict, name: str = "sens.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


# ----------------------------------------------------------------------------------------------
# the Morris plumbing, independent of the model
# ----------------------------------------------------------------------------------------------
def test_morris_known_answer_linear():
    """y = 10·x1 + 0·x2: x2 has no effect; x1's effect is its change over the whole range."""
    table = screen(lambda x: 10.0 * x[0] + 0.0 * x[1], ["x1", "x2"], [[0.0, 2.0], [5.0, 7.0]],
                   trajectories=6, levels=4, seed=2)
    got = table.set_index("parameter")
    assert list(table["parameter"]) == ["x1", "x2"]
    assert got.loc["x1", "rank"] == 1 and got.loc["x2", "rank"] == 2
    assert got.loc["x2", "mu_star"] == 0.0 and got.loc["x2", "sigma"] == 0.0
    # 10 per unit × a range of 2 = 20, the same from every trajectory (linear: no spread)
    assert got.loc["x1", "mu_star"] == pytest.approx(20.0)
    assert got.loc["x1", "mu"] == pytest.approx(20.0)
    assert got.loc["x1", "sigma"] == pytest.approx(0.0, abs=1e-9)


def test_morris_known_answer_sign_and_interaction():
    """y = -3·a + b·c: a lowers y steadily (mu = -3, sigma 0); b and c interact (sigma > 0)."""
    table = screen(lambda x: -3.0 * x[0] + x[1] * x[2], ["a", "b", "c"], [[0, 1]] * 3,
                   trajectories=10, seed=5).set_index("parameter")
    assert table.loc["a", "mu"] == pytest.approx(-3.0)
    assert table.loc["a", "mu_star"] == pytest.approx(3.0)
    assert table.loc["a", "rank"] == 1
    for name in ("b", "c"):
        assert 0 < table.loc[name, "mu_star"] < 1
        assert table.loc[name, "sigma"] > 0


def test_morris_sample_is_reproducible_and_within_bounds():
    a = morris_sample(["p", "q"], [[1.0, 3.0], [-1.0, 0.0]], 4, seed=9)
    b = morris_sample(["p", "q"], [[1.0, 3.0], [-1.0, 0.0]], 4, seed=9)
    assert a.shape == (4 * 3, 2)
    np.testing.assert_array_equal(a, b)
    assert a[:, 0].min() >= 1.0 and a[:, 0].max() <= 3.0
    assert a[:, 1].min() >= -1.0 and a[:, 1].max() <= 0.0


# ----------------------------------------------------------------------------------------------
# dotted paths
# ----------------------------------------------------------------------------------------------
def test_paths_into_the_config():
    cfg = load_config(SHEFFIELD)
    tree = cfg.model_dump(mode="json")
    assert lookup(tree, "behaviour.w_money_qaly_per_gbp") == pytest.approx(2e-5)
    assert lookup(tree, "contract.cobic.outcome_incentive_share_by_year.1") == 0.05
    assert len(lookup(tree, "contract.cobic.outcome_incentive_share_by_year.*")) == 5
    with pytest.raises(ConfigError, match="did you mean 'w_money_qaly_per_gbp'"):
        lookup(tree, "behaviour.w_mony_qaly_per_gbp")
    with pytest.raises(ConfigError, match="not a number"):
        lookup(tree, "contract.cobic.prime_provider")
    with pytest.raises(ConfigError, match="index 0-4"):
        lookup(tree, "contract.cobic.outcome_incentive_share_by_year.7")
    overlay = overlay_for({"behaviour.gp_refer.surgical_benefit_share": 0.4,
                           "contract.cobic.outcome_incentive_share_by_year.*": 0.12,
                           "contract.cobic.outcome_measures.0.floor": 15.0}, tree)
    moved = load_config(SHEFFIELD, overlays=[overlay])
    assert moved.behaviour.gp_refer.surgical_benefit_share == 0.4
    assert moved.behaviour.gp_refer.friction_qaly == cfg.behaviour.gp_refer.friction_qaly
    assert moved.contract.cobic.outcome_incentive_share_by_year == [0.12] * 5
    assert moved.contract.cobic.outcome_measures[0].floor == 15.0
    assert moved.contract.cobic.outcome_measures[1] == cfg.contract.cobic.outcome_measures[1]


# ----------------------------------------------------------------------------------------------
# spec errors: exit code 2 and one line naming the problem
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, expected", [
    ({"replications": 3}, "replications: unknown setting"),
    ({"run": {"scale": 0.02, "sead": 1}}, "run.sead: unknown setting"),
    ({"parameters": {"behaviour.w_mony_qaly_per_gbp": [0, 1e-4]}},
     "parameters.behaviour.w_mony_qaly_per_gbp: 'w_mony_qaly_per_gbp' is not a setting of "
     "behaviour"),
    ({"parameters": {"services.nowhere.sessions_per_week": [1, 2]}},
     "parameters.services.nowhere.sessions_per_week: 'nowhere' is not a setting of services"),
    ({"parameters": {STRONG: [40, 10]}}, f"parameters.{STRONG}: low 40.0 must be below high"),
    ({"parameters": {STRONG: [10, 10]}}, f"parameters.{STRONG}: low 10.0 must be below high"),
    ({"parameters": {STRONG: [10]}}, f"parameters.{STRONG}: [10] is not allowed; give [low, "
                                     "high], two numbers"),
    ({"parameters": {"contract.cobic.outcome_incentive_share_by_year.*": [0, 0.1],
                     "contract.cobic.outcome_incentive_share_by_year.0": [0, 0.1]}},
     "outcome_incentive_share_by_year.* already sets every element"),
    ({"parameters": {"contract.cobic.outcome_incentive_share_by_year": [0, 0.1]}},
     "is a list ([0.025, 0.05, 0.075, 0.1, 0.1]); name one element by its index"),
    ({"parameters": {"behaviour.gp_refer.surgical_benefit_share": [0.0, 1.5]}},
     "parameters.behaviour.gp_refer.surgical_benefit_share: the range [0, 1.5] is not allowed: "
     "its high end 1.5"),
    ({"parameters": {"run.scale": [0.1, 0.2]}}, "run settings are not assumptions"),
    ({"contract": "fee_for_service"}, "contract: 'fee_for_service' is not a payment rule"),
    ({"compare_with": "pbr"}, "compare_with: 'pbr' is the contract itself"),
    ({"levels": 5}, "levels: 5 is not allowed"),
])
def test_spec_errors_exit_2_with_one_line(write_spec, capsys, changes, expected):
    path = write_spec(_spec(**changes))
    assert main(["sensitivity", str(path), "--out", str(path.parent / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("msksim: config error: sens.yaml: "), err
    assert expected in err, err
    assert not (path.parent / "out").exists()  # nothing ran, nothing written


# ----------------------------------------------------------------------------------------------
# the runner's wiring with a stand-in model (instant): pairing, the KPI, whole numbers
# ----------------------------------------------------------------------------------------------
def _fake_run_job(job):
    """A stand-in for a model run: operations = sessions × theatres, doubled under COBIC."""
    label, index, cfg, contract = job
    th = cfg.services["sth_theatres"]
    value = th.sessions_per_week * th.theatres * (2.0 if contract == "cobic" else 1.0)
    summary = pd.DataFrame({"section": ["Surgery"], "measure": ["all operations"],
                            "unit": ["operations a year"], "value": [value]})
    return label, index, summary, pd.DataFrame(), {"seed": cfg.run.seed, "wall_seconds": 0.0}


def test_compare_with_pairs_runs_and_rounds_whole_numbers(write_spec, monkeypatch, tmp_path):
    monkeypatch.setattr(msksim.experiment, "_run_job", _fake_run_job)
    path = write_spec(_spec(contract="cobic", compare_with="pbr", trajectories=3,
                            parameters={STRONG: [20, 40], "services.sth_theatres.theatres": [4, 8],
                                        NULL: [0.0, 0.1]}))
    out = tmp_path / "out"
    assert main(["sensitivity", str(path), "--out", str(out), "--quiet"]) == 0
    samples = pd.read_csv(out / "samples.csv")
    assert len(samples) == 3 * (3 + 1)
    assert samples["services.sth_theatres.theatres"].dtype == np.int64
    assert (samples["seed"] == 3).all()
    # the figure is the paired difference: cobic (2 × s × t) − pbr (s × t) = s × t
    product = samples[STRONG] * samples["services.sth_theatres.theatres"]
    np.testing.assert_allclose(samples["value_cobic"], 2 * product)
    np.testing.assert_allclose(samples["value_pbr"], product)
    np.testing.assert_allclose(samples["kpi"], product)
    table = pd.read_csv(out / "sensitivity.csv")
    assert list(table.columns) == COLUMNS
    assert table.set_index("parameter").loc[NULL, "mu_star"] == 0.0
    assert set(table["parameter"].head(2)) == {STRONG, "services.sth_theatres.theatres"}
    assert (table["kpi"] == "all operations: cobic minus pbr").all()


def test_unknown_kpi_is_a_config_error(write_spec, monkeypatch, capsys):
    monkeypatch.setattr(msksim.experiment, "_run_job", _fake_run_job)
    path = write_spec(_spec(kpi="all operation"))
    assert main(["sensitivity", str(path), "--out", str(path.parent / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "kpi: 'all operation' is not a figure of this run; did you mean ['all operations']" \
        in err, err


# ----------------------------------------------------------------------------------------------
# the model itself, through the CLI: one tiny screening (6 runs)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_screen(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sensitivity")
    path = folder / "sens.yaml"
    path.write_text(yaml.safe_dump(_spec(), sort_keys=False), encoding="utf-8")
    out = folder / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["sensitivity", str(path), "--out", str(out), "--workers", "1"])
    return code, out, stdout.getvalue(), stderr.getvalue()


def test_cli_writes_the_four_files(model_screen):
    code, out, stdout, stderr = model_screen
    assert code == 0, stderr
    for name in ("sensitivity.csv", "morris.png", "samples.csv", "meta.json"):
        assert (out / name).is_file(), name
    assert (out / "morris.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(out / "sensitivity.csv")
    assert list(table.columns) == COLUMNS
    assert (table["kpi"] == "all operations").all()
    assert (table["unit"] == "operations a year").all()
    samples = pd.read_csv(out / "samples.csv")
    assert len(samples) == 2 * (2 + 1)
    assert {"run", "trajectory", NULL, STRONG, "seed", "kpi"} <= set(samples.columns)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 3 and meta["settings"]["runs"] == 6
    assert meta["settings"]["trajectories"] == 2 and meta["spec"]["kpi"] == "all operations"
    assert "git_sha" in meta and "msksim_version" in meta
    assert "Ranking (most influential first;" in stdout
    assert "mu* is the average change in all operations under pbr when" in stdout


def test_common_random_numbers_null_parameter_is_exactly_zero(model_screen):
    """With every run on the same seed, a setting the simulated rule never reads changes
    nothing at all; theatre sessions change the number of operations."""
    code, out, *_ = model_screen
    assert code == 0
    table = pd.read_csv(out / "sensitivity.csv").set_index("parameter")
    assert table.loc[NULL, "mu_star"] == 0.0
    assert table.loc[NULL, "sigma"] == 0.0
    assert table.loc[STRONG, "mu_star"] > 0
    assert table.loc[STRONG, "mu"] > 0  # more sessions, more operations
    assert table.loc[STRONG, "rank"] == 1 and table.loc[NULL, "rank"] == 2
